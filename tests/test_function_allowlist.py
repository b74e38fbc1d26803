"""The function allowlist of PostgreSQL and MySQL: what queries need passes, everything else is refused; the
lists hold against the live servers; every gold query of the benchmarks still passes the guard."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mscsql.config import ExecutionSettings
from mscsql.db import connect
from mscsql.db.functions import (
    MYSQL_FUNCTIONS,
    MYSQL_VERSION_SPECIFIC,
    POSTGRES_FUNCTIONS,
    POSTGRES_VOLATILE_READ_ONLY,
)
from mscsql.db.guard import check_sql, is_read_only
from mscsql.errors import UnsafeSQLError
from mscsql.types import ExecutionStatus
from tests import dbutil

ACCEPTED = [
    ("SELECT date_trunc('month', now()), to_char(now(), 'YYYY'), coalesce(NULL, 1)", "postgresql"),
    ("SELECT substring('abc' FROM 2), position('b' IN 'abc'), extract(year FROM now()), 1::int", "postgresql"),
    ("SELECT string_agg(name, ', ' ORDER BY name), count(DISTINCT id) FROM items", "postgresql"),
    ("SELECT * FROM generate_series(1, 3) AS g, unnest(ARRAY[1, 2]) AS u", "postgresql"),
    ("SELECT pg_catalog.upper(name), CAST(price AS text) FROM items", "postgresql"),
    ("SELECT jsonb_build_object('a', 1) -> 'a', regexp_replace('a', 'a', 'b')", "postgresql"),
    ("SELECT IFNULL(a, 0), IF(a > 1, 'x', 'y'), DATE_FORMAT(NOW(), '%Y') FROM t", "mysql"),
    ("SELECT GROUP_CONCAT(name SEPARATOR ','), TIMESTAMPDIFF(YEAR, a, b), STR_TO_DATE(c, '%Y') FROM t", "mysql"),
    ("SELECT CAST(x AS SIGNED), CONVERT(y, CHAR), SUBSTRING_INDEX(z, ',', 1), JSON_EXTRACT(j, '$.a') FROM t", "mysql"),
    ("SELECT load_extension_name FROM t", "mysql"),  # a column, not a call
]

REFUSED = [
    ("SELECT brin_summarize_new_values('readings_brin')", "postgresql", "brin_summarize_new_values"),
    ("SELECT brin_desummarize_range('readings_brin', 0)", "postgresql", "brin_desummarize_range"),
    ("SELECT gin_clean_pending_list('readings_gin')", "postgresql", "gin_clean_pending_list"),
    ("SELECT setseed(0.5)", "postgresql", "setseed"),
    ("SELECT current_setting('data_directory')", "postgresql", "current_setting"),
    ("SELECT pg_advisory_xact_lock(1)", "postgresql", "pg_advisory_xact_lock"),
    ("SELECT txid_current_snapshot()", "postgresql", "txid_current_snapshot"),
    ("SELECT my_function(1)", "postgresql", "my_function"),
    ("SELECT public.lower('a')", "postgresql", "public.lower"),
    ("SELECT x FROM pg_ls_dir('.') AS x", "postgresql", "pg_ls_dir"),
    ("SELECT * FROM items, LATERAL dblink('x', 'y') AS d(a int)", "postgresql", "dblink"),
    ("SELECT BENCHMARK(1000000, MD5('a'))", "mysql", "benchmark"),
    ("SELECT IS_FREE_LOCK('a')", "mysql", "is_free_lock"),
    ("SELECT RELEASE_ALL_LOCKS()", "mysql", "release_all_locks"),
    ("SELECT LAST_INSERT_ID()", "mysql", "last_insert_id"),
    ("SELECT shop.my_udf(1)", "mysql", "shop.my_udf"),
    ("SELECT MASTER_POS_WAIT('f', 1)", "mysql", "master_pos_wait"),
]


@pytest.mark.parametrize(("sql", "dialect"), ACCEPTED)
def test_functions_queries_need_are_allowed(sql: str, dialect: str) -> None:
    assert check_sql(sql, dialect).sql == sql


@pytest.mark.parametrize(("sql", "dialect", "name"), REFUSED)
def test_functions_off_the_list_are_refused_by_name(sql: str, dialect: str, name: str) -> None:
    with pytest.raises(UnsafeSQLError) as info:
        check_sql(sql, dialect)
    assert f"{name}()" in info.value.reason and "allowlist" in info.value.reason


def test_configured_functions_are_allowed_and_only_those() -> None:
    assert not is_read_only("SELECT my_function(1)", "postgresql")
    assert is_read_only("SELECT my_function(1)", "postgresql", frozenset({"my_function"}))
    assert is_read_only("SELECT shop.my_udf(1)", "mysql", frozenset({"shop.my_udf"}))
    assert not is_read_only("SELECT other.my_udf(1)", "mysql", frozenset({"shop.my_udf"}))


def test_sqlite_keeps_its_denylist() -> None:
    assert is_read_only("SELECT strftime('%Y', 'now'), my_own_function(1)", "sqlite")
    assert not is_read_only("SELECT load_extension('x')", "sqlite")
    assert not is_read_only("SELECT writefile('/tmp/x', 'y')", "sqlite")


def test_a_configured_user_function_runs_on_postgres(pg_url: str) -> None:
    conn = dbutil.admin_connection("postgresql", pg_url.rsplit("/", 1)[1])
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE FUNCTION public.double_it(integer) RETURNS integer AS $$ SELECT $1 * 2 $$ "
                        "LANGUAGE sql IMMUTABLE")
    finally:
        conn.close()
    with connect(pg_url) as db:
        refused = db.execute("SELECT double_it(21)")
        assert refused.status is ExecutionStatus.REJECTED and "allowed_functions" in (refused.error or "")
    with connect(pg_url, execution=ExecutionSettings(allowed_functions=("public.double_it", "double_it"))) as db:
        assert db.execute("SELECT double_it(21)").rows == ((42,),)
        assert db.execute("SELECT public.double_it(2)").rows == ((4,),)
    # the same from the command line: refused with the way to allow it, then allowed by --allow-function
    refused_cli = subprocess.run([sys.executable, "-m", "mscsql", "db", "query", pg_url, "SELECT double_it(21)"],
                                 capture_output=True, text=True, timeout=120)
    assert refused_cli.returncode == 1 and "--allow-function" in refused_cli.stderr
    allowed_cli = subprocess.run([sys.executable, "-m", "mscsql", "db", "query", pg_url, "SELECT double_it(21)",
                                  "--allow-function", "double_it", "--json"],
                                 capture_output=True, text=True, timeout=120)
    assert allowed_cli.returncode == 0, allowed_cli.stderr
    assert json.loads(allowed_cli.stdout)["rows"] == [[42]]


def test_postgres_allowlist_matches_the_catalogue(pg_url: str) -> None:
    """Every name on the list is a function of this server (or SQL syntax), and none is volatile except the
    reviewed read-only ones: the catalogue's own word that the rest cannot change anything."""
    conn = dbutil.admin_connection("postgresql", pg_url.rsplit("/", 1)[1])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT proname, array_agg(DISTINCT provolatile) FROM pg_proc "
                        "WHERE pronamespace = 'pg_catalog'::regnamespace GROUP BY proname")
            catalogue = {name: set(kinds) for name, kinds in cur.fetchall()}
            cur.execute("SELECT current_setting('server_version_num')::int")
            version = cur.fetchone()[0]
    finally:
        conn.close()
    syntax = {"coalesce", "nullif", "greatest", "least", "extract", "overlaps", "current_catalog", "current_date",
              "current_time", "current_timestamp", "current_role", "current_schema", "current_user", "session_user",
              "user", "localtime", "localtimestamp", "xmlcomment", "xmlconcat", "xmlelement", "xmlforest",
              "xmlpi", "xmlroot", "xmlexists", "xmlparse", "xmlserialize", "json_scalar", "json_serialize",
              "json_exists", "json_query", "json_value", "json_array", "json_objectagg", "json_arrayagg",
              "json_table", "json_object", "normalize", "trim", "position", "substring", "overlay", "grouping"}
    newer = {"random_normal", "unistr", "any_value", "array_sample", "array_shuffle", "date_add", "date_subtract",
             "trim_scale", "to_bin", "to_oct", "casefold", "crc32", "crc32c", "array_reverse", "array_sort",
             "uuidv4", "uuidv7", "uuid_extract_timestamp", "uuid_extract_version", "jsonb_populate_record_valid",
             "json_agg_strict", "jsonb_agg_strict", "json_object_agg_strict", "jsonb_object_agg_strict",
             "json_object_agg_unique", "jsonb_object_agg_unique", "pg_input_is_valid", "regexp_count",
             "regexp_instr", "regexp_like", "regexp_substr", "xmltext", "erf", "erfc", "system_user"}
    missing = sorted(n for n in POSTGRES_FUNCTIONS if n not in catalogue and n not in syntax | newer)
    assert missing == [], f"not functions of PostgreSQL {version}: {missing}"
    volatile = sorted(n for n in POSTGRES_FUNCTIONS if "v" in catalogue.get(n, set())
                      and n not in POSTGRES_VOLATILE_READ_ONLY)
    assert volatile == [], f"volatile functions on the allowlist: {volatile}"


