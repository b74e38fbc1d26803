"""Fixtures: a SQLite database built in code, and throwaway databases on the local PostgreSQL and MariaDB
servers (created and dropped by the tests; no other database is touched).

A test that needs a server skips with a reason when the server is unreachable, except in CI
(``CI=true``), where that is a failure. The same goes for ``../shared/data``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import dbutil

IN_CI = os.environ.get("CI", "").lower() == "true"
REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MSCSQL_SHARED_DATA", REPO.parent / "shared" / "data"))


def unavailable(reason: str) -> None:
    """Skip outside CI; fail in CI, where everything the tests need must be present."""
    if IN_CI:
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _own_store(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's default store (verified examples, notes, conversations) in a throwaway folder, never the home
    folder of whoever runs the tests; subprocesses inherit it."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data-home")))
    monkeypatch.delenv("MSCSQL_STORE", raising=False)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "spider" / "dev.json").is_file():
        unavailable(f"benchmark data not found at {SHARED_DATA} (set MSCSQL_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture()
def sqlite_path(tmp_path: Path) -> Path:
    """A small SQLite database with the standard test tables and awkward identifiers."""
    return dbutil.make_sqlite(tmp_path / "shop.sqlite", dbutil.SQLITE_DDL)


def _server_or_skip(dialect: str) -> None:
    try:
        dbutil.admin_connection(dialect).close()
    except Exception as err:  # any driver error means the server is not usable here
        unavailable(f"{dialect} server at 127.0.0.1 is not reachable: {err}")


def _throwaway_database(dialect: str, url_prefix: str) -> Iterator[str]:
    """Create a fresh database with the standard test tables on a local server, yield its URL, drop it."""
    _server_or_skip(dialect)
    name = f"mscsql_test_{uuid.uuid4().hex[:10]}"
    dbutil.create_server_database(dialect, name)
    try:
        yield f"{url_prefix}/{name}"
    finally:
        dbutil.drop_server_database(dialect, name)


@pytest.fixture()
def pg_url() -> Iterator[str]:
    yield from _throwaway_database("postgresql", "postgresql://postgres@127.0.0.1:5432")


@pytest.fixture()
def mysql_url() -> Iterator[str]:
    yield from _throwaway_database("mysql", "mysql://root@127.0.0.1:3306")


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test database on each of the three engines."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_path"))
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return request.getfixturevalue("mysql_url")
