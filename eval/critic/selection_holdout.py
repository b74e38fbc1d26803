"""Every CPU selector against the vote on held-out pools: systems and databases never seen in tuning.

The published Spider dev prediction files are sorted into families (one base model or system and its
variants, as eval/confidence/fit_confidence.py sorts them). Pools to *tune* on draw only on some families
(codellama, starcoder, llama2, resdsql, c3, din-sql, codex); pools to *measure* on draw only on the others
(deepseek-coder, llama3, codes, graphix), so no system of a measured pool was seen in tuning. The 19
executable databases, sorted by name, are split too: critics learn on the even positions, every measured pool
is selected on the odd ones.

Steps (each an ``mscsql`` command, printed as it runs):

1. the pools: ``eval/critic/holdout_tune_pools.txt`` (60 triples) and ``eval/critic/holdout_measure_pools.txt``
   (6 pools each of 3 and 4 files), written once from a fixed seed;
2. critic data from the tuning pools on the even databases (every question trains, no eval split); the checks
   critic (configs/train/critic_encoder_checks.yaml), the graded critic (configs/train/critic_encoder_graded.yaml)
   and the intent critic (configs/train/critic_encoder_intent.yaml, its penalty chosen on these data alone by
   eval/critic/head_penalty_cv.py) trained on them;
3. each measured pool's files ranked by their accuracy on the even databases (the priority a user gives the
   generators they have measured), then ``mscsql select`` on the odd databases with vote, mbr, first-valid and
   the critics; each selector's difference from the vote comes with ``mscsql select``'s paired bootstrap
   interval and exact McNemar test.

Figures go to ``eval/results/selection_holdout.json`` and a markdown table is printed.

    python eval/critic/selection_holdout.py --data ../shared/data --work runs/selection-holdout
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "confidence")]
from fit_confidence import (  # noqa: E402  (the families of the confidence experiment)
    FAMILIES,
    MEASURE_PER_SIZE,
    MEASURE_SIZES,
    MEASURED,
    make_pools,
    require_distinct_systems,
)
from spider_split import mscsql, rank_pool, read_pools  # noqa: E402  (the recorded split's own steps)

log = logging.getLogger("selection_holdout")
TUNE_POOLS = HERE / "holdout_tune_pools.txt"
MEASURE_POOLS = HERE / "holdout_measure_pools.txt"
CRITICS = {"checks": "configs/train/critic_encoder_checks.yaml", "graded": "configs/train/critic_encoder_graded.yaml",
           "intent": "configs/train/critic_encoder_intent.yaml"}
RULES = ("vote", "mbr", "first-valid")


def write_pools(path: Path, pools: list[list[str]], what: str, folder: Path | None = None) -> None:
    """One pool per line, its files joined by commas (bare names, or paths in ``folder``)."""
    lines = [f"# {what} (written by eval/critic/selection_holdout.py)"]
    lines += [",".join(str(folder / name) if folder else name for name in pool) for pool in pools]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def select(pool: list[str], spider: str, folder: Path, selectors: list[str], encoder: str | None = None
           ) -> dict[str, object]:
    """``mscsql select`` of ``pool`` on the odd databases (a finished selection in ``folder`` is reused when it
    was made with the same files and selectors, so a stopped run continues)."""
    done = folder / "summary.json"
    if done.is_file():
        summary = json.loads(done.read_text(encoding="utf-8"))
        same_files = list(summary.get("files", {})) == [Path(f).name for f in pool]
        if same_files and set(selectors) <= set(summary["selectors"]):
            log.info("reusing %s", folder)
            return summary
    extra = ["--encoder", encoder] if encoder else []
    mscsql("select", "--benchmark", "spider-dev", "--data-dir", spider, "--dbs", "odd", "--allow-missing-db",
           *[x for s in selectors for x in ("-s", s)], *extra, "--output", str(folder),
           *[x for f in pool for x in ("-c", f)])
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))


def against_vote(summary: dict[str, object], name: str) -> dict[str, object]:
    found = summary["against_vote"][name]["overall"]  # type: ignore[index]
    return {k: found[k] for k in ("difference", "interval_95", "mcnemar_p", "only_a", "only_b")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("runs/selection-holdout"))
    parser.add_argument("--output", type=Path, default=Path("eval/results/selection_holdout.json"))
    parser.add_argument("--skip-train", action="store_true", help="reuse the critics in --work")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tune-pools", type=Path, default=TUNE_POOLS,
                        help="the pools to tune on (written when missing, from --tune-sizes)")
    parser.add_argument("--tune-sizes", default="3", help="sizes of the tuning pools, e.g. 3,4,5 (60 pools in all)")
    parser.add_argument("--table", action="store_true", help="print the table of the recorded --output and stop")
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(args.output.read_text(encoding="utf-8"))))
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.monotonic()
    spider = str(args.data / "spider")
    predictions = args.data / "predictions" / "spider_dev"
    names = sorted(p.name for p in predictions.glob("*.sql"))
    tune = tuple(f for f in FAMILIES if f not in MEASURED)
    if not (TUNE_POOLS.is_file() and MEASURE_POOLS.is_file()):
        rng = random.Random(args.seed)
        write_pools(TUNE_POOLS, make_pools(names, tune, (3,), 60, rng), f"pools to tune on: families {', '.join(tune)}")
        write_pools(MEASURE_POOLS, make_pools(names, MEASURED, MEASURE_SIZES, MEASURE_PER_SIZE, rng),
                    f"pools to measure on: families {', '.join(MEASURED)}")
    if not args.tune_pools.is_file():
        sizes = tuple(int(n) for n in args.tune_sizes.split(","))
        write_pools(args.tune_pools, make_pools(names, tune, sizes, 60 // len(sizes), random.Random(args.seed)),
                    f"pools of {args.tune_sizes} files to tune on: families {', '.join(tune)}")
    require_distinct_systems(read_pools(args.tune_pools) + read_pools(MEASURE_POOLS), predictions)
    data = args.work / "data"
    if not args.skip_train:
        args.work.mkdir(parents=True, exist_ok=True)
        tune_file = args.work / "tune_pools.txt"
        write_pools(tune_file, read_pools(args.tune_pools), "the tuning pools", predictions.resolve())
        mscsql("train", "data", "critic", "--benchmark", "spider-dev", "--data-dir", spider, "--dbs", "even",
               "--allow-missing-db", "--pools-file", str(tune_file), "--order-by-accuracy", "--eval-fraction", "0",
               "--output", str(data))
        for name, config in CRITICS.items():
            mscsql("train", "--config", config, "--set", f"dataset={data}",
                   "--set", f"output_dir={args.work / 'train' / name}")
    results = []
    for number, names in enumerate(read_pools(MEASURE_POOLS), start=1):
        pool = rank_pool([str(predictions / name) for name in names], spider, args.work / f"rank-{number}")
        # the rules run beside the first critic; each other critic in a folder of its own, beside the vote
        runs = {name: select(pool, spider, args.work / (f"select-{number}" + (f"-{name}" if k else "")),
                             ["vote", "encoder"] if k else [*RULES, "encoder"],
                             str(args.work / "train" / name / "critic")) for k, name in enumerate(CRITICS)}
        first = runs["checks"]
        accuracy = {**{name: first["selectors"][name] for name in RULES},
                    **{name: run["selectors"]["encoder"] for name, run in runs.items()}}
        tests = {**{name: against_vote(first, name) for name in RULES if name != "vote"},
                 **{name: against_vote(run, "encoder") for name, run in runs.items()}}
        results.append({"pool": [Path(f).name for f in pool], "questions": first["questions"],
                        "best_single": first["best_single"]["accuracy"], "oracle": first["oracle"],
                        "accuracy": accuracy, "against_vote": tests})
    compared = [name for name in RULES if name != "vote"] + list(CRITICS)
    gains = {n: [100 * (r["accuracy"][n] - r["accuracy"]["vote"]) for r in results] for n in compared}
    overall = {n: {"mean_gain": round(sum(g) / len(g), 3), "min_gain": round(min(g), 3),
                   "pools_at_least_vote": sum(x >= 0 for x in g), "pools": len(g)} for n, g in gains.items()}
    command = "python eval/critic/selection_holdout.py --data ../shared/data --work " + str(args.work)
    if args.tune_pools != TUNE_POOLS:
        command += f" --tune-pools {args.tune_pools} --tune-sizes {args.tune_sizes}"
    record = {"command": command, "tune_pools": args.tune_pools.name,
              "seconds": round(time.monotonic() - started, 1),
              "tune_families": [f for f in FAMILIES if f not in MEASURED],
              "measure_families": list(MEASURED), "train_databases": "even", "measure_databases": "odd",
              "critic_data_eval_fraction": 0,
              "overall": overall, "pools": results}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(table(record))


def table(record: dict) -> str:
    """The record as a markdown table, one row per measured pool, then each selector's summary."""
    lines = ["| pool (odd databases) | best single | vote | mbr | first-valid | checks critic | graded critic | "
             "intent critic | oracle |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in record["pools"]:
        a = r["accuracy"]
        short = ", ".join(p.replace("NL2SQL360__", "").removesuffix(".sql") for p in r["pool"])
        cells = [f"{100 * r['best_single']:.2f}", *(f"{100 * a[n]:.2f}" for n in
                                                    ("vote", "mbr", "first-valid", "checks", "graded", "intent")),
                 f"{100 * r['oracle']:.2f}"]
        lines.append(f"| {short} | " + " | ".join(cells) + " |")
    lines.append("")
    for n, o in record["overall"].items():
        lines.append(f"- {n}: mean {o['mean_gain']:+.2f} points over the vote, lowest {o['min_gain']:+.2f}, at "
                     f"least the vote on {o['pools_at_least_vote']} of {o['pools']} pools")
    return "\n".join(lines)

if __name__ == "__main__":
    main()
