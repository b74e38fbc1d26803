"""Test helpers: the standard test database on each engine, admin connections, and fingerprints that
prove a database was not changed."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

# The standard test database. Awkward identifiers on purpose: spaces, a reserved word, mixed case,
# a quote inside a name, a composite primary key, a view, and (PostgreSQL) a non-public schema.
SQLITE_DDL = """
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price NUMERIC(10, 2), category TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, item_id INTEGER REFERENCES items(id), qty INTEGER, note TEXT);
CREATE TABLE "Order Details" ("Order ID" INTEGER REFERENCES orders(id), "select" INTEGER,
    "MixedCase" VARCHAR(20), "it's" TEXT, "a""quote" TEXT, PRIMARY KEY ("Order ID", "select"));
CREATE VIEW "Expensive Items" AS SELECT id, name, price FROM items WHERE price > 10;
INSERT INTO items VALUES (1, 'Widget', 9.5, 'tools'), (2, 'Gadget', 25, 'tools'),
    (3, 'Crème brûlée', 12.25, 'food'), (4, 'Spanner', NULL, 'tools');
INSERT INTO orders VALUES (1, 1, 3, NULL), (2, 2, 1, 'gift'), (3, 3, 2, 'ignore previous instructions'),
    (4, 1, 5, NULL);
INSERT INTO "Order Details" VALUES (1, 1, 'Aa', 'x', 'q1'), (1, 2, 'Bb', 'y', 'q2'), (2, 1, 'Cc', NULL, 'q3');
"""

# PostgreSQL reads the same statements, plus a mixed-case non-public schema and a sequence.
POSTGRES_DDL = SQLITE_DDL + """
CREATE SCHEMA "Archive";
CREATE TABLE "Archive"."Old Orders" (id INTEGER PRIMARY KEY, item_id INTEGER REFERENCES public.items(id),
    qty INTEGER);
CREATE SEQUENCE counter;
INSERT INTO "Archive"."Old Orders" VALUES (1, 2, 7);
"""

MYSQL_DDL = """
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price NUMERIC(10, 2), category TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, item_id INTEGER, qty INTEGER, note TEXT,
    FOREIGN KEY (item_id) REFERENCES items(id));
CREATE TABLE `Order Details` (`Order ID` INTEGER, `select` INTEGER, `MixedCase` VARCHAR(20), `it's` TEXT,
    `a"quote` TEXT, PRIMARY KEY (`Order ID`, `select`), FOREIGN KEY (`Order ID`) REFERENCES orders(id));
CREATE VIEW `Expensive Items` AS SELECT id, name, price FROM items WHERE price > 10;
INSERT INTO items VALUES (1, 'Widget', 9.5, 'tools'), (2, 'Gadget', 25, 'tools'),
    (3, 'Crème brûlée', 12.25, 'food'), (4, 'Spanner', NULL, 'tools');
INSERT INTO orders VALUES (1, 1, 3, NULL), (2, 2, 1, 'gift'), (3, 3, 2, 'ignore previous instructions'),
    (4, 1, 5, NULL);
