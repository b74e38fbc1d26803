"""Layers 1 and 2 on the real engines: hostile SQL never changes a database, with or without the guard."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mscsql.db import connect
from mscsql.types import ExecutionStatus
from tests import dbutil

CORPUS = yaml.safe_load((Path(__file__).parent / "data" / "hostile_sql.yaml").read_text(encoding="utf-8"))


def _dialect(url: str) -> str:
    if "://" not in url:
        return "sqlite"
    return "postgresql" if url.startswith("postgresql") else "mysql"


def test_guarded_execute_rejects_every_hostile_statement(any_db_url: str) -> None:
    dialect = _dialect(any_db_url)
    before = dbutil.fingerprint(any_db_url)
    with connect(any_db_url) as db:
        for item in CORPUS:
            if dialect in item["dialects"]:
                result = db.execute(item["sql"], timeout_s=5)
                assert result.status is ExecutionStatus.REJECTED, item["sql"]
                assert result.error
        assert db.execute("SELECT count(*) FROM items").rows == ((4,),)
    assert dbutil.fingerprint(any_db_url) == before


def test_read_only_connection_refuses_writes_with_the_guard_bypassed(any_db_url: str) -> None:
    """Layer 2 on its own: every statement that would change the database goes straight to the engine's
    read-only path (``_run_readonly`` skips the guard) and still changes nothing."""
    dialect = _dialect(any_db_url)
    writes = [item for item in CORPUS if item["effect"] == "database" and dialect in item["dialects"]
              and item.get("layer2") != "none"]
    assert len(writes) >= 20
    before = dbutil.fingerprint(any_db_url)
    with connect(any_db_url) as db:
        for item in writes:
            result = db._run_readonly(item["sql"], 5.0, 100)
            if item.get("layer2") != "rollback":
                assert result.status is not ExecutionStatus.OK, f"layer 2 let this run: {item['sql']}"
        # the connection is still healthy and still read-only afterwards
        assert db.execute("SELECT count(*) FROM items").rows == ((4,),)
    assert dbutil.fingerprint(any_db_url) == before


def test_sqlite_file_is_byte_identical_after_hostile_run(sqlite_path: Path) -> None:
    before = (sqlite_path.read_bytes(), dbutil.sqlite_checksum(sqlite_path))
    with connect(sqlite_path) as db:
        for item in CORPUS:
            if "sqlite" in item["dialects"]:
                db._run_readonly(item["sql"], 5.0, 100)
    assert (sqlite_path.read_bytes(), dbutil.sqlite_checksum(sqlite_path)) == before
    assert not Path("/tmp/mscsql_pwned.sqlite").exists()
    assert not Path("/tmp/mscsql_pwned.txt").exists()


@pytest.mark.parametrize("statement", ["PRAGMA query_only = OFF", "ATTACH DATABASE ':memory:' AS extra",
                                       "SELECT load_extension('nothing')"])
def test_sqlite_connection_blocks_escape_hatches(sqlite_path: Path, statement: str) -> None:
    with connect(sqlite_path) as db:
        result = db._run_readonly(statement, 5.0, 10)
        assert result.status is ExecutionStatus.ERROR
        assert db._run_readonly("PRAGMA query_only", 5.0, 10).status is ExecutionStatus.ERROR  # not readable
        assert db._run_readonly("DELETE FROM items", 5.0, 10).status is ExecutionStatus.ERROR
