"""The Spider critic experiment: train the encoder critic on half of the Spider dev databases, select on the other.

The 19 executable Spider dev databases, sorted by name, are split into *train* (even positions) and *test* (odd
positions). Critic data come from the training pools (eval/critic/train_pools.txt) on the train databases;
the critic trains with configs/train/critic_encoder_checks.yaml (a head over the options' agreement and answer checks;
``--config configs/train/critic_encoder.yaml`` trains the one that also reads the text); each evaluation pool
(eval/critic/eval_pools.txt) is then selected on the test databases with vote, first-valid and the trained
critic. A pool's priority (vote's tie-break, first-valid's order, the critic's priority flag) is its files'
accuracy on the *train* databases, the best first, as a user ranks the generators they have measured.
Every step is an ``mscsql`` command (printed as it runs); the figures go to
``eval/results/critic_spider_split.json`` and a markdown table is printed.

    python eval/critic/spider_split.py --data ../shared/data --work runs/critic-split [--skip-train]
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger("spider_split")
HERE = Path(__file__).resolve().parent


def mscsql(*args: str) -> None:
    command = [sys.executable, "-m", "mscsql", *args]
    log.info("$ mscsql %s", " ".join(shlex.quote(a) for a in args))
    subprocess.run(command, check=True)


def read_pools(path: Path) -> list[list[str]]:
    lines = [line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line.split(",") for line in lines if line]


def rank_pool(given: list[str], spider: str, folder: Path) -> list[str]:
    """The files of a pool, the most accurate on the *train* databases first (measured with ``mscsql select``)."""
    mscsql("select", "--benchmark", "spider-dev", "--data-dir", spider, "--dbs", "even", "--allow-missing-db",
           "-s", "vote", "--output", str(folder), *[x for f in given for x in ("-c", f)])
    measured = json.loads((folder / "summary.json").read_text(encoding="utf-8"))["files"]
    return sorted(given, key=lambda f: -measured[Path(f).name])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="the folder with spider/")
    parser.add_argument("--work", type=Path, default=Path("runs/critic-split"))
    parser.add_argument("--config", default="configs/train/critic_encoder_checks.yaml")
    parser.add_argument("--set", action="append", default=[], help="training config overrides")
    parser.add_argument("--skip-train", action="store_true", help="reuse the data and critic in --work")
    parser.add_argument("--output", type=Path, default=Path("eval/results/critic_spider_split.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    spider = str(args.data / "spider")
    data, trained = args.work / "data", args.work / "train"
    started = time.monotonic()
    if not args.skip_train:
        mscsql("train", "data", "critic", "--benchmark", "spider-dev", "--data-dir", spider, "--dbs", "even",
               "--allow-missing-db", "--pools-file", str(HERE / "train_pools.txt"), "--order-by-accuracy",
               "--output", str(data))
        overrides = [f"dataset={data}", f"output_dir={trained}", *args.set]
        mscsql("train", "--config", args.config, *[x for o in overrides for x in ("--set", o)])
    train_seconds = round(time.monotonic() - started, 1)
    results = []
    for number, given in enumerate(read_pools(HERE / "eval_pools.txt"), start=1):
        pool = rank_pool(given, spider, args.work / f"rank-{number}")
        out = args.work / f"select-{number}"
        mscsql("select", "--benchmark", "spider-dev", "--data-dir", spider, "--dbs", "odd", "--allow-missing-db",
               "-s", "vote", "-s", "first-valid", "-s", "encoder", "--encoder", str(trained / "critic"),
               "--output", str(out), *[x for f in pool for x in ("-c", f)])
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        results.append({"pool": [Path(f).name for f in pool], **summary})
    card = json.loads((data / "card.json").read_text(encoding="utf-8"))
    training = json.loads((trained / "train_summary.json").read_text(encoding="utf-8"))
    record = {"train_databases": card["databases"], "train_questions": card["questions"],
              "train_seconds": train_seconds if not args.skip_train else training.get("seconds"),
              "training_result": training["result"], "config": training["config"], "pools": results}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print("| pool | questions | best single | vote | first-valid | encoder | oracle |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        s = r["selectors"]
        names = ", ".join(p.replace("NL2SQL360__", "").removesuffix(".sql") for p in r["pool"])
        print(f"| {names} | {r['questions']} | {100 * r['best_single']['accuracy']:.2f} | {100 * s['vote']:.2f} | "
              f"{100 * s['first-valid']:.2f} | **{100 * s['encoder']:.2f}** | {100 * r['oracle']:.2f} |")


if __name__ == "__main__":
    main()