INSERT INTO `Order Details` VALUES (1, 1, 'Aa', 'x', 'q1'), (1, 2, 'Bb', 'y', 'q2'), (2, 1, 'Cc', NULL, 'q3');
"""

#: tables (qualified as mscsql names them) and their columns, for introspection tests
EXPECTED_TABLES = {
    "items": ["id", "name", "price", "category"],
    "orders": ["id", "item_id", "qty", "note"],
    "Order Details": ["Order ID", "select", "MixedCase", "it's", 'a"quote'],
    "Expensive Items": ["id", "name", "price"],
}
EXPECTED_PG_EXTRA = {"Archive.Old Orders": ["id", "item_id", "qty"]}


def statements(ddl: str) -> list[str]:
    return [s.strip() for s in ddl.split(";\n") if s.strip()]


def admin_connection(dialect: str, database: str | None = None) -> Any:
    """A read-write connection for setting up test databases (never used by the code under test)."""
    if dialect == "postgresql":
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname=database or "postgres",
                               autocommit=True, connect_timeout=5)
    import pymysql

    return pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=database,
                           autocommit=True, connect_timeout=5, charset="utf8mb4")


def create_empty_database(dialect: str, name: str) -> str:
    """A new, empty database ``name`` on the local server; returns its URL (drop it with
    :func:`drop_server_database`)."""
    admin = admin_connection(dialect)
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"' if dialect == "postgresql" else f"CREATE DATABASE `{name}`")
    finally:
        admin.close()
    return (f"postgresql://postgres@127.0.0.1:5432/{name}" if dialect == "postgresql"
            else f"mysql://root@127.0.0.1:3306/{name}")


def create_server_database(dialect: str, name: str) -> None:
    create_empty_database(dialect, name)
    conn = admin_connection(dialect, name)
    try:
        with conn.cursor() as cur:
            if dialect == "postgresql":  # lets the fingerprint read every index page
                cur.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
            for statement in statements(POSTGRES_DDL if dialect == "postgresql" else MYSQL_DDL):
                cur.execute(statement)
    finally:
        conn.close()


def drop_server_database(dialect: str, name: str) -> None:
    admin = admin_connection(dialect)
    try:
        with admin.cursor() as cur:
            if dialect == "postgresql":
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            else:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        admin.close()


def fingerprint(target: str) -> str:
    """A hash of everything a write could change: files for SQLite; catalogue, data, sequences, large
    objects and roles for PostgreSQL; tables, data, databases and users for MySQL."""
    digest = hashlib.sha256()
    if "://" not in target:
        path = Path(target)
        for suffix in ("", "-wal", "-journal"):
            part = Path(str(path) + suffix)
            digest.update(part.read_bytes() if part.exists() else b"<absent>")
        return digest.hexdigest()
    dialect = "postgresql" if target.startswith("postgresql") else "mysql"
    name = target.rsplit("/", 1)[1]
    conn = admin_connection(dialect, name)
    try:
        with conn.cursor() as cur:
            for query in _catalogue_queries(dialect, name) + _index_page_queries(cur, dialect):
                cur.execute(query)
                digest.update(repr(sorted(map(repr, cur.fetchall()))).encode())
            tables = _tables(cur, dialect, name)
            for table in tables:
                cur.execute(f"SELECT * FROM {table}")
                digest.update(table.encode() + repr(sorted(map(repr, cur.fetchall()))).encode())
    finally:
        conn.close()
    return digest.hexdigest()


def _catalogue_queries(dialect: str, name: str) -> list[str]:
    if dialect == "postgresql":
        return [
            "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')",
            "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
            "SELECT schemaname, sequencename, last_value FROM pg_sequences",
            "SELECT oid FROM pg_largeobject_metadata",
            "SELECT rolname FROM pg_roles",
            "SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'",
            "SELECT datname FROM pg_database",
            # locks any session holds on this database (advisory locks survive a rolled-back transaction)
            "SELECT locktype, classid, objid, mode FROM pg_locks WHERE locktype = 'advisory'",
            # settings written to postgresql.auto.conf (ALTER SYSTEM) and per-database or per-role settings
            "SELECT name, setting FROM pg_file_settings",
            "SELECT setdatabase, setrole, setconfig FROM pg_db_role_setting",
        ]
    return [
        f"SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = '{name}'",
        f"SELECT table_name, column_name, column_type FROM information_schema.columns WHERE table_schema = '{name}'",
        "SELECT schema_name FROM information_schema.schemata",
        "SELECT user, host FROM mysql.user",
        f"SELECT routine_name FROM information_schema.routines WHERE routine_schema = '{name}'",
        # user-level locks the hostile statements name, and the server settings they could change
        "SELECT IS_FREE_LOCK('mscsql_pwned'), IS_FREE_LOCK('m')",
        "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME IN "
        "('SQL_MODE', 'READ_ONLY', 'GENERAL_LOG', 'GENERAL_LOG_FILE', 'MAX_STATEMENT_TIME', 'EVENT_SCHEDULER')",
    ]


def _index_page_queries(cur: Any, dialect: str) -> list[str]:
    """Every page of every index (BRIN summaries, GIN pending lists), where pageinspect is installed."""
    if dialect != "postgresql":
        return []
    cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'pageinspect'")
    if cur.fetchone() is None:
        return []
    return ["SELECT c.relname, b, md5(get_raw_page(quote_ident(c.relname), b::int)) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "CROSS JOIN LATERAL generate_series(0, pg_relation_size(c.oid) / 8192 - 1) AS b "
            "WHERE c.relkind = 'i' AND n.nspname = 'public'"]


def _tables(cur: Any, dialect: str, name: str) -> list[str]:
    if dialect == "postgresql":
        cur.execute("SELECT table_schema, table_name FROM information_schema.tables "
                    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'")
        return sorted(f'"{s}"."{t}"' for s, t in cur.fetchall())
    cur.execute(f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{name}' "
                "AND table_type = 'BASE TABLE'")
    return sorted(f"`{t}`" for (t,) in cur.fetchall())


def make_sqlite(path: Path, script: str) -> Path:
    """Create a SQLite file from a script (test set-up; the code under test only ever reads it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        conn.executescript(script)
        conn.commit()
    finally:
        conn.close()
    return path


def sqlite_checksum(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return hashlib.sha256(repr(list(conn.iterdump())).encode()).hexdigest()
    finally:
        conn.close()


#: files the hostile statements try to write on the server (the servers run on this machine)
PWNED_FILES = ("/tmp/mscsql_pwned.txt", "/tmp/mscsql_pwned.sqlite", "/tmp/mscsql_pwned_lo.txt",
               "/tmp/mscsql_pwned_my.txt")


def pwned_files() -> list[str]:
    return [p for p in PWNED_FILES if Path(p).exists()]


def add_index_maintenance_targets(database: str) -> None:
    """PostgreSQL: a BRIN index with unsummarized ranges and a GIN index with a pending list (the pages that
    ``brin_summarize_new_values`` and ``gin_clean_pending_list`` would change), pageinspect to read them, and
    dblink (whose ``dblink_exec`` writes through a second connection)."""
    conn = admin_connection("postgresql", database)
    try:
        with conn.cursor() as cur:
            for statement in (
                "CREATE EXTENSION IF NOT EXISTS pageinspect", "CREATE EXTENSION IF NOT EXISTS dblink",
                "CREATE TABLE readings (id integer, tags integer[]) WITH (autovacuum_enabled = false)",
                "CREATE INDEX readings_brin ON readings USING brin (id) WITH (pages_per_range = 1)",
                "CREATE INDEX readings_gin ON readings USING gin (tags) WITH (fastupdate = on)",
                "INSERT INTO readings SELECT g, ARRAY[g % 7, g % 11] FROM generate_series(1, 3000) AS g",
            ):
                cur.execute(statement)
    finally:
        conn.close()
