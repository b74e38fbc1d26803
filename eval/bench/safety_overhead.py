"""Benchmark: what the execution safety layers cost, this tree against a baseline commit, side by side.

The layers added to every statement (pinned and checked session settings, a session reset, a row fetcher that
counts bytes and reads the clock, the function allowlist) cost round trips and Python work. This script runs
the same workloads with this tree's ``mscsql`` and with a baseline commit's (checked out with ``git worktree``
into a temporary folder), alternating rounds, and prints the median seconds of each and their ratio:

- ``sqlite-spider``: ``execute_many`` over the Spider dev gold queries and prediction files (2 workers);
- ``sqlite-rows``: one statement returning 200,000 rows of three columns, fetched and converted;
- ``postgresql-small`` / ``mysql-small``: 1,000 small statements one after another on a throwaway database
  (skipped when the server is not reachable).

    python eval/bench/safety_overhead.py --data-dir ../shared/data --baseline 8d25a28 \\
        [--repeat 5] [--output eval/results/safety_overhead.json]
"""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
import uuid
from pathlib import Path

from benchlib import against_baseline_arguments, baseline_tree, machine, run_in_tree, write_figures

log = logging.getLogger("bench.safety_overhead")
REPO = Path(__file__).resolve().parents[2]

WORKLOAD = r'''
import json, sys, time
from pathlib import Path
import mscsql
from mscsql.db import connect, execute_many
name, data_dir, url = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
if name == "sqlite-spider":
    spider = data_dir / "spider"
    questions = json.loads((spider / "dev.json").read_text(encoding="utf-8"))
    gold = [l.split("\t")[0] for l in (spider / "dev_gold.sql").read_text(encoding="utf-8").splitlines() if l.strip()]
    files = sorted((data_dir / "predictions" / "spider_dev").glob("*.sql"))[:4]
    columns = [gold] + [f.read_text(encoding="utf-8", errors="replace").split("\n") for f in files]
    pairs = []
    for i, q in enumerate(questions):
        path = spider / "database" / q["db_id"] / f"{q['db_id']}.sqlite"
        if path.is_file():
            pairs += [(str(path), c[i]) for c in columns if i < len(c) and c[i].strip()]
    started = time.perf_counter()
    results = execute_many(pairs, workers=2, timeout_s=10)
    elapsed = time.perf_counter() - started
    digest = sum(len(r.rows) for r in results)
elif name == "sqlite-rows":
    sql = ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 200000) "
           "SELECT n, n * 0.5, 'row ' || n FROM r")
    with connect(url) as db:
        started = time.perf_counter()
        result = db.execute(sql, timeout_s=60, max_rows=1_000_000)
        elapsed = time.perf_counter() - started
    digest = len(result.rows)
else:
    with connect(url) as db:
        db.execute("SELECT 1")
        started = time.perf_counter()
        results = [db.execute(f"SELECT id, name FROM items WHERE id = {k % 5}") for k in range(1000)]
        elapsed = time.perf_counter() - started
    digest = sum(len(r.rows) for r in results)
print(json.dumps({"seconds": elapsed, "digest": digest, "module": mscsql.__file__}))
'''


def _run(tree: Path, name: str, data_dir: Path, url: str) -> dict:
    done = run_in_tree(tree, WORKLOAD, name, str(data_dir), url)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed in {tree}: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _server_database(dialect: str) -> tuple[str, object] | None:
    """A throwaway database with a small ``items`` table, and a function that drops it."""
    name = f"mscsql_bench_{uuid.uuid4().hex[:8]}"
    try:
        if dialect == "postgresql":
            import psycopg

            admin = psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True)
            admin.execute(f'CREATE DATABASE "{name}"')
            with psycopg.connect(host="127.0.0.1", user="postgres", dbname=name, autocommit=True) as conn:
                conn.execute("CREATE TABLE items (id integer PRIMARY KEY, name text)")
                conn.execute("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(0, 4) AS g")
            url = f"postgresql://postgres@127.0.0.1/{name}"

            def drop() -> None:
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                admin.close()
        else:
            import pymysql

            admin = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)
            with admin.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{name}`")
                cur.execute(f"CREATE TABLE `{name}`.items (id INTEGER PRIMARY KEY, name TEXT)")
                cur.execute(f"INSERT INTO `{name}`.items VALUES (0, 'item 0'), (1, 'item 1'), (2, 'item 2'), "
                            "(3, 'item 3'), (4, 'item 4')")
            url = f"mysql://root@127.0.0.1/{name}"

            def drop() -> None:
                with admin.cursor() as cur:
                    cur.execute(f"DROP DATABASE `{name}`")
                admin.close()
    except Exception as err:  # no server here: the workload is skipped
        log.warning("%s not reachable, skipped: %s", dialect, err)
        return None
    return url, drop


def main() -> None:
    args = against_baseline_arguments(__doc__, baseline="8d25a28", repeat=5)

    with tempfile.TemporaryDirectory() as scratch, baseline_tree(REPO, args.baseline) as baseline:
        sqlite_file = Path(scratch) / "rows.sqlite"
        import sqlite3

        sqlite3.connect(sqlite_file).execute("CREATE TABLE t (x INTEGER)").connection.close()
        workloads = {"sqlite-spider": "", "sqlite-rows": str(sqlite_file)}
        cleanups = []
        for dialect in ("postgresql", "mysql"):
            server = _server_database(dialect)
            if server is not None:
                workloads[f"{dialect}-small"] = server[0]
                cleanups.append(server[1])
        figures: dict = {"machine": machine(), "baseline": args.baseline, "repeat": args.repeat, "workloads": {}}
        try:
            for name, url in workloads.items():
                times: dict[str, list[float]] = {"baseline": [], "current": []}
                digests = set()
                for _ in range(args.repeat):
                    for side, tree in (("baseline", baseline), ("current", REPO)):
                        run = _run(tree, name, args.data_dir, url)
                        assert Path(run["module"]).resolve().is_relative_to(tree.resolve()), run["module"]
                        times[side].append(run["seconds"])
                        digests.add(run["digest"])
                medians = {side: statistics.median(values) for side, values in times.items()}
                ratio = medians["current"] / medians["baseline"]
                figures["workloads"][name] = {"median_s": medians, "ratio": round(ratio, 3),
                                              "same_rows": len(digests) == 1}
                print(f"{name:18s} baseline {medians['baseline']:8.3f}s   current {medians['current']:8.3f}s   "
                      f"ratio {ratio:5.2f}   same rows: {len(digests) == 1}")
        finally:
            for drop in cleanups:
                drop()
    write_figures(args.output, figures)


if __name__ == "__main__":
    main()
