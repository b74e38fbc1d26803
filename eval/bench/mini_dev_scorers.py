"""Benchmark: wall time of the ``soft-f1`` and ``r-ves`` scorers against BIRD mini-dev's official evaluators.

Spider dev (972 executable questions) is laid out as BIRD lays out a benchmark (dev_databases/, a gold file, a
difficulty file, predictions as BIRD's JSON), and one prediction file is scored, side by side:
- ``mscsql eval score --scorer soft-f1`` against the official ``evaluation_f1.py`` (``--num-cpus`` processes; the median
  of ``--repeats`` runs each, the two tools' runs interleaved), both as a user runs them (start-up included, with
  the modules' bytecode written first as an installation has it; ``--no-chart``: the official tools draw no chart;
  mscsql with its cache folder, which a first run fills with the gold queries' results: the official tool runs
  every gold query every time; "empty cache" runs, each with a new cache folder, are timed in the same rounds);
- ``mscsql eval score --scorer r-ves --repeats 100`` (the official number of rounds) against the official
  ``evaluation_ves.py`` (the median of ``--ves-repeats`` runs each, interleaved);
- ``soft-f1`` on ten files in one run against ten official runs.
The official scripts come from a clone of bird-bench/mini_dev (``--official-dir``, its ``evaluation/`` folder) and
run with ``--official-python`` (an interpreter with func_timeout, numpy, psycopg2 and pymysql installed, which
their imports need). Without ``--official-dir`` only mscsql's times are measured.

    python eval/bench/mini_dev_scorers.py --data-dir ../shared/data \\
        [--official-dir DIR --official-python PY] [--output eval/results/mini_dev_scorers.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from benchlib import compile_bytecode, machine, mscsql_env, timed, write_figures

import mscsql

FILES = ["C3SQL__predicted_sql.sql", "DAIL-SQL__graphix_result.sql", "NL2SQL360__CodeLlama-7B-6000.sql",
         "NL2SQL360__Llama2-7B-1000.sql", "NL2SQL360__SFT_CodeS_1B.sql", "NL2SQL360__Llama3-8B-7000.sql",
         "NL2SQL360__resdsql_text2sql_3B_4000_train_samples.sql", "NL2SQL360__StarCoder-7B-7000.sql",
         "Few-shot-NL2SQL-with-prompting__DIN-SQL.sql", "NL2SQL360__Deepseek-Coder-7B-7000.sql"]
LEVELS = {"easy": "simple", "medium": "moderate", "hard": "challenging", "extra": "challenging"}


def layout(data_dir: Path, root: Path) -> list[Path]:
    """Spider dev's executable questions in BIRD's layout under ``root``; returns the prediction JSON files."""
    spider = data_dir / "spider"
    dev = json.loads((spider / "dev.json").read_text())
    present = [(i, e) for i, e in enumerate(dev)
               if (spider / "database" / e["db_id"] / f"{e['db_id']}.sqlite").is_file()]
    (root / "dev_databases").mkdir(parents=True)
    for _i, e in present:
        target = root / "dev_databases" / e["db_id"]
        if not target.exists():
            target.mkdir()
            # a copy, never a link: the official tools run the predictions unguarded, and a prediction file
            # may hold DDL that would otherwise land in the shared databases
            shutil.copyfile(spider / "database" / e["db_id"] / f"{e['db_id']}.sqlite",
                            target / f"{e['db_id']}.sqlite")
    from mscsql.benchmarks.hardness import spider_hardness

    levels = [LEVELS[spider_hardness(e["query"])] for _i, e in present]
    bird = [{"question_id": n, "db_id": e["db_id"], "question": e["question"], "evidence": "", "SQL": e["query"],
             "difficulty": level} for n, ((_i, e), level) in enumerate(zip(present, levels, strict=True))]
    (root / "dev.json").write_text(json.dumps(bird))
    (root / "gold.sql").write_text("".join(f"{e['query']}\t{e['db_id']}\n" for _i, e in present))
    (root / "diff.jsonl").write_text("".join(json.dumps({"difficulty": b["difficulty"]}) + "\n" for b in bird))
    paths = []
    for name in FILES:
        lines = (data_dir / "predictions" / "spider_dev" / name).read_text(encoding="utf-8").split("\n")
        data = {str(n): f"{lines[i] if i < len(lines) else ''}\t----- bird -----\t{e['db_id']}"
                for n, (i, e) in enumerate(present)}
        paths.append(root / name.replace(".sql", ".json"))
        paths[-1].write_text(json.dumps(data))
    return paths


def ours(root: Path, files: list[Path], scorer: str, out: Path, workers: int, *extra: str,
         cache: str = "cache") -> float:
    """One ``mscsql eval score`` run as a user runs it, its cache folder ``cache`` in the scratch folder (the first
    run fills it with the gold queries' results and hardness levels; later runs read them)."""
    return timed([sys.executable, "-m", "mscsql", "eval", "score", "--benchmark", "bird-dev", "--data-dir", str(root),
                  "--scorer", scorer, "--workers", str(workers), "--no-chart", "--output", str(out), *extra,
                  "--predictions", *map(str, files)],
                 env=mscsql_env(root / cache))


def official(python: str, folder: Path, script: str, root: Path, prediction: Path, cpus: int) -> float:
    return timed([python, script, "--predicted_sql_path", str(prediction), "--ground_truth_path",
                  str(root / "gold.sql"), "--db_root_path", str(root / "dev_databases") + "/", "--num_cpus", str(cpus),
                  "--diff_json_path", str(root / "diff.jsonl"), "--sql_dialect", "SQLite",
                  "--output_log_path", os.devnull], cwd=folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--official-dir", type=Path, help="a clone of bird-bench/mini_dev")
    parser.add_argument("--official-python", default=sys.executable)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--repeats", type=int, default=5, help="runs of each one-file soft-f1 timing (the median)")
    parser.add_argument("--ves-repeats", type=int, default=3, help="runs of each r-ves timing (the median)")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "bird"
        files = layout(args.data_dir, root)
        folder = args.official_dir / "evaluation" if args.official_dir else None
        compile_bytecode(Path(mscsql.__file__).parent, *([folder] if folder else []))
        ours(root, files[:1], "soft-f1", root / "o0", args.workers)  # fills the cache the timed runs read
        mine, empty, theirs = [], [], []
        for k in range(args.repeats):  # interleaved, so both tools see the machine in the same state
            empty.append(ours(root, files[:1], "soft-f1", root / f"o0-{k}", args.workers, cache=f"cache-{k}"))
            mine.append(ours(root, files[:1], "soft-f1", root / f"o1-{k}", args.workers))
            if folder:
                theirs.append(official(args.official_python, folder, "evaluation_f1.py", root, files[0],
                                       args.workers))
        figures["soft-f1, one file (s)"] = statistics.median(mine)
        figures["soft-f1, one file, empty cache (s)"] = statistics.median(empty)
        figures["soft-f1, ten files in one run (s)"] = ours(root, files, "soft-f1", root / "o10", args.workers)
        mine_ves, theirs_ves = [], []
        for k in range(args.ves_repeats):
            mine_ves.append(ours(root, files[:1], "r-ves", root / f"o2-{k}", args.workers, "--repeats", "100"))
            if folder:
                theirs_ves.append(official(args.official_python, folder, "evaluation_ves.py", root, files[0],
                                           args.workers))
        figures["r-ves, one file, 100 rounds (s)"] = statistics.median(mine_ves)
        if folder:
            figures["official soft-f1, one file (s)"] = statistics.median(theirs)
            figures["official soft-f1, ten runs (s)"] = sum(
                official(args.official_python, folder, "evaluation_f1.py", root, f, args.workers) for f in files)
            figures["official r-ves, one file, 100 rounds (s)"] = statistics.median(theirs_ves)
            figures["soft-f1 speed-up, one file"] = figures["official soft-f1, one file (s)"] / \
                figures["soft-f1, one file (s)"]
            figures["soft-f1 speed-up, one file, empty cache"] = figures["official soft-f1, one file (s)"] / \
                figures["soft-f1, one file, empty cache (s)"]
            figures["soft-f1 speed-up, ten files"] = figures["official soft-f1, ten runs (s)"] / \
                figures["soft-f1, ten files in one run (s)"]
            figures["r-ves speed-up"] = figures["official r-ves, one file, 100 rounds (s)"] / \
                figures["r-ves, one file, 100 rounds (s)"]
    for name, value in figures.items():
        print(f"{name:45s} {value:8.2f}")
    if args.output:
        write_figures(args.output, {"figures": {k: round(v, 3) for k, v in figures.items()}, "machine": machine(),
                                    "workers": args.workers, "files": FILES,
                                    "repeats": args.repeats, "ves_repeats": args.ves_repeats,
                                    "statistic": "median (one-file soft-f1 and r-ves timings)",
                                    "command": "python eval/bench/mini_dev_scorers.py --data-dir ../shared/data "
                                               "--official-dir DIR --official-python PY"})


if __name__ == "__main__":
    main()
