"""Spider dev on PostgreSQL and MySQL: every database copied with ``mscsql db copy``, a published prediction file
scored as written (no transpiling) on the copies and on SQLite, and the questions whose verdict differs, by cause.

1. Each of the 19 Spider dev databases is copied into a new database ``mscsql_spider_<db_id>`` on the local
   PostgreSQL and MariaDB servers (``mscsql db copy``; an existing copy is dropped first), and every table's row
   count is compared with SQLite's.
2. ``mscsql eval score --scorer spider-exec`` scores the prediction file on SQLite and with ``--db-url`` on each
   server (gold queries run as written there too).
3. Every question whose verdict differs is put under a cause, read from the engine's message (or, when both
   ran, from what differs in the results).

    python eval/db_copies/spider_on_servers.py --data-dir ../shared/data \\
        --predictions ../shared/data/predictions/spider_dev/C3SQL__predicted_sql.sql \\
        --output eval/results/spider_on_servers.json

Needs a PostgreSQL server (127.0.0.1:5432, user postgres) and a MariaDB/MySQL server (127.0.0.1:3306, root)
where this user may create databases.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

SERVERS = {"postgresql": "postgresql://postgres@127.0.0.1:5432", "mysql": "mysql://root@127.0.0.1:3306"}

#: (cause, pattern in the engine's message), the first that matches wins
CAUSES = [
    ("the gold query fails there", None),
    ("a column compared with a value of another type (SQLite converts, the server does not)",
     r"operator does not exist|could not convert|invalid input syntax for type|incompatible|cannot be matched"),
    ("a selected column neither grouped nor aggregated (PostgreSQL's strict GROUP BY)",
     r"must appear in the GROUP BY|not in GROUP BY|ONLY_FULL_GROUP_BY"),
    ("a function or operator only SQLite has", r"function .* does not exist|FUNCTION .* does not exist|"
                                                  r"is not an allowlisted|not allowed"),
    ("a double-quoted string (SQLite reads it as text, the server as a name)", r"column \".*\" does not exist"),
    ("a table or column name in another case (MySQL table names are case-sensitive)",
     r"doesn't exist|Unknown column|relation .* does not exist"),
    ("SQL the server's parser does not accept", r"syntax|cannot be parsed|You have an error"),
    ("a timeout", r"timeout|timed out|canceling statement"),
]


def _sh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mscsql", *args], capture_output=True, text=True, check=False)


def _recreate(dialect: str, name: str) -> None:
    if dialect == "postgresql":
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    else:
        import pymysql

        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
                cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        finally:
            conn.close()


def _server_counts(dialect: str, name: str) -> dict[str, int]:
    """Every table's row count in the server database ``name`` (lower-case table names)."""
    import sqlalchemy

    driver = "postgresql+psycopg" if dialect == "postgresql" else "mysql+pymysql"
    engine = sqlalchemy.create_engine(f"{driver}://{SERVERS[dialect].split('://', 1)[1]}/{name}")
    quote = '"' if dialect == "postgresql" else "`"
    try:
        with engine.connect() as conn:
            return {t.lower(): conn.execute(sqlalchemy.text(f"SELECT count(*) FROM {quote}{t}{quote}")).scalar()
                    for t in sqlalchemy.inspect(conn).get_table_names()}
    finally:
        engine.dispose()


