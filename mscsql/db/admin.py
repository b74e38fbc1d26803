"""Administrator connections, for the admin commands only (``mscsql db readonly-role``).

These are plain read-write driver connections. Nothing that comes from a model or a user's question ever runs
on them: the commands that open one run only statements they wrote and printed themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mscsql.db.connect import parse_server_url
from mscsql.errors import DatabaseConnectionError


@dataclass
class AdminConnection:
    dialect: str
    database: str
    user: str
    host: str
    port: int | None
    mariadb: bool
    connection: Any

    def schemas(self) -> list[str]:
        """PostgreSQL: the schemas that hold tables or views (``public`` when there are none)."""
        if self.dialect != "postgresql":
            return []
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT DISTINCT table_schema FROM information_schema.tables WHERE table_schema NOT IN "
                           "('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg\\_%' "
                           "ORDER BY table_schema")
            found = [row[0] for row in cursor.fetchall()]
        self.connection.rollback()
        return found or ["public"]

    def login_url(self, name: str) -> str:
        scheme = "postgresql" if self.dialect == "postgresql" else "mysql"
        port = f":{self.port}" if self.port else ""
        return f"{scheme}://{name}@{self.host}{port}/{self.database}"


@contextmanager
def admin_connection(target: str) -> Iterator[AdminConnection]:
    """A read-write connection to the server database ``target`` (a URL), closed afterwards."""
    url, dialect = parse_server_url(target, "mscsql db readonly-role")
    host = url.host or "localhost"
    try:
        if dialect == "postgresql":
            import psycopg

            conn = psycopg.connect(host=host, port=url.port, user=url.username, password=url.password,
                                   dbname=url.database, connect_timeout=10, application_name="mscsql-admin")
            mariadb = False
            user = conn.info.user
        else:
            import pymysql

            conn = pymysql.connect(host=host, port=url.port or 3306, user=url.username or "",
                                   password=url.password or "", database=url.database, connect_timeout=10,
                                   charset="utf8mb4", autocommit=True)
            mariadb = "mariadb" in conn.get_server_info().lower()
            user = url.username or ""
    except Exception as err:  # the drivers raise many types; all mean the login failed
        first = str(err).strip().splitlines()
        raise DatabaseConnectionError(f"cannot connect to {url.render_as_string(hide_password=True)} as an "
                                      f"administrator: {first[0] if first else type(err).__name__}") from None
    try:
        yield AdminConnection(dialect=dialect, database=url.database or "", user=user, host=host, port=url.port,
                              mariadb=mariadb, connection=conn)
    finally:
        conn.close()
