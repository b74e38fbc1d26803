"""Benchmark: executing candidate SQL on the Spider dev databases, naive loop vs ``execute_many``.

Candidates are the gold SQL plus prediction files from ``shared/data/predictions/spider_dev`` (one SQL per
line, aligned with ``dev.json``). Questions whose database file is missing are skipped.

- naive: a sequential loop that opens the database with ``sqlite3``, runs the statement and fetches every
  row, one candidate at a time (with the same in-engine timeout, so a runaway query cannot hang it);
- mscsql: ``mscsql.db.execute_many`` (guard, read-only connections reused per thread, deduplication of
  identical normalised statements, a worker pool).

It prints candidates/second for both and their ratio, and checks that both give identical results.

    python eval/bench/execution.py --data-dir ../shared/data --files 10 [--output eval/results/execution.json]

Each side runs ``--repeat`` times, alternating; the medians are compared. The guard's cache is cleared
before every mscsql round, so parsing is always measured cold.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import statistics
import sys
import time
from pathlib import Path

from benchlib import machine, write_figures

from mscsql.db import connect, execute_many
from mscsql.db.guard import check_sql
from mscsql.db.values import to_row
from mscsql.types import ExecutionStatus

log = logging.getLogger("bench.execution")


def load_candidates(data_dir: Path, n_files: int) -> tuple[list[tuple[Path, str]], list[str]]:
    spider = data_dir / "spider"
    questions = json.loads((spider / "dev.json").read_text(encoding="utf-8"))
    gold = [line.split("\t")[0] for line in (spider / "dev_gold.sql").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    files = sorted((data_dir / "predictions" / "spider_dev").glob("*.sql"))[:n_files]
    columns = [gold] + [f.read_text(encoding="utf-8", errors="replace").split("\n")[: len(questions)] for f in files]
    pairs = []
    for index, question in enumerate(questions):
        path = spider / "database" / question["db_id"] / f"{question['db_id']}.sqlite"
        if not path.is_file():
            continue
        for column in columns:
            sql = column[index].strip() if index < len(column) else ""
            if sql:
                pairs.append((path, sql))
    return pairs, ["gold", *[f.name for f in files]]


def naive(pairs: list[tuple[Path, str]], timeout_s: float) -> list[tuple[str, tuple]]:
    out = []
    for path, sql in pairs:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        deadline = time.perf_counter() + timeout_s
        conn.set_progress_handler(lambda d=deadline: time.perf_counter() > d, 10_000)
        try:
            rows = conn.execute(sql).fetchall()
            out.append(("ok", tuple(to_row(r) for r in rows)))
        except (sqlite3.Error, sqlite3.Warning, ValueError):
            out.append(("failed", ()))
        finally:
            conn.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data")
    parser.add_argument("--files", type=int, default=10, help="prediction files besides the gold SQL")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median time of each side is reported")
    parser.add_argument("--output", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not (args.data_dir / "spider" / "dev.json").is_file():
        log.error("Spider data not found under %s (use --data-dir)", args.data_dir)
        return 2
    pairs, sources = load_candidates(args.data_dir, args.files)
    log.info("%d candidates from %d sources over %d databases", len(pairs), len(sources),
             len({p for p, _ in pairs}))

    naive_times, mscsql_times = [], []
    for _round in range(args.repeat):  # alternate the two so both see the same machine conditions
        start = time.perf_counter()
        baseline = naive(pairs, args.timeout)
        naive_times.append(time.perf_counter() - start)

        check_sql.cache_clear()  # every round starts cold: the guard parses every statement again
        start = time.perf_counter()
        databases = {p: connect(p) for p in {p for p, _ in pairs}}
        results = execute_many([(databases[p], sql) for p, sql in pairs], workers=args.workers,
                               timeout_s=args.timeout, max_rows=10_000_000)
        for db in databases.values():
            db.close()
        mscsql_times.append(time.perf_counter() - start)
    naive_s, mscsql_s = statistics.median(naive_times), statistics.median(mscsql_times)

    mismatches = 0
    for (status, rows), result in zip(baseline, results, strict=True):
        ours = ("ok", result.rows) if result.status is ExecutionStatus.OK else ("failed", ())
        if ours != (status, rows):
            mismatches += 1
    figures = {
        "command": "python eval/bench/execution.py " + " ".join(sys.argv[1:]),
        "candidates": len(pairs), "sources": sources, "workers": args.workers, "repeat": args.repeat,
        "naive_s": round(naive_s, 3), "execute_many_s": round(mscsql_s, 3),
        "naive_candidates_per_s": round(len(pairs) / naive_s, 1),
        "execute_many_candidates_per_s": round(len(pairs) / mscsql_s, 1),
        "ratio": round(naive_s / mscsql_s, 2), "mismatches": mismatches,
        "rejected_by_guard": sum(r.status is ExecutionStatus.REJECTED for r in results),
        "machine": machine(),
    }
    print(f"candidates           {figures['candidates']}")
    print(f"naive loop           {figures['naive_candidates_per_s']:>10.1f} candidates/s  ({naive_s:.2f} s)")
    print(f"execute_many         {figures['execute_many_candidates_per_s']:>10.1f} candidates/s  ({mscsql_s:.2f} s)")
    print(f"ratio                {figures['ratio']:>10.2f}x")
    print(f"identical results    {'yes' if mismatches == 0 else f'NO ({mismatches} differ)'}")
    write_figures(args.output, figures)
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
