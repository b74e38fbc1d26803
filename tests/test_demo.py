"""The demo database: a SQLite file, or loaded into a new, empty PostgreSQL or MySQL database (an
administrator's command that refuses a database with tables)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from mscsql.db import connect
from tests import conftest, dbutil

COUNTS = {"regions": 6, "customers": 120, "products": 40, "orders": 400}


def _mscsql(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mscsql", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_the_demo_loads_into_an_empty_server_database(tmp_path: Path, dialect: str) -> None:
    conftest._server_or_skip(dialect)
    name = f"mscsql_test_{uuid.uuid4().hex[:10]}"
    url = dbutil.create_empty_database(dialect, name)
    try:
        loaded = _mscsql("demo", "create", "--db", url)
        assert loaded.returncode == 0, loaded.stderr
        local = tmp_path / "demo.sqlite"
        assert _mscsql("demo", "create", "--out", str(local)).returncode == 0
        with connect(url) as server, connect(local) as sqlite:
            tables = {t.name: t for t in server.schema().tables}
            assert {name: t.row_count for name, t in tables.items()} == COUNTS
            assert {(fk.ref_table, fk.columns) for fk in tables["orders"].foreign_keys} == {
                ("customers", ("customer_id",)), ("products", ("product_id",))}
            question = ("SELECT r.name, sum(o.quantity) FROM orders o "
                        "JOIN customers c ON c.customer_id = o.customer_id "
                        "JOIN regions r ON r.region_id = c.region_id GROUP BY r.name ORDER BY r.name")
            assert server.execute(question).rows == sqlite.execute(question).rows
        before = dbutil.fingerprint(url)
        again = _mscsql("demo", "create", "--db", url)  # a database with tables is refused, untouched
        assert again.returncode == 2 and "already has tables" in again.stderr and "Traceback" not in again.stderr
        assert "mscsql demo create --db writes only into an empty database" in again.stderr
        assert dbutil.fingerprint(url) == before
    finally:
        dbutil.drop_server_database(dialect, name)


def test_the_demo_file_matches_its_sources(tmp_path: Path) -> None:
    assert _mscsql("demo", "create", "--out", str(tmp_path / "d.sqlite")).returncode == 0
    conn = sqlite3.connect(tmp_path / "d.sqlite")
    try:
        assert {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTS} == COUNTS
    finally:
        conn.close()
    refused = _mscsql("demo", "create", "--out", str(tmp_path / "d.sqlite"))
    assert refused.returncode == 2 and "already exists" in refused.stderr
