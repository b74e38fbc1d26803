"""The CLI as an unlucky user and a hostile database meet it: one message and a non-zero exit for every bad
input (never a traceback), database values that cannot act on the terminal, and the least-privilege role."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests import dbutil

#: terminal control sequences a database value may carry: window title (OSC), colour (CSI), bell, the 8-bit
#: CSI and a right-to-left override
HOSTILE = ["\x1b]0;pwned\x07", "\x1b[31mred\x1b[0m", "before\x9b2Jafter", "file\u202egnp.exe", "a\rb\x08c"]
RAW = [b"\x1b", b"\x07", "\x9b".encode(), "\u202e".encode(), b"\r", b"\x08"]


def mscsql(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "mscsql.cli", *args], capture_output=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


def _one_message(result: subprocess.CompletedProcess[bytes], *expected: str) -> None:
    output = (result.stdout + result.stderr).decode("utf-8", errors="replace")
    assert result.returncode != 0, (result.args, output)
    assert "Traceback" not in output, output
    for text in expected:
        assert text in output, output


@pytest.fixture()
def not_utf8(tmp_path: Path) -> Path:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("method: lora  # café\n".encode("latin-1"))
    return path


def test_bad_inputs_get_one_message_and_no_traceback(sqlite_path: Path, tmp_path: Path, not_utf8: Path,
                                                     shared_data: Path) -> None:
    db = str(sqlite_path)
    spider = ["--benchmark", "spider-dev", "--data-dir", str(shared_data / "spider"), "--allow-missing-db",
              "--predictions", str(shared_data / "predictions" / "spider_dev" / sorted(
                  p.name for p in (shared_data / "predictions" / "spider_dev").glob("*.sql"))[0])]
    a_file = tmp_path / "a_file"
    a_file.write_text("this is not a database, it is a text file\n" * 40, encoding="utf-8")
    cases = [
        (("db", "query", "postgresql://[::1", "SELECT 1"), "not a valid database URL"),
        (("db", "query", "postgresql://u:hunter2@127.0.0.1:notaport/x", "SELECT 1"), "not a valid database URL"),
        (("db", "query", "postgresql+nosuchdriver://u@127.0.0.1/x", "SELECT 1"), "psycopg"),
        (("db", "query", "mysql+mysqldb://u@127.0.0.1/x", "SELECT 1"), "pymysql"),
        (("db", "inspect", "sqlite+pysqlcipher:///x.db"), "SQLite"),
        (("db", "query", db, "SELECT 1", "--timeout", "1e400"), "--timeout"),
        (("db", "query", db, "SELECT 1", "--timeout", "inf"), "--timeout"),
        (("db", "query", db, "SELECT 1", "--timeout", "nan"), "timeout"),
        (("db", "query", db, "SELECT 1", "--timeout", "-1"), "--timeout"),
        (("db", "query", db, "SELECT 1", "--max-rows", "0"), "--max-rows"),
        (("db", "query", str(a_file), "SELECT 1"), "cannot open"),
        (("db", "readonly-role", db), "PostgreSQL or MySQL URL"),
        (("eval", "score", *spider, "--output", str(a_file)), "is a file, not a folder"),
        (("eval", "score", *spider, "--output", "/proc/mscsql/out"), "cannot create the folder"),
        (("eval", "score", *spider, "--output", str(tmp_path / "o"), "--cache-dir", str(a_file)), "--cache-dir"),
        (("eval", "score", *spider, "--output", str(tmp_path / "o2"), "--timeout", "1e12"), "--timeout"),
        (("eval", "score", *spider, "--output", str(tmp_path / "o3"), "--max-result-mb", "1", "--max-value-mb", "5"),
         "max-value-mb"),
        (("eval", "score", *spider, "--output", str(tmp_path / "o4"), "--workers", "0"), "--workers"),
        (("train", "--config", str(not_utf8)), "not UTF-8"),
        (("train", "--config", str(tmp_path)), "folder"),
    ]
    for args, expected in cases:
        result = mscsql(*args)
        _one_message(result, expected)
        assert b"hunter2" not in result.stdout + result.stderr


@pytest.fixture()
def hostile_values(tmp_path: Path) -> Path:
    """A SQLite database whose values carry terminal escapes, and 20 values of 5 MB each."""
    rows = ", ".join(f"({i}, '{v}')" for i, v in enumerate(HOSTILE))
    return dbutil.make_sqlite(tmp_path / "hostile.sqlite",
                              "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);"
                              f"INSERT INTO notes VALUES {rows};"
                              "CREATE TABLE big (id INTEGER PRIMARY KEY, body TEXT);"
                              "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 20) "
                              "INSERT INTO big SELECT n, replace(hex(zeroblob(2500000)), '0', 'y') FROM r;")


def test_values_cannot_act_on_the_terminal(hostile_values: Path) -> None:
    db = str(hostile_values)
    for args in (("db", "query", db, "SELECT body FROM notes ORDER BY id"), ("db", "inspect", db)):
        shown = mscsql(*args)
        assert shown.returncode == 0, shown.stderr
        for raw in RAW:
            assert raw not in shown.stdout and raw not in shown.stderr, (args, raw)
    table = mscsql("db", "query", db, "SELECT body FROM notes ORDER BY id").stdout.decode()
    assert "\\x1b]0;pwned\\x07" in table and "\\x9b2J" in table and "\\u202egnp.exe" in table
    # JSON keeps every value whole (and is still valid JSON), without a raw control character
    as_json = mscsql("db", "query", db, "SELECT body FROM notes ORDER BY id", "--json")
    for raw in RAW:
        assert raw not in as_json.stdout
    assert [row[0] for row in json.loads(as_json.stdout)["rows"]] == HOSTILE


def test_long_values_are_cut_for_display_and_kept_in_json(hostile_values: Path) -> None:
    db = str(hostile_values)
    table = mscsql("db", "query", db, "SELECT id, body FROM big ORDER BY id")
    assert table.returncode == 0, table.stderr
    assert len(table.stdout) < 100_000  # 20 rows of 5 MB each, shown cut
    assert b"chars)" in table.stdout and b"20 rows" in table.stderr
    full = json.loads(mscsql("db", "query", db, "SELECT id, body FROM big ORDER BY id", "--json").stdout)
    assert [len(row[1]) for row in full["rows"]] == [5_000_000] * 20


def test_engine_messages_are_escaped_too(pg_url: str) -> None:
    failed = mscsql("db", "query", pg_url, "SELECT CAST(E'x\\x1b]0;pwned\\x07' AS integer)")
    assert failed.returncode == 1
    assert b"\x1b" not in failed.stderr and b"\x07" not in failed.stderr
    assert b"invalid input syntax" in failed.stderr and b"\\x1b" in failed.stderr


def _drop_role(dialect: str, name: str, database: str) -> None:
    conn = dbutil.admin_connection(dialect, database)
    try:
        with conn.cursor() as cur:
            if dialect == "postgresql":
                cur.execute(f'DROP OWNED BY "{name}"')
                cur.execute(f'DROP ROLE IF EXISTS "{name}"')
            else:
                cur.execute(f"DROP USER IF EXISTS '{name}'@'%'")
    finally:
        conn.close()


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_readonly_role_prints_then_applies_a_login_that_only_reads(request: pytest.FixtureRequest,
                                                                     dialect: str) -> None:
    url = request.getfixturevalue("pg_url" if dialect == "postgresql" else "mysql_url")
    database = url.rsplit("/", 1)[1]
    name = f"mscsql_reader_{uuid.uuid4().hex[:8]}"
    env = {"READER_PASSWORD": "it's a \\ secret"}
    command = ("db", "readonly-role", url, "--name", name, "--password-env", "READER_PASSWORD", "--timeout", "5")
    printed = mscsql(*command, env=env)
    assert printed.returncode == 0, printed.stderr
    text = printed.stdout.decode()
    assert ("CREATE ROLE" if dialect == "postgresql" else "CREATE USER") in text and "GRANT SELECT" in text
    assert "secret" not in text and "not applied" in printed.stderr.decode()
    try:
        applied = mscsql(*command, "--apply", env=env)
        assert applied.returncode == 0, applied.stderr
        again = mscsql(*command, "--apply", env=env)
        _one_message(again, "already exists")
        from urllib.parse import quote

        reader = url.replace("postgres@" if dialect == "postgresql" else "root@",
                             f"{name}:{quote(env['READER_PASSWORD'], safe='')}@")
        queried = mscsql("db", "query", reader, "SELECT count(*) FROM items")
        assert queried.returncode == 0 and b"warning" not in queried.stderr, queried.stderr
        # the reader may not make roles: the server's refusal is one message, not the driver's traceback
        refused = mscsql("db", "readonly-role", reader, "--name", f"{name}_b", "--password-env", "READER_PASSWORD",
                         "--apply", env=env)
        _one_message(refused, "the server refused to make the role", "run it as a login that may create roles")
        if dialect == "postgresql":  # nor write a copy into an empty database it can connect to
            empty_name = f"mscsql_test_{uuid.uuid4().hex[:10]}"
            empty = dbutil.create_empty_database("postgresql", empty_name)
            try:
                source = dbutil.make_sqlite(Path(request.getfixturevalue("tmp_path")) / "small.sqlite",
                                            "CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1);")
                login = reader.split("//")[1].split("@")[0]  # the reader's user:password
                copied = mscsql("db", "copy", str(source), empty.replace("postgres@", f"{login}@"))
                _one_message(copied, "the server refused to write the copy", "its owner")
            finally:
                dbutil.drop_server_database("postgresql", empty_name)
        as_admin = mscsql("db", "query", url, "SELECT count(*) FROM items")
        assert b"warning" in as_admin.stderr and b"readonly-role" in as_admin.stderr
        from mscsql.db import connect

        before = dbutil.fingerprint(url)
        with connect(reader) as db:
            assert db.privileged is None
            # the role is a layer of its own: with the guard bypassed, file access and writes still fail
            forbidden = (["SELECT pg_read_file('/etc/hostname')", "SELECT lo_import('/etc/hostname')",
                          "DELETE FROM items", "SELECT brin_summarize_new_values('items_pkey')"]
                         if dialect == "postgresql" else
                         ["SELECT 1 INTO OUTFILE '/tmp/mscsql_pwned.txt'", "DELETE FROM items",
                          "SELECT LOAD_FILE('/etc/hostname') IS NOT NULL"])
            for sql in forbidden:
                result = db._run_readonly(sql, 5.0, 10)
                assert not result.ok or result.rows == ((0,),), (sql, result)
        assert dbutil.fingerprint(url) == before and dbutil.pwned_files() == []
    finally:
        _drop_role(dialect, name, database)


def test_a_real_is_shown_with_15_significant_digits_and_kept_whole_in_json(sqlite_path: Path) -> None:
    query = "SELECT 76299.95999999999 AS total, 0.1 + 0.2 AS small, 3.0 AS whole, 1e300 * 10 AS big"
    table = mscsql("db", "query", str(sqlite_path), query)
    assert table.returncode == 0, table.stderr
    shown = table.stdout.decode()
    assert "76299.96" in shown and "0.3" in shown and "3.0" in shown and "76299.9599" not in shown
    assert "0.30000000000000004" not in shown
    as_json = json.loads(mscsql("db", "query", str(sqlite_path), query, "--json").stdout)
    assert as_json["rows"][0][:3] == [76299.95999999999, 0.30000000000000004, 3.0]
