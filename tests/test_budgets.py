"""Byte budgets and limits: results are bounded in bytes as they are fetched, a value over budget is a
``too_large`` result (never a crash), late results are timeouts, and no timeout value can break the deadline
machinery."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from mscsql.config import ExecutionSettings
from mscsql.db import connect, execute_many
from mscsql.errors import ConfigError
from mscsql.types import ExecutionStatus, ResultBudget

SMALL = ResultBudget(max_result_bytes=200_000, max_value_bytes=100_000)
ROWS_1000 = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 1000) "
#: one value of 200 000 characters, and 1000 rows of 10 000 characters, in each dialect
BIG_VALUE = {"sqlite": "SELECT replace(hex(zeroblob(100000)), '0', 'x')", "postgresql": "SELECT repeat('x', 200000)",
             "mysql": "SELECT REPEAT('x', 200000)"}
MANY_ROWS = {"sqlite": ROWS_1000 + "SELECT n, printf('%10000c', 'x') FROM r",
             "postgresql": "SELECT g, repeat('x', 10000) FROM generate_series(1, 1000) AS g",
             "mysql": ROWS_1000 + "SELECT n, REPEAT('x', 10000) FROM r"}


def _dialect(url: str) -> str:
    return "sqlite" if "://" not in url else ("postgresql" if url.startswith("postgresql") else "mysql")


def test_a_value_over_the_budget_is_too_large_on_every_engine(any_db_url: str) -> None:
    dialect = _dialect(any_db_url)
    with connect(any_db_url) as db:
        result = db.execute(BIG_VALUE[dialect], budget=SMALL)
        assert result.status is ExecutionStatus.TOO_LARGE, result
        assert result.rows == () and result.error
        assert db.execute(BIG_VALUE[dialect]).rows[0][0] == "x" * 200_000  # the default budget holds it
        assert db.execute("SELECT count(*) FROM items").rows == ((4,),)  # the connection is still good


def test_a_result_over_the_budget_keeps_the_rows_that_fit(any_db_url: str) -> None:
    dialect = _dialect(any_db_url)
    with connect(any_db_url) as db:
        result = db.execute(MANY_ROWS[dialect], budget=SMALL, max_rows=10_000)
        assert result.status is ExecutionStatus.OK and result.truncated
        assert 10 <= result.row_count <= 20 and len(result.rows) == result.row_count  # 200 kB / ~10 kB a row
        assert [r[0] for r in result.rows] == list(range(1, result.row_count + 1))
        whole = db.execute(MANY_ROWS[dialect], max_rows=10_000)
        assert whole.row_count == 1000 and not whole.truncated
        assert db.execute("SELECT count(*) FROM items").rows == ((4,),)


def test_settings_carry_the_budget(sqlite_path: Path) -> None:
    settings = ExecutionSettings(max_result_bytes=200_000, max_value_bytes=100_000)
    with connect(sqlite_path, execution=settings) as db:
        assert db.execute(BIG_VALUE["sqlite"]).status is ExecutionStatus.TOO_LARGE
    with pytest.raises(ValidationError, match="max_value_bytes"):
        ExecutionSettings(max_result_bytes=10_000, max_value_bytes=20_000)


def test_sqlite_blob_bombs_stop_at_once(sqlite_path: Path) -> None:
    with connect(sqlite_path) as db:
        started = time.perf_counter()
        bomb = db.execute("SELECT zeroblob(30000000) FROM items")  # 4 x 30 MB, each over the 16 MB default
        assert bomb.status is ExecutionStatus.TOO_LARGE
        # one printf() call padding to 1e9 characters cannot be interrupted inside SQLite: the guard refuses it
        for call in ("printf('%.*c', 1000000000, 'x')", "format('%1000000000c', 'x')", "printf(name, 1)"):
            assert db.execute(f"SELECT {call} FROM items", timeout_s=1.0).status is ExecutionStatus.REJECTED
        assert db.execute("SELECT printf('%-8s|%6.2f', name, price) FROM items").ok
        assert time.perf_counter() - started < 1.5


LATE = {"sqlite": "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5000000) "
                  "SELECT n, n * 1.5, 'row ' || n FROM r",
        "postgresql": "SELECT g, g::numeric / 3, 'row ' || g FROM generate_series(1, 5000000) AS g",
        "mysql": "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5000) "
                 "SELECT a.n, a.n / 3, CONCAT('row ', b.n) FROM r AS a, r AS b"}


def test_fetching_and_converting_count_against_the_timeout(any_db_url: str) -> None:
    """Millions of rows that the engine streams quickly but that take long to fetch and convert: the result is
    a timeout, on time, never an ``ok`` that arrived late."""
    dialect = _dialect(any_db_url)
    with connect(any_db_url) as db:
        started = time.perf_counter()
        result = db.execute(LATE[dialect], timeout_s=0.5, max_rows=100_000_000,
                            budget=ResultBudget(max_result_bytes=2**40, max_value_bytes=2**20))
        wall = time.perf_counter() - started
        assert result.status is ExecutionStatus.TIMEOUT, result.status
        assert wall < 0.5 + 0.8
        assert db.execute("SELECT count(*) FROM items").rows == ((4,),)


@pytest.mark.parametrize("bad", [1e400, float("inf"), float("nan"), -1.0, 0.0, 1e12])
def test_unusable_timeouts_are_refused_with_one_message(sqlite_path: Path, bad: float) -> None:
    with connect(sqlite_path) as db:
        with pytest.raises(ConfigError, match="timeout"):
            db.execute("SELECT 1", timeout_s=bad)
        with pytest.raises(ConfigError, match="timeout"):
            execute_many([(db, "SELECT 1")], timeout_s=bad)
    with pytest.raises(ValidationError):
        ExecutionSettings(timeout_s=bad)


def test_the_deadline_thread_survives_any_deadline(sqlite_path: Path) -> None:
    from mscsql.db import sqlite as sqlite_module

    with connect(sqlite_path) as db:
        conn = sqlite_module.open_readonly(sqlite_path)
        for value in (1e300, math.inf, math.nan, 9.3e9):
            sqlite_module._DEADLINES.disarm(sqlite_module._DEADLINES.arm(conn, value))
        conn.close()
        started = time.perf_counter()
        endless = "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r"
        assert db.execute(endless, timeout_s=0.3).status is ExecutionStatus.TIMEOUT
        assert time.perf_counter() - started < 1.0
    assert sqlite_module._DEADLINES._thread is not None and sqlite_module._DEADLINES._thread.is_alive()


def test_running_out_of_memory_is_one_statements_failure(sqlite_path: Path) -> None:
    """Under an address-space limit, a result that does not fit becomes ``too_large`` and the process goes on."""
    script = textwrap.dedent(f"""
        import resource, sys
        from mscsql.db import connect
        from mscsql.types import ResultBudget
        resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))
        huge = ResultBudget(max_result_bytes=2**40, max_value_bytes=16_000_000)
        with connect({str(sqlite_path)!r}) as db:
            bomb = db.execute("{ROWS_1000}SELECT randomblob(7000000) FROM r", budget=huge, max_rows=10**6)
            print(bomb.status.value, bomb.error)
            print(db.execute("SELECT count(*) FROM items").rows)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    status, _, rest = done.stdout.partition(" ")
    assert status == "too_large" and "memory" in rest
    assert "((4,),)" in done.stdout and "Traceback" not in done.stderr
