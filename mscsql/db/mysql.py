"""MySQL and MariaDB through PyMySQL: read-only sessions with pinned string rules, a time limit and a reset.

Before each statement one ``SET SESSION`` pins

- ``sql_mode`` to the server's own mode without the flags that change how text is read
  (``NO_BACKSLASH_ESCAPES``, ``ANSI_QUOTES``, ``PIPES_AS_CONCAT``, ``IGNORE_SPACE`` and the composite modes
  that imply them): backslashes escape, ``"..."`` is a string, as the guard tokenizes;
- the session's transactions to read-only (so even DDL, which commits implicitly, is refused) and autocommit
  off, so the checking ``SELECT`` opens the read-only transaction the statement then runs in;
- ``max_statement_time`` (MariaDB) or ``max_execution_time`` (MySQL), and ``sql_select_limit`` to
  ``max_rows + 1`` (the server never sends more);

the values are read back and checked, and the statement runs in that read-only transaction on an
unbuffered cursor whose rows go to a :class:`~mscsql.db.collect.RowCollector`. Then a
``COM_RESET_CONNECTION`` rolls the transaction back (and user variables, ``GET_LOCK`` locks, temporary
tables and session settings all go), after which the next statement pins everything again. Multi-statement
packets are off. A watchdog runs ``KILL QUERY`` from a second connection as a fallback.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from mscsql.db.base import Watchdog, result_failed, timed
from mscsql.db.collect import OUT_OF_MEMORY, PastDeadline, RowCollector, ValueTooLarge, too_large
from mscsql.errors import SessionPinError
from mscsql.types import ExecutionResult, ExecutionStatus, ResultBudget

_GRACE_S = 0.25
_TIMEOUT_ERRORS = frozenset({3024, 1969, 1317, 1028})  # time limit exceeded / interrupted / sort aborted
_COM_RESET_CONNECTION = 0x1F  # not among PyMySQL's named commands

#: sql_mode flags that leave the lexical rules alone; the pinned mode keeps those of the server's mode
SAFE_SQL_MODE_FLAGS = frozenset({
    "ALLOW_INVALID_DATES", "EMPTY_STRING_IS_NULL", "ERROR_FOR_DIVISION_BY_ZERO", "HIGH_NOT_PRECEDENCE",
    "NO_AUTO_CREATE_USER", "NO_AUTO_VALUE_ON_ZERO", "NO_DIR_IN_CREATE", "NO_ENGINE_SUBSTITUTION",
    "NO_FIELD_OPTIONS", "NO_KEY_OPTIONS", "NO_TABLE_OPTIONS", "NO_UNSIGNED_SUBTRACTION", "NO_ZERO_DATE",
    "NO_ZERO_IN_DATE", "ONLY_FULL_GROUP_BY", "PAD_CHAR_TO_FULL_LENGTH", "REAL_AS_FLOAT",
    "SIMULTANEOUS_ASSIGNMENT", "STRICT_ALL_TABLES", "STRICT_TRANS_TABLES", "TIME_ROUND_FRACTIONAL",
    "TIME_TRUNCATE_FRACTIONAL",
})


def pinned_sql_mode(server_mode: str) -> str:
    """The server's ``sql_mode`` without the flags that change how statements are tokenized."""
    return ",".join(flag for flag in server_mode.upper().split(",") if flag.strip() in SAFE_SQL_MODE_FLAGS)


def check_pins(sql_mode: str, read_only: Any, expected_mode: str, autocommit: Any = 0) -> None:
    """Raise :class:`SessionPinError` unless the session reads back the pinned mode, read-only transactions and
    autocommit off (so the statement runs inside the read-only transaction the check itself opened)."""
    flags = {f for f in str(sql_mode).upper().split(",") if f}
    problems = []
    if flags - SAFE_SQL_MODE_FLAGS or flags != {f for f in expected_mode.split(",") if f}:
        problems.append(f"sql_mode is {sql_mode!r}")
    if str(read_only) not in ("1", "ON"):
        problems.append(f"the session is not read-only ({read_only!r})")
    if str(autocommit) not in ("0", "OFF"):
        problems.append(f"autocommit is on ({autocommit!r})")
    if problems:
        raise SessionPinError(f"the MySQL session did not take mscsql's pinned settings ({'; '.join(problems)}); "
                              "no statement runs on it",
                              hint="a proxy or server policy may reset session settings; connect to the server "
                                   "directly")


