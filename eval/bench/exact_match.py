"""Benchmark: wall time of the ``exact-match`` scorer against the official Spider evaluator (``--etype match``).

On Spider dev's 972 executable questions, side by side, as a user runs them (start-up included, with the modules'
bytecode written first as an installation has it; one-file runs of the two tools interleaved):
- ``mscsql eval score --scorer exact-match --no-chart`` on one prediction file and on ten in one run;
- the official ``evaluation.py``'s ``evaluate(..., "match")`` on the same file, and ten times for the ten files
  (a clone of taoyds/test-suite-sql-eval in ``--official-dir``, run by ``--official-python``: an interpreter
  with nltk and sqlparse; nltk's Treebank tokenizer stands for ``word_tokenize``, whose punkt data cannot be
  downloaded here). The files have no empty line, which the official tool reads as a new session.

    python eval/bench/exact_match.py --data-dir ../shared/data --official-dir DIR --official-python PY \\
        [--repeats 3] [--output eval/results/exact_match_timing.json]

Each timing is the median of ``--repeats`` runs; the "empty cache" runs (each with a new cache folder, which a first
run fills with Spider's hardness levels) are timed in the same rounds.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchlib import compile_bytecode, machine, mscsql_env, official_inputs, timed, write_figures

import mscsql

FILES = ["C3SQL__predicted_sql.sql", "DAIL-SQL__graphix_result.sql", "Few-shot-NL2SQL-with-prompting__DIN-SQL.sql",
         "NL2SQL360__C3_SQL.sql", "NL2SQL360__CodeLlama-7B-7000.sql", "NL2SQL360__DINSQL.sql",
         "NL2SQL360__Deepseek-Coder-7B-7000.sql", "NL2SQL360__CodeLlama-7B-1000.sql",
         "Few-shot-NL2SQL-with-prompting__CodeX_few-shot.sql", "NL2SQL360__Deepseek-Coder-7B-1000.sql"]

OFFICIAL_DRIVER = """
import sys
sys.path.insert(0, sys.argv[1])
from nltk.tokenize import NLTKWordTokenizer
import process_sql
process_sql.word_tokenize = NLTKWordTokenizer().tokenize
import evaluation
kmaps = evaluation.build_foreign_key_map_from_json(sys.argv[5])
evaluation.evaluate(sys.argv[2], sys.argv[3], sys.argv[4], "match", kmaps, False, False, False)
"""


def ours(data_dir: Path, names: list[str], out: Path, cache: str = "cache") -> float:
    """One ``mscsql eval score`` run, its cache folder ``cache`` in the scratch folder (the first run fills it:
    Spider's hardness levels)."""
    files = [str(data_dir / "predictions" / "spider_dev" / n) for n in names]
    command = [sys.executable, "-m", "mscsql", "eval", "score", "--benchmark", "spider-dev", "--data-dir",
               str(data_dir / "spider"), "--allow-missing-db", "--scorer", "exact-match", "--no-chart",
               "--output", str(out), "--predictions", *files]
    return timed(command, env=mscsql_env(out.parent / cache))


def official(data_dir: Path, name: str, folder: Path, python: str, work: Path) -> float:
    spider = data_dir / "spider"
    official_inputs(data_dir, name, work)
    databases = work / "database"  # a copy: the official tool opens the databases read-write
    if not databases.is_dir():
        shutil.copytree(spider / "database", databases)
    return timed([python, "-c", OFFICIAL_DRIVER, str(folder), str(work / "gold.sql"), str(work / "pred.sql"),
                  str(databases), str(spider / "tables.json")], cwd=work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data")
    parser.add_argument("--official-dir", type=Path, help="a clone of taoyds/test-suite-sql-eval")
    parser.add_argument("--official-python", default=sys.executable)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each timing; the median is reported")
    args = parser.parse_args()
    args.data_dir = args.data_dir.resolve()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)

        def median(measure: Callable[[int], float]) -> float:
            return statistics.median(measure(k) for k in range(args.repeats))

        compile_bytecode(Path(mscsql.__file__).parent, *([args.official_dir] if args.official_dir else []))
        ours(args.data_dir, FILES[:1], work / "first")  # fills the cache the timed runs read
        mine, empty, theirs = [], [], []
        for k in range(args.repeats):  # interleaved, so both tools see the machine in the same state
            empty.append(ours(args.data_dir, FILES[:1], work / f"empty-{k}", cache=f"cache-{k}"))
            mine.append(ours(args.data_dir, FILES[:1], work / f"one-{k}"))
            if args.official_dir:
                theirs.append(official(args.data_dir, FILES[0], args.official_dir, args.official_python, work))
        figures["exact-match, one file (s)"] = statistics.median(mine)
        figures["exact-match, one file, empty cache (s)"] = statistics.median(empty)
        figures["exact-match, ten files in one run (s)"] = median(lambda k: ours(args.data_dir, FILES,
                                                                                 work / f"ten-{k}"))
        if args.official_dir:
            figures["official, one file (s)"] = statistics.median(theirs)
            figures["official, ten runs (s)"] = median(lambda k: sum(
                official(args.data_dir, n, args.official_dir, args.official_python, work) for n in FILES))
            figures["speed-up, one file"] = figures["official, one file (s)"] / figures["exact-match, one file (s)"]
            figures["speed-up, one file, empty cache"] = figures["official, one file (s)"] / \
                figures["exact-match, one file, empty cache (s)"]
            figures["speed-up, ten files"] = figures["official, ten runs (s)"] / \
                figures["exact-match, ten files in one run (s)"]
    for name, value in figures.items():
        print(f"{name:40s} {value:8.2f}")
    if args.output:
        command = "python eval/bench/exact_match.py --data-dir ../shared/data --official-dir DIR --official-python PY"
        write_figures(args.output, {"figures": {k: round(v, 3) for k, v in figures.items()}, "machine": machine(),
                                    "files": FILES, "repeats": args.repeats, "statistic": "median",
                                    "command": command})


if __name__ == "__main__":
    main()
