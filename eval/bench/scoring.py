"""Benchmark: wall time of ``test-suite`` scoring on Spider dev (972 executable questions).

Prints, side by side:
- one prediction file, cold gold cache and warm gold cache (the scoring itself, in this process);
- ten prediction files in one run versus ten separate runs, twice: the scoring work alone (in this
  process), and as a user runs it (``mscsql eval score`` commands, start-up and reports included); no gold
  cache in either, so separate runs cannot reuse each other's gold results;
- optionally the official test-suite evaluator on the same file (``--official-dir`` with a clone of
  taoyds/test-suite-sql-eval and ``--official-python``, an interpreter with its requirements: sqlparse, nltk);
  it runs on a copy of the databases, since it opens them read-write.

    python eval/bench/scoring.py --data-dir ../shared/data [--official-dir DIR --official-python PY]
        [--output eval/results/scoring.json]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchlib import machine, mscsql_env, official_inputs, timed, write_figures

from mscsql.benchmarks.loaders import load_benchmark
from mscsql.benchmarks.predictions import load_prediction_files
from mscsql.evaluation.cache import GoldCache
from mscsql.evaluation.runner import ScoreRun, score
from mscsql.evaluation.scorers import get_scorer

log = logging.getLogger("bench.scoring")

# Runs the official evaluator's own `evaluate` function. Its tokenizer (nltk.word_tokenize) needs the
# "punkt" data, which cannot be downloaded here, so the same Treebank word tokenizer is used per line.
OFFICIAL_DRIVER = """
import sys
sys.path.insert(0, sys.argv[1])
from nltk.tokenize import NLTKWordTokenizer
import process_sql
process_sql.word_tokenize = NLTKWordTokenizer().tokenize
import evaluation
evaluation.evaluate(sys.argv[2], sys.argv[3], sys.argv[4], "exec", None, False, False, False)
"""


def _run(data_dir: Path, names: list[str], out: Path, cache: Path | None, workers: int) -> float:
    spider = data_dir / "spider"
    benchmark = load_benchmark("spider-dev", spider, allow_missing_db=True)
    files = load_prediction_files([data_dir / "predictions" / "spider_dev" / n for n in names], benchmark)
    run = ScoreRun(benchmark=benchmark, files=files, scorer=get_scorer("test-suite"), output=out,
                   cache=GoldCache(cache), workers=workers, timeout_s=60.0, progress=False)
    start = time.perf_counter()
    try:
        score(run)
    finally:
        run.cache.close()
    return time.perf_counter() - start


def _cli(data_dir: Path, names: list[str], out: Path, workers: int) -> float:
    command = [sys.executable, "-m", "mscsql.cli", "eval", "score", "--benchmark", "spider-dev",
               "--data-dir", str(data_dir / "spider"), "--allow-missing-db", "--scorer", "test-suite", "--no-cache",
               "--workers", str(workers), "--timeout", "60", "--output", str(out)]
    for name in names:
        command += ["-p", str(data_dir / "predictions" / "spider_dev" / name)]
    return timed(command, env=mscsql_env())


def _official(data_dir: Path, name: str, official_dir: Path, python: str, work: Path) -> float:
    """Time the official evaluator on the executable questions (it stops on a missing database)."""
    spider = data_dir / "spider"
    official_inputs(data_dir, name, work)
    databases = work / "test_suite_database"
    if not databases.is_dir():
        shutil.copytree(spider / "test_suite_database", databases)
    return timed([python, "-c", OFFICIAL_DRIVER, str(official_dir), str(work / "gold.sql"), str(work / "pred.sql"),
                  str(databases)], cwd=work)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--official-dir", type=Path, help="a clone of taoyds/test-suite-sql-eval")
    parser.add_argument("--official-python", default=sys.executable, help="interpreter with sqlparse and nltk")
    parser.add_argument("--output", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    files = sorted(p.name for p in (args.data_dir / "predictions" / "spider_dev").glob("*.sql"))
    if len(files) < 10:
        log.error("need 10 prediction files under %s/predictions/spider_dev", args.data_dir)
        return 2
    step = len(files) // 10
    ten = files[::step][:10]
    one = ten[0]
    figures: dict[str, object] = {"file": one, "ten_files": ten, "workers": args.workers,
                                  "machine": machine(),
                                  "command": "python eval/bench/scoring.py " + " ".join(sys.argv[1:])}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cache = work / "cache"
        figures["one_file_cold_s"] = round(_run(args.data_dir, [one], work / "cold", cache, args.workers), 2)
        figures["one_file_warm_s"] = round(_run(args.data_dir, [one], work / "warm", cache, args.workers), 2)
        figures["ten_files_one_run_s"] = round(_run(args.data_dir, ten, work / "ten", None, args.workers), 2)
        separate = sum(_run(args.data_dir, [name], work / f"sep{n}", None, args.workers) for n, name in enumerate(ten))
        figures["ten_separate_runs_s"] = round(separate, 2)
        figures["cli_ten_files_one_run_s"] = round(_cli(args.data_dir, ten, work / "cli-ten", args.workers), 2)
        figures["cli_ten_separate_runs_s"] = round(sum(_cli(args.data_dir, [name], work / f"cli{n}", args.workers)
                                                       for n, name in enumerate(ten)), 2)
        if args.official_dir:
            official = work / "official"
            official.mkdir()
            figures["official_one_file_s"] = round(_official(args.data_dir, one, args.official_dir,
                                                             args.official_python, official), 2)
    print(f"test-suite scoring, Spider dev (972 questions), {args.workers} workers")
    print(f"one file, cold gold cache     {figures['one_file_cold_s']:>8.2f} s")
    print(f"one file, warm gold cache     {figures['one_file_warm_s']:>8.2f} s")
    if "official_one_file_s" in figures:
        official_s = float(figures["official_one_file_s"])  # type: ignore[arg-type]
        print(f"official evaluator, one file  {official_s:>8.2f} s   "
              f"(mscsql cold: {official_s / float(figures['one_file_cold_s']):.1f}x faster, "  # type: ignore[arg-type]
              f"warm: {official_s / float(figures['one_file_warm_s']):.1f}x)")  # type: ignore[arg-type]
    ratio = float(figures["ten_separate_runs_s"]) / float(figures["ten_files_one_run_s"])  # type: ignore[arg-type]
    cli_ratio = (float(figures["cli_ten_separate_runs_s"])  # type: ignore[arg-type]
                 / float(figures["cli_ten_files_one_run_s"]))  # type: ignore[arg-type]
    figures["ten_files_ratio"] = round(ratio, 2)
    figures["cli_ten_files_ratio"] = round(cli_ratio, 2)
    print(f"ten files, one run            {figures['ten_files_one_run_s']:>8.2f} s   scoring work only")
    print(f"ten files, ten separate runs  {figures['ten_separate_runs_s']:>8.2f} s   ({ratio:.1f}x)")
    print(f"mscsql eval score, ten files  {figures['cli_ten_files_one_run_s']:>8.2f} s   commands as a user runs them")
    print(f"mscsql eval score, ten runs   {figures['cli_ten_separate_runs_s']:>8.2f} s   ({cli_ratio:.1f}x)")
    write_figures(args.output, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