def test_mysql_allowlist_names_are_builtins_of_the_server(mysql_url: str) -> None:
    """MariaDB answers a call with the wrong number of arguments differently for a built-in (1582, 1064 ...)
    than for an unknown function (1305, 1630): every listed name must be a built-in here."""
    import pymysql

    conn = dbutil.admin_connection("mysql", mysql_url.rsplit("/", 1)[1])
    unknown = []
    try:
        with conn.cursor() as cur:
            cur.execute("START TRANSACTION READ ONLY")
            for name in sorted(MYSQL_FUNCTIONS - MYSQL_VERSION_SPECIFIC - {"json_table"}):  # json_table: FROM only
                try:
                    cur.execute(f"SELECT {name}(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)")
                    cur.fetchall()
                except pymysql.MySQLError as err:
                    if err.args[0] in (1305, 1630):  # "FUNCTION db.x does not exist"
                        unknown.append(name)
            cur.execute("ROLLBACK")
    finally:
        conn.close()
    assert unknown == []


def _gold_lines(path: Path) -> list[str]:
    return [line.rsplit("\t", 1)[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.shared_data
def test_every_gold_query_still_passes_the_guard(shared_data: Path) -> None:
    files = [(shared_data / "spider" / "dev_gold.sql", "sqlite", 1034),
             (shared_data / "bird" / "dev_gold.sql", "sqlite", 1534),
             (shared_data / "bird_minidev" / "mini_dev_sqlite_gold.sql", "sqlite", 500),
             (shared_data / "bird_minidev" / "mini_dev_postgresql_gold.sql", "postgresql", 500),
             (shared_data / "bird_minidev" / "mini_dev_mysql_gold.sql", "mysql", 500)]
    for path, dialect, count in files:
        queries = _gold_lines(path)
        assert len(queries) == count, path
        refused = [(q, err.reason) for q in queries if (err := _refusal(q, dialect)) is not None]
        assert refused == [], f"{path.name}: {refused[:3]}"


def _refusal(sql: str, dialect: str) -> UnsafeSQLError | None:
    try:
        check_sql(sql, dialect)
    except UnsafeSQLError as err:
        return err
    return None