class MySQLDriver:
    dialect = "mysql"

    def __init__(self) -> None:
        self._params: dict[str, Any] = {}
        self._sql_mode: str | None = None

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

    def _pin(self, conn: Any, mariadb: bool, limit: str, max_rows: int) -> None:
        """Set and check the pinned session settings (one SET, one SELECT)."""
        read_only = "tx_read_only" if mariadb else "transaction_read_only"
        with conn.cursor() as cursor:
            if self._sql_mode is None:
                cursor.execute("SELECT @@GLOBAL.sql_mode")
                self._sql_mode = pinned_sql_mode(cursor.fetchone()[0] or "")
            cursor.execute(f"SET SESSION sql_mode = '{self._sql_mode}', SESSION {read_only} = 1, "
                           f"SESSION autocommit = 0, SESSION {limit}, SESSION sql_select_limit = {int(max_rows) + 1}")
            cursor.execute(f"SELECT @@SESSION.sql_mode, @@SESSION.{read_only}, @@SESSION.autocommit")
            mode, flag, autocommit = cursor.fetchone()
        check_pins(mode, flag, self._sql_mode, autocommit)

    def verify(self, conn: Any) -> None:
        """Check on a new connection that the server takes the pinned settings (raises SessionPinError)."""
        mariadb = "mariadb" in conn.get_server_info().lower()
        self._pin(conn, mariadb, "max_statement_time = 1" if mariadb else "max_execution_time = 1000", 1)
        _reset(conn)

    def run(self, conn: Any, sql: str, timeout_s: float, max_rows: int,
            budget: ResultBudget) -> tuple[ExecutionResult, bool]:
        """Run ``sql`` read-only; returns the result and whether the connection may be reused."""
        import pymysql
        import pymysql.cursors

        mariadb = "mariadb" in conn.get_server_info().lower()
        limit = (f"max_statement_time = {timeout_s:.3f}" if mariadb
                 else f"max_execution_time = {max(1, int(timeout_s * 1000))}")
        thread_id = conn.thread_id()
        timed_out = f"timed out after {timeout_s:g}s"
        drained = True
        collector = RowCollector(max_rows, budget, time.monotonic() + timeout_s)
        self._pin(conn, mariadb, limit, max_rows)
        # an unbuffered cursor: rows come from the socket as they are fetched, so an explicit LIMIT larger than
        # sql_select_limit still cannot fill our memory; unread rows mean the connection is dropped, not drained
        cursor = conn.cursor(pymysql.cursors.SSCursor)
        dog = Watchdog(timeout_s + _GRACE_S, lambda: self._kill_query(thread_id))
        with timed() as elapsed:
            try:
                with dog:
                    cursor.execute(sql)
                    complete = collector.add_all(iter(cursor.fetchone, None))
                    columns = [d[0] for d in cursor.description or ()]
                    # past the row cap at most one more row can be waiting unless the query has its own LIMIT
                    drained = complete or (not collector.over_budget and cursor.fetchone() is None)
                    collector.check_deadline()
                if dog.fired:  # MySQL's interrupted SLEEP() returns 1, no error
                    result = result_failed(sql, ExecutionStatus.TIMEOUT, timed_out, elapsed())
                else:
                    result = collector.result(sql, columns, elapsed())
            except PastDeadline:
                result = result_failed(sql, ExecutionStatus.TIMEOUT, timed_out, elapsed())
                drained = False
            except ValueTooLarge as err:
                result, drained = too_large(sql, str(err), elapsed()), False
            except MemoryError:
                collector.rows.clear()
                result, drained = too_large(sql, OUT_OF_MEMORY, elapsed()), False
            except pymysql.MySQLError as err:
                code = err.args[0] if err.args else None
                message = str(err.args[1] if len(err.args) > 1 else err)
                if code in _TIMEOUT_ERRORS or dog.fired:
                    result = result_failed(sql, ExecutionStatus.TIMEOUT, timed_out, elapsed())
                else:
                    result = result_failed(sql, ExecutionStatus.ERROR, message, elapsed())
            except KeyboardInterrupt:  # Ctrl+C stops the client's wait; the statement must not run on in the server
                with contextlib.suppress(Exception):
                    self._kill_query(thread_id)
                raise
        if not drained or not conn.open:
            return result, False
        try:
            cursor.close()
            _reset(conn)  # which also rolls the transaction back
        except pymysql.MySQLError:
            return result, False
        return result, True


def _reset(conn: Any) -> None:
    """COM_RESET_CONNECTION: the session as it was at login (variables, locks, temporary tables, settings)."""
    conn._execute_command(_COM_RESET_CONNECTION, b"")
    conn._read_ok_packet()
