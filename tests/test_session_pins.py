"""Session pinning: on servers whose string rules differ from the defaults, the guard and the engine still read
every statement the same way, so nothing only the guard stops can run; pins hold after every reset, and no
session state (locks, variables, settings) passes from one statement to the next.

Every attack is checked from outside: the database fingerprint (data, catalogue, sequences, index pages, roles,
settings, advisory and user locks), files on the server's disk, and a canary session that must stay alive.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mscsql.db import connect
from mscsql.db.mysql import check_pins as check_mysql_pins
from mscsql.db.mysql import pinned_sql_mode
from mscsql.db.postgres import check_pins as check_pg_pins
from mscsql.errors import SessionPinError
from mscsql.types import ExecutionStatus
from tests import dbutil

ATTACKS = yaml.safe_load((Path(__file__).parent / "data" / "quoting_attacks.yaml").read_text(encoding="utf-8"))
#: the server file the attacks try to read (the servers run on this machine)
SECRET = Path("/etc/hostname").read_text(encoding="utf-8")
#: the forms the file's content takes in a result (text, or a blob's hex text), and an entry of /etc
LEAKED = (SECRET, SECRET.strip(), "\\x" + SECRET.encode().hex(), "hostname")


def _database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


@contextlib.contextmanager
def _canary(dialect: str, database: str) -> Iterator[int]:
    """An outside session that must survive every attack; yields its process / thread id."""
    conn = dbutil.admin_connection(dialect, database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()" if dialect == "postgresql" else "SELECT CONNECTION_ID()")
            yield cur.fetchone()[0]
        with conn.cursor() as cur:  # still alive
            cur.execute("SELECT 1")
            assert cur.fetchone()[0] == 1
    finally:
        conn.close()


def _payload(sql: str, url: str, canary: int) -> str:
    return sql.replace("{db}", _database_name(url)).replace("{canary}", str(canary))


def _assert_nothing_leaked(results: list, sql: str) -> None:
    """No result holds the server file's content or a server directory listing."""
    for result in results:
        for row in result.rows:
            for cell in row:
                assert cell not in LEAKED, (sql, result)


def _run_attacks(db, attacks: list[dict], url: str, canary: int) -> None:  # type: ignore[no-untyped-def]
    for attack in attacks:
        sql = _payload(attack["sql"], url, canary)
        guarded = db.execute(sql, timeout_s=5)
        if attack.get("guard") == "refused":
            assert guarded.status is ExecutionStatus.REJECTED, (sql, guarded)
        results = [guarded]
        if attack.get("alone") == "safe":  # the engine alone, guard bypassed, with the pinned session rules
            bypassed = db._run_readonly(sql, 5.0, 100)
            assert bypassed.status is not ExecutionStatus.OK or bypassed.rows[0][0].startswith("a"), bypassed
            results.append(bypassed)
        _assert_nothing_leaked(results, sql)


@pytest.fixture()
def pg_nonstandard_strings(pg_url: str) -> str:
    """A PostgreSQL database whose sessions default to standard_conforming_strings = off."""
    name = _database_name(pg_url)
    dbutil.add_index_maintenance_targets(name)
    admin = dbutil.admin_connection("postgresql")
    try:
        with admin.cursor() as cur:
            cur.execute(f'ALTER DATABASE "{name}" SET standard_conforming_strings = off')
            cur.execute(f'ALTER DATABASE "{name}" SET backslash_quote = on')
    finally:
        admin.close()
    return pg_url


@pytest.fixture(params=["NO_BACKSLASH_ESCAPES", "ANSI_QUOTES", "NO_BACKSLASH_ESCAPES,ANSI_QUOTES"])
def mysql_lax_quoting(request: pytest.FixtureRequest, mysql_url: str) -> Iterator[str]:
    """A MariaDB server whose sessions start with the given sql_mode flags (restored afterwards)."""
    admin = dbutil.admin_connection("mysql")
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT @@GLOBAL.sql_mode")
            original = cur.fetchone()[0]
            cur.execute(f"SET GLOBAL sql_mode = '{original},{request.param}'")
        yield mysql_url
    finally:
        with admin.cursor() as cur:
            cur.execute(f"SET GLOBAL sql_mode = '{original}'")
        admin.close()


def test_postgres_with_standard_conforming_strings_off_runs_nothing_hidden(pg_nonstandard_strings: str) -> None:
    url = pg_nonstandard_strings
    attacks = [a for a in ATTACKS if a["dialect"] == "postgresql"]
    assert len(attacks) >= 6
    before = dbutil.fingerprint(url)
    with _canary("postgresql", _database_name(url)) as canary, connect(url) as db:
        _run_attacks(db, attacks, url, canary)
        # the pins hold on the pooled connection: the rules did not drift back to the database's defaults
        pins = db._run_readonly("SELECT current_setting('standard_conforming_strings'), "
                                "current_setting('backslash_quote')", 5.0, 10)
        assert pins.rows == (("on", "off"),)
    assert dbutil.fingerprint(url) == before
    assert dbutil.pwned_files() == []