def copy_all(spider: Path, dialect: str) -> dict[str, Any]:
    """Every database copied to ``dialect``; the row counts checked against SQLite's."""
    found: dict[str, Any] = {"databases": 0, "tables": 0, "rows": 0, "count_mismatches": [], "notes": []}
    for folder in sorted((spider / "database").iterdir()):
        source = folder / f"{folder.name}.sqlite"
        if not source.is_file():
            continue
        name = f"mscsql_spider_{folder.name}"
        _recreate(dialect, name)
        done = _sh("db", "copy", str(source), f"{SERVERS[dialect]}/{name}")
        if done.returncode != 0:
            raise SystemExit(f"copying {folder.name} failed: {done.stderr}")
        found["notes"] += [f"{folder.name}: {line}" for line in done.stderr.splitlines() if line.strip()]
        conn = sqlite3.connect(source)
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                                             "'sqlite_%'")]
        expected = {t.lower(): conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        conn.close()
        counted = _server_counts(dialect, name)
        found["count_mismatches"] += [f"{folder.name}.{t}: {counted.get(t)} != {n}" for t, n in expected.items()
                                      if counted.get(t) != n]
        found["rows"] += sum(expected.values())
        found["databases"] += 1
        found["tables"] += len(tables)
    return found


def score(spider: Path, predictions: Path, output: Path, db_url: str | None) -> dict[tuple[str, int], dict[str, Any]]:
    shutil.rmtree(output, ignore_errors=True)  # a fresh run: the databases behind the URL were just copied
    args = ["eval", "score", "--benchmark", "spider-dev", "--data-dir", str(spider), "--allow-missing-db",
            "--scorer", "spider-exec", "--no-cache", "--output", str(output), "--predictions", str(predictions)]
    done = _sh(*args, *(["--db-url", db_url] if db_url else []))
    if done.returncode != 0:
        raise SystemExit(f"scoring failed: {done.stderr}")
    rows = [json.loads(line) for line in (output / "results.jsonl").read_text().splitlines()]
    return {(r["db_id"], r["index"]): r for r in rows}


def cause(row: dict[str, Any]) -> str:
    if row["gold_status"] != "ok":
        return f"{CAUSES[0][0]}: {_matched(row.get('gold_error') or '') or 'another error'}"
    found = _matched(row.get("error") or "")
    if found:
        return found
    if row["status"] != "ok":
        return f"another error ({row['status']})"
    return "both ran; the results differ (row order of ties or NULLs, letter case in comparisons, numeric types)"


def _matched(message: str) -> str | None:
    return next((name for name, pattern in CAUSES[1:] if pattern and re.search(pattern, message, re.IGNORECASE)), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("runs/spider-on-servers"))
    parser.add_argument("--output", type=Path, default=Path("eval/results/spider_on_servers.json"))
    args = parser.parse_args()
    spider = args.data_dir / "spider"
    started = time.perf_counter()
    sqlite_rows = score(spider, args.predictions, args.work / "sqlite", None)
    present = {k for k, r in sqlite_rows.items() if r["status"] != "skipped"}
    result: dict[str, Any] = {"predictions": args.predictions.name, "questions": len(present),
                              "sqlite_accuracy": round(sum(sqlite_rows[k]["correct"] for k in present) / len(present),
                                                       4)}
    for dialect, server in SERVERS.items():
        copies = copy_all(spider, dialect)
        rows = score(spider, args.predictions, args.work / dialect, f"{server}/mscsql_spider_{{db_id}}")
        differ = [k for k in sorted(present, key=lambda k: k[1]) if rows[k]["correct"] != sqlite_rows[k]["correct"]]
        causes = Counter(cause(rows[k]) for k in differ)
        result[dialect] = {
            "copies": copies, "accuracy": round(sum(rows[k]["correct"] for k in present) / len(present), 4),
            "differing": len(differ), "right_on_sqlite_only": sum(sqlite_rows[k]["correct"] for k in differ),
            "right_on_server_only": sum(rows[k]["correct"] for k in differ), "causes": dict(causes.most_common()),
            "examples": {c: [{"index": k[1], "db_id": k[0], "error": rows[k].get("error"),
                              "gold_error": rows[k].get("gold_error")}
                             for k in differ if cause(rows[k]) == c][:3] for c in causes}}
        print(f"{dialect}: {copies['databases']} databases, {copies['tables']} tables, {copies['rows']} rows, "
              f"{len(copies['count_mismatches'])} count mismatches; accuracy {result[dialect]['accuracy']} "
              f"(SQLite {result['sqlite_accuracy']}); {len(differ)} verdicts differ")
        for name, count in causes.most_common():
            print(f"  {count:4d}  {name}")
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["command"] = ("python eval/db_copies/spider_on_servers.py --data-dir ../shared/data --predictions "
                         f"../shared/data/predictions/spider_dev/{args.predictions.name} --output {args.output}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
