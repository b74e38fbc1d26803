"""Layer 3: runaway queries are cancelled inside the engine, on time, and leave nothing running."""

from __future__ import annotations

import threading
import time

import pytest

from mscsql.db import connect, execute_many
from mscsql.types import ExecutionStatus
from tests import dbutil

TIMEOUT_S = 1.0
SLACK_S = 0.5

# One endless recursion (SQLite, PostgreSQL) and one that explodes combinatorially (MariaDB and MySQL stop
# plain recursion after 1000 iterations, so a triple self-join of 1000 rows keeps them busy instead).
ENDLESS_CTE = "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r"
EXPLODING_CTE = ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 1000) "
                 "SELECT count(*) FROM r a, r b, r c")
RUNAWAY = {
    "sqlite": [ENDLESS_CTE, EXPLODING_CTE],
    "postgresql": [ENDLESS_CTE, EXPLODING_CTE, "SELECT pg_sleep(30)"],
    "mysql": [EXPLODING_CTE, "SELECT SLEEP(30)"],
}
SESSION_ID = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}


def _dialect(url: str) -> str:
    return "sqlite" if "://" not in url else ("postgresql" if url.startswith("postgresql") else "mysql")


def _engine_busy_with(url: str, marker: str) -> list[tuple]:
    """Queries still running on the server whose text contains ``marker``."""
    dialect = _dialect(url)
    conn = dbutil.admin_connection(dialect)
    try:
        with conn.cursor() as cur:
            if dialect == "postgresql":
                cur.execute("SELECT pid, state, query FROM pg_stat_activity WHERE state = 'active' "
                            "AND query LIKE %s AND pid <> pg_backend_pid()", (f"%{marker}%",))
            else:
                cur.execute("SELECT id, command, info FROM information_schema.processlist "
                            "WHERE info LIKE %s AND id <> CONNECTION_ID()", (f"%{marker}%",))
            return list(cur.fetchall())
    finally:
        conn.close()


def test_runaway_query_is_cancelled_and_connection_reused(any_db_url: str) -> None:
    dialect = _dialect(any_db_url)
    # one pooled connection only, so the follow-up query must run on the same session
    from mscsql.config import ExecutionSettings

    with connect(any_db_url, execution=ExecutionSettings(workers=1)) as db:
        session = db.execute(SESSION_ID[dialect]).rows if dialect in SESSION_ID else None
        for sql in RUNAWAY[dialect]:
            started = time.perf_counter()
            result = db.execute(sql, timeout_s=TIMEOUT_S)
            wall = time.perf_counter() - started
            assert result.status is ExecutionStatus.TIMEOUT, (sql, result)
            assert TIMEOUT_S * 0.9 <= wall <= TIMEOUT_S + SLACK_S, (sql, wall)
            assert "timed out" in (result.error or "")
            follow_up = db.execute("SELECT count(*) FROM items")
            assert follow_up.status is ExecutionStatus.OK and follow_up.rows == ((4,),)
            if session is not None:
                assert db.execute(SESSION_ID[dialect]).rows == session  # same session, not a new connection
            if dialect != "sqlite":
                assert _engine_busy_with(any_db_url, sql[:20]) == []


def test_execute_many_leaves_no_worker_busy(any_db_url: str) -> None:
    dialect = _dialect(any_db_url)
    runaway = RUNAWAY[dialect][-1]
    items = [(any_db_url, runaway), (any_db_url, "SELECT name FROM items ORDER BY id"),
             (any_db_url, runaway + " "), (any_db_url, "SELECT 1 + 1")]
    started = time.perf_counter()
    results = execute_many(items, workers=2, timeout_s=TIMEOUT_S)
    wall = time.perf_counter() - started
    assert [r.status for r in results] == [ExecutionStatus.TIMEOUT, ExecutionStatus.OK,
                                           ExecutionStatus.TIMEOUT, ExecutionStatus.OK]
    assert results[1].rows == (("Widget",), ("Gadget",), ("Crème brûlée",), ("Spanner",))
    # the two runaway statements normalise to one, so the whole batch takes one timeout, not two
    assert wall <= TIMEOUT_S + SLACK_S + 0.5
    assert not [t for t in threading.enumerate() if t.name.startswith("mscsql-exec")]
    if dialect != "sqlite":
        assert _engine_busy_with(any_db_url, runaway[:20]) == []


@pytest.mark.parametrize("workers", [1, 2])
def test_parallel_timeouts_are_each_enforced(sqlite_path, workers: int) -> None:  # type: ignore[no-untyped-def]
    # distinct texts that normalise differently, so each really runs
    queries = [ENDLESS_CTE, ENDLESS_CTE.replace("x + 1", "x + 2"), EXPLODING_CTE]
    started = time.perf_counter()
    results = execute_many([(sqlite_path, q) for q in queries], workers=workers, timeout_s=0.5)
    wall = time.perf_counter() - started
    assert all(r.status is ExecutionStatus.TIMEOUT for r in results)
    rounds = -(-len(queries) // workers)
    assert wall <= rounds * 0.5 + SLACK_S
