"""Database.execute and execute_many: results, JSON-safe values, row caps, ordering, deduplication, errors."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from mscsql.db import connect, execute_many
from mscsql.db.values import to_cell
from mscsql.errors import BackendUnavailable, DatabaseConnectionError, DatabaseError, DatabaseNotFound
from mscsql.types import ExecutionItem, ExecutionStatus
from tests import dbutil


def test_result_fields_and_row_cap(any_db_url: str) -> None:
    with connect(any_db_url) as db:
        full = db.execute("SELECT id, name FROM items ORDER BY id")
        assert full.status is ExecutionStatus.OK
        assert full.columns == ("id", "name")
        assert full.rows == ((1, "Widget"), (2, "Gadget"), (3, "Crème brûlée"), (4, "Spanner"))
        assert (full.row_count, full.truncated) == (4, False)
        assert full.elapsed_s >= 0
        capped = db.execute("SELECT id FROM items ORDER BY id", max_rows=3)
        assert capped.rows == ((1,), (2,), (3,)) and capped.row_count == 3 and capped.truncated
        exact = db.execute("SELECT id FROM items ORDER BY id", max_rows=4)
        assert exact.row_count == 4 and not exact.truncated
        empty = db.execute("SELECT id FROM items WHERE id < 0")
        assert empty.ok and empty.rows == () and empty.columns == ("id",)


def test_engine_errors_are_results_not_exceptions(any_db_url: str) -> None:
    with connect(any_db_url) as db:
        missing = db.execute("SELECT no_such_column FROM items")
        assert missing.status is ExecutionStatus.ERROR and "no_such_column" in (missing.error or "")
        rejected = db.execute("DELETE FROM items")
        assert rejected.status is ExecutionStatus.REJECTED and "DELETE" in (rejected.error or "")
        assert rejected.elapsed_s == 0.0
        assert db.execute("SELECT 1;").ok  # a trailing semicolon is fine on every engine
        assert json.loads(json.dumps(missing.to_dict()))["status"] == "error"


def test_sqlite_values_are_json_safe(tmp_path: Path) -> None:
    path = dbutil.make_sqlite(tmp_path / "values.sqlite", """
        CREATE TABLE v (b BLOB, t TEXT, r REAL, i INTEGER);
        INSERT INTO v VALUES (x'00ff10', CAST(x'61ff62' AS TEXT), 1e999, 9223372036854775807);
        INSERT INTO v VALUES (CAST('abc' AS BLOB), 'abc', -1e999, NULL);""")
    with connect(path) as db:
        result = db.execute("SELECT b, t, r, i FROM v")
    assert result.ok, result.error
    assert result.rows[0] == ("\\x00ff10", "a\ufffdb", "inf", 9223372036854775807)
    assert result.rows[1] == ("\\x616263", "abc", "-inf", None)
    assert result.rows[1][0] != result.rows[1][1]  # a blob never equals the same text
    json.dumps(result.to_dict(), allow_nan=False)


def test_postgres_values_are_json_safe(pg_url: str) -> None:
    sql = ("SELECT 1.50::numeric AS d, 2.00::numeric AS di, DATE '2024-02-29' AS day, "
           "TIMESTAMP '2024-01-02 03:04:05' AS ts, '\\x0aff'::bytea AS b, INTERVAL '90 minutes' AS iv, "
           "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, ARRAY[1, 2] AS arr, 'NaN'::float8 AS nan, "
           "true AS flag")
    with connect(pg_url) as db:
        result = db.execute(sql)
    assert result.ok, result.error
    assert result.rows[0] == (1.5, 2, "2024-02-29", "2024-01-02T03:04:05", "\\x0aff", 5400.0,
                              "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "[1, 2]", "nan", True)
    json.dumps(result.to_dict(), allow_nan=False)


def test_mysql_values_are_json_safe(mysql_url: str) -> None:
    sql = ("SELECT CAST(1.50 AS DECIMAL(5,2)) AS d, CAST(3 AS DECIMAL(5,2)) AS di, DATE '2024-02-29' AS day, "
           "TIMESTAMP '2024-01-02 03:04:05' AS ts, X'0AFF' AS b, 'Crème' AS t")
    with connect(mysql_url) as db:
        result = db.execute(sql)
    assert result.ok, result.error
    assert result.rows[0] == (1.5, 3, "2024-02-29", "2024-01-02T03:04:05", "\\x0aff", "Crème")


@pytest.mark.parametrize(("value", "expected"), [
    (float("nan"), "nan"), (b"\x01", "\\x01"), (bytearray(b"\x02"), "\\x02"), ([1, "a"], '[1, "a"]'),
])
def test_to_cell_rules(value: object, expected: object) -> None:
    assert to_cell(value) == expected


def test_execute_many_keeps_order_and_deduplicates(sqlite_path: Path, tmp_path: Path) -> None:
    other = dbutil.make_sqlite(tmp_path / "other.sqlite",
                               "CREATE TABLE items (id INTEGER, name TEXT); INSERT INTO items VALUES (7, 'Other');")
    items = [
        (sqlite_path, "SELECT count(*) FROM items"),
        (other, "SELECT count(*) FROM items"),  # same text, other database: runs separately
        (sqlite_path, "select   COUNT(*)\nfrom items;"),  # same statement after normalisation: shared
        (sqlite_path, "DROP TABLE items"),
        ExecutionItem(database=sqlite_path, sql="SELECT nope FROM items"),
        (str(other), "SELECT name FROM items"),
    ]
    results = execute_many(items, workers=2)
    assert [r.status for r in results] == [ExecutionStatus.OK, ExecutionStatus.OK, ExecutionStatus.OK,
                                           ExecutionStatus.REJECTED, ExecutionStatus.ERROR, ExecutionStatus.OK]
    assert [r.rows for r in results[:3]] == [((4,),), ((1,),), ((4,),)]
    assert results[2].sql == "select   COUNT(*)\nfrom items;"  # each result carries its own text
    assert results[5].rows == (("Other",),)
    assert execute_many([]) == []


def test_execute_many_counts_distinct_statements(sqlite_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mscsql.db.sqlite import SQLiteDatabase

    calls: list[str] = []
    original = SQLiteDatabase._run_readonly

    def counting(self, sql, timeout_s, max_rows, budget=None):  # type: ignore[no-untyped-def]
        calls.append(sql)
        return original(self, sql, timeout_s, max_rows, budget)

    monkeypatch.setattr(SQLiteDatabase, "_run_readonly", counting)
    with connect(sqlite_path) as db:
        pairs = [(db, "SELECT id FROM items WHERE id = 1"), (db, "SELECT id FROM items WHERE id = 1;"),
                 (db, " /* again */ SELECT id FROM items WHERE id = 1 -- same\n"),
                 (db, "select id from items where id = 1"), (db, "SELECT id FROM items WHERE id = 2")]
        results = execute_many(pairs, workers=2)
    # keyword case can change column names, so only surrounding whitespace, comments and semicolons are ignored
    assert sorted(calls) == ["SELECT id FROM items WHERE id = 1", "SELECT id FROM items WHERE id = 2",
                             "select id from items where id = 1"]
    assert [r.rows for r in results] == [((1,),), ((1,),), ((1,),), ((1,),), ((2,),)]
    assert [r.sql for r in results] == [sql for _db, sql in pairs]


def test_execute_many_never_shares_results_between_different_statements(sqlite_path: Path) -> None:
    pairs = [(sqlite_path, 'SELECT count(*) FROM items WHERE category = "food"'),  # a string, in SQLite
             (sqlite_path, "SELECT count(*) FROM items WHERE category = `food`"),  # a column: error
             (sqlite_path, "SELECT count(*) AS Year FROM items"), (sqlite_path, "SELECT count(*) AS YEAR FROM items")]
    results = execute_many(pairs, workers=2)
    assert results[0].rows == ((1,),) and results[1].status is ExecutionStatus.ERROR
    assert (results[2].columns, results[3].columns) == (("Year",), ("YEAR",))


def test_missing_sqlite_file_is_an_error_and_never_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sqlite"
    for target in (missing, f"sqlite:///{missing}"):
        with pytest.raises(DatabaseNotFound, match=r"does not exist|no SQLite database"):
            connect(target)
    assert not missing.exists()


def test_not_a_database_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("just text, not a database " * 100)
    with pytest.raises(DatabaseError, match="cannot open"):
        connect(path)


def test_unreachable_server_masks_password() -> None:
    with pytest.raises(DatabaseConnectionError) as info:
        connect("postgresql://alice:s3cret-pw@127.0.0.1:1/nowhere")
    message = str(info.value)
    assert "s3cret-pw" not in message and "***" in message and "127.0.0.1" in message
    with pytest.raises(DatabaseConnectionError) as info:
        connect("mysql://bob:hunter2@127.0.0.1:1/nowhere")
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("target", ["oracle://x@y/z", "not a url://", "sqlite://"])
def test_bad_targets_are_clear_errors(target: str) -> None:
    with pytest.raises(DatabaseError):
        connect(target)


def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "psycopg" else real(name, *a))
    with pytest.raises(BackendUnavailable, match=r"mscsql\[postgres\]"):
        connect("postgresql://u@127.0.0.1/db")


def test_sqlite_connections_are_pooled_not_leaked(sqlite_path: Path) -> None:
    with connect(sqlite_path) as db:
        for _round in range(5):
            results = execute_many([(db, f"SELECT {i} FROM items") for i in range(20)], workers=3)
            assert all(r.ok for r in results)
        idle = list(db._idle)
        assert len(idle) in (1, 2, 3)  # one per statement that ran at the same time, reused across calls
    for conn in idle:  # closing the database closes its connections
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")


def test_mysql_explicit_limit_beyond_the_cap_is_not_buffered(mysql_url: str) -> None:
    big = ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 100) "
           "SELECT a.x, b.x, c.x FROM r a, r b, r c LIMIT 1000000")
    from mscsql.config import ExecutionSettings

    with connect(mysql_url, execution=ExecutionSettings(workers=1)) as db:
        result = db.execute(big, max_rows=10)
        assert result.ok and result.row_count == 10 and result.truncated
        assert db.execute("SELECT count(*) FROM items").rows == ((4,),)  # a fresh connection took over


def test_sqlite_refuses_giant_values(sqlite_path: Path) -> None:
    with connect(sqlite_path) as db:
        result = db.execute("SELECT length(zeroblob(900000000))")
        assert result.status is ExecutionStatus.TOO_LARGE and "too big" in (result.error or "")
        assert db.execute("SELECT length(zeroblob(1000))").rows == ((1000,),)


def test_postgres_huge_numeric_stays_exact_text(pg_url: str) -> None:
    with connect(pg_url) as db:
        result = db.execute("SELECT 1e5000::numeric AS big, 12.5::numeric AS small")
    assert result.ok
    big, small = result.rows[0]
    assert isinstance(big, str) and big.replace(".", "").startswith("1") and small == 12.5
    json.dumps(result.to_dict())


@pytest.mark.parametrize(("decoding", "expected"), [("replace", "a\ufffdb"), ("ignore", "ab")])
def test_sqlite_text_decoding_is_configurable(tmp_path: Path, decoding: str, expected: str) -> None:
    path = dbutil.make_sqlite(tmp_path / "latin.sqlite",
                              "CREATE TABLE t (x TEXT); INSERT INTO t VALUES (CAST(x'61ff62' AS TEXT));")
    with connect(path, text_decoding=decoding) as db:
        assert db.execute("SELECT x FROM t").rows == ((expected,),)
    with connect(path, text_decoding="strict") as db:
        assert db.execute("SELECT x FROM t").status is ExecutionStatus.ERROR
