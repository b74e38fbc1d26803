"""MySQL and MariaDB through PyMySQL: read-only sessions and transactions with a statement time limit.

Each connection is set to ``SESSION TRANSACTION READ ONLY`` when it opens (so even DDL, which commits
implicitly, is refused), and each statement runs inside ``START TRANSACTION READ ONLY`` with
``max_statement_time`` (MariaDB) or ``max_execution_time`` (MySQL) and ``sql_select_limit`` set to
``max_rows + 1`` (the server never sends more), then ``ROLLBACK``. Multi-statement packets are off.
A watchdog runs ``KILL QUERY`` from a second connection as a fallback.
"""

from __future__ import annotations

from typing import Any

from mscsql.db.base import Watchdog, result_failed, result_ok, timed
from mscsql.types import ExecutionResult, ExecutionStatus

_GRACE_S = 0.25
_TIMEOUT_ERRORS = frozenset({3024, 1969, 1317, 1028})  # time limit exceeded / interrupted / sort aborted


class MySQLDriver:
    dialect = "mysql"

    def __init__(self) -> None:
        self._params: dict[str, Any] = {}

    def bind(self, engine: Any) -> None:
        """Remember the connection parameters, for the second connection that sends KILL QUERY."""
        _args, self._params = engine.dialect.create_connect_args(engine.url)

    def connect_args(self) -> dict[str, Any]:
        return {"connect_timeout": 10, "charset": "utf8mb4",
                "init_command": "SET SESSION TRANSACTION READ ONLY"}

    def _kill_query(self, thread_id: int) -> None:
        import pymysql

        killer = pymysql.connect(**{**self._params, **self.connect_args(), "init_command": None})
        try:
            with killer.cursor() as cursor:
                cursor.execute(f"KILL QUERY {int(thread_id)}")
        finally:
            killer.close()

    def run(self, conn: Any, sql: str, timeout_s: float, max_rows: int) -> tuple[ExecutionResult, bool]:
        """Run ``sql`` read-only; returns the result and whether the connection may be reused."""
        import pymysql
        import pymysql.cursors

        mariadb = "mariadb" in conn.get_server_info().lower()
        limit = (f"max_statement_time = {timeout_s:.3f}" if mariadb
                 else f"max_execution_time = {max(1, int(timeout_s * 1000))}")
        thread_id = conn.thread_id()
        timed_out = f"timed out after {timeout_s:g}s"
        drained = True
        # an unbuffered cursor: rows come from the socket as they are fetched, so an explicit LIMIT larger than
        # sql_select_limit still cannot fill our memory; unread rows mean the connection is dropped, not drained
        cursor = conn.cursor(pymysql.cursors.SSCursor)
        dog = Watchdog(timeout_s + _GRACE_S, lambda: self._kill_query(thread_id))
        with timed() as elapsed:
            try:
                cursor.execute(f"SET SESSION {limit}, SESSION sql_select_limit = {int(max_rows) + 1}")
                cursor.execute("START TRANSACTION READ ONLY")
                with dog:
                    cursor.execute(sql)
                    rows = list(cursor.fetchmany(max_rows + 1))
                    columns = [d[0] for d in cursor.description or ()]
                    drained = len(rows) <= max_rows or cursor.fetchone() is None
                if dog.fired or elapsed() >= timeout_s:  # MySQL's interrupted SLEEP() returns 1, no error
                    result = result_failed(sql, ExecutionStatus.TIMEOUT, timed_out, elapsed())
                else:
                    result = result_ok(sql, columns, rows, max_rows, elapsed())
            except pymysql.MySQLError as err:
                code = err.args[0] if err.args else None
                message = str(err.args[1] if len(err.args) > 1 else err)
                if code in _TIMEOUT_ERRORS or dog.fired:
                    result = result_failed(sql, ExecutionStatus.TIMEOUT, timed_out, elapsed())
                else:
                    result = result_failed(sql, ExecutionStatus.ERROR, message, elapsed())
        if not drained or not conn.open:
            return result, False
        try:
            cursor.close()
            conn.query("ROLLBACK")
        except pymysql.MySQLError:
            return result, False
        return result, True