def test_postgres_attack_through_the_cli_changes_nothing(pg_nonstandard_strings: str) -> None:
    url = pg_nonstandard_strings
    before = dbutil.fingerprint(url)
    attack = next(a for a in ATTACKS if "dblink_exec" in a["sql"])
    with _canary("postgresql", _database_name(url)) as canary:
        done = subprocess.run([sys.executable, "-m", "mscsql.cli", "db", "query", url,
                               _payload(attack["sql"], url, canary)], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr
    assert dbutil.fingerprint(url) == before  # every row of items is still there


def test_mysql_with_lax_sql_modes_runs_nothing_hidden(mysql_lax_quoting: str) -> None:
    url = mysql_lax_quoting
    attacks = [a for a in ATTACKS if a["dialect"] == "mysql"]
    assert len(attacks) >= 4
    before = dbutil.fingerprint(url)
    with _canary("mysql", _database_name(url)) as canary, connect(url) as db:
        _run_attacks(db, attacks, url, canary)
        mode = db._run_readonly("SELECT @@SESSION.sql_mode", 5.0, 10).rows[0][0]
        assert "NO_BACKSLASH_ESCAPES" not in mode and "ANSI_QUOTES" not in mode
    assert dbutil.fingerprint(url) == before
    assert dbutil.pwned_files() == []


def test_pins_are_applied_again_after_a_statement_changes_them(any_db_url: str) -> None:
    """A statement that changes the session (guard bypassed) cannot change what the next statement sees."""
    if "://" not in any_db_url:
        pytest.skip("SQLite has no session string rules")
    with connect(any_db_url) as db:
        if db.dialect == "postgresql":
            db._run_readonly("SELECT set_config('standard_conforming_strings', 'off', false), "
                             "set_config('search_path', 'public', false)", 5.0, 10)
            after = db._run_readonly("SELECT current_setting('standard_conforming_strings'), "
                                     "current_setting('search_path')", 5.0, 10)
            assert after.rows[0][0] == "on" and after.rows[0][1].startswith("pg_catalog")
        else:
            db._run_readonly("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES'", 5.0, 10)
            after = db._run_readonly("SELECT @@SESSION.sql_mode, @@SESSION.tx_read_only", 5.0, 10)
            mode, read_only = after.rows[0]
            assert "NO_BACKSLASH_ESCAPES" not in mode and "ANSI_QUOTES" not in mode and read_only == 1
            assert db.execute("SELECT 'it\\'s'").rows == (("it's",),)  # backslashes escape again


def test_session_state_never_reaches_the_next_statement(any_db_url: str) -> None:
    if "://" not in any_db_url:
        pytest.skip("SQLite connections hold no session state a query can set")
    dialect = "postgresql" if any_db_url.startswith("postgresql") else "mysql"
    with connect(any_db_url) as db:
        if dialect == "postgresql":
            assert db._run_readonly("SELECT pg_advisory_lock(4242), set_config('mscsql.x', 'leak', false), "
                                    "setseed(0.5)", 5.0, 10).ok
            assert db._run_readonly("SELECT current_setting('mscsql.x', true)", 5.0, 10).rows in ((("",),), ((None,),))
            first = db._run_readonly("SELECT setseed(0.5), random()", 5.0, 10).rows[0][1]
            assert db._run_readonly("SELECT random()", 5.0, 10).rows[0][0] != first  # no seed carried over
        else:
            assert db._run_readonly("SELECT GET_LOCK('mscsql_pwned', 0), @x := 'leak'", 5.0, 10).ok
            assert db._run_readonly("SELECT @x", 5.0, 10).rows == ((None,),)
    # from outside: no lock is held, by this or any other session
    admin = dbutil.admin_connection(dialect)
    try:
        with admin.cursor() as cur:
            if dialect == "postgresql":
                cur.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
                assert cur.fetchone()[0] == 0
            else:
                cur.execute("SELECT IS_FREE_LOCK('mscsql_pwned')")
                assert cur.fetchone()[0] == 1
    finally:
        admin.close()


def test_search_path_cannot_swap_a_builtin_for_a_user_function(pg_url: str) -> None:
    name = _database_name(pg_url)
    admin = dbutil.admin_connection("postgresql", name)
    try:
        with admin.cursor() as cur:
            cur.execute("CREATE FUNCTION public.upper(text) RETURNS text AS $$ SELECT 'shadowed' $$ LANGUAGE sql")
    finally:
        admin.close()
    admin = dbutil.admin_connection("postgresql")
    try:
        with admin.cursor() as cur:
            cur.execute(f'ALTER DATABASE "{name}" SET search_path = public, pg_catalog')
    finally:
        admin.close()
    with connect(pg_url) as db:
        assert db.execute("SELECT upper('abc')").rows == (("ABC",),)
        assert db.execute("SELECT count(*) FROM items").rows == ((4,),)  # the user's tables still resolve
        assert db.execute("SELECT public.upper('abc')").status is ExecutionStatus.REJECTED


def test_pin_checks_refuse_a_session_that_did_not_take_them() -> None:
    good_pg = ("1000", "1000", "11000", "on", "off", "pg_catalog, public", "on")
    check_pg_pins(good_pg)
    for index, value in ((3, "off"), (4, "safe_encoding"), (5, "public, pg_catalog"), (6, "off")):
        row = list(good_pg)
        row[index] = value
        with pytest.raises(SessionPinError, match="pinned settings"):
            check_pg_pins(tuple(row))
    mode = pinned_sql_mode("STRICT_TRANS_TABLES,ANSI_QUOTES,NO_BACKSLASH_ESCAPES,PIPES_AS_CONCAT,ONLY_FULL_GROUP_BY")
    assert mode == "STRICT_TRANS_TABLES,ONLY_FULL_GROUP_BY"
    check_mysql_pins(mode, 1, mode)
    with pytest.raises(SessionPinError):
        check_mysql_pins(mode + ",ANSI_QUOTES", 1, mode)
    with pytest.raises(SessionPinError):
        check_mysql_pins(mode, 0, mode)
    with pytest.raises(SessionPinError, match="autocommit"):
        check_mysql_pins(mode, 1, mode, autocommit=1)
