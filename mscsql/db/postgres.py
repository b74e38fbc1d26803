"""PostgreSQL through psycopg 3: read-only transactions with statement, lock and idle timeouts.

Each statement runs as ``BEGIN TRANSACTION READ ONLY`` + ``SET LOCAL`` timeouts + a server-side cursor
(``DECLARE ... CURSOR``, which itself accepts only queries) from which at most ``max_rows + 1`` rows are
fetched, then ``ROLLBACK``. The server cancels a query past ``statement_timeout``; a watchdog sends a
cancel request as a fallback. Sessions also default to read-only transactions.
"""

from __future__ import annotations

from typing import Any

from mscsql.db.base import Watchdog, result_failed, result_ok, timed
from mscsql.types import ExecutionResult, ExecutionStatus

_GRACE_S = 0.25  # the watchdog fires this long after the server's own timeout should have
# SET LOCAL for the three timeouts (is_local = true: they end with the transaction)
_SET_TIMEOUTS = ("SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true), "
                 "set_config('idle_in_transaction_session_timeout', %s, true)")


class PostgresDriver:
    dialect = "postgresql"

    def bind(self, engine: Any) -> None:
        """Nothing to remember: psycopg sends cancel requests itself."""

    def connect_args(self) -> dict[str, Any]:
        return {"connect_timeout": 10, "application_name": "mscsql",
                "options": "-c default_transaction_read_only=on"}

    def run(self, conn: Any, sql: str, timeout_s: float, max_rows: int) -> tuple[ExecutionResult, bool]:
        """Run ``sql`` read-only; returns the result and whether the connection may be reused."""
        import psycopg

        conn.autocommit = True  # transactions are opened explicitly below
        ms = max(1, int(timeout_s * 1000))
        timed_out = f"timed out after {timeout_s:g}s"
        with timed() as elapsed:
            try:
                with Watchdog(timeout_s + _GRACE_S, conn.cancel_safe) as dog:
                    conn.execute("BEGIN TRANSACTION READ ONLY")
                    conn.execute(_SET_TIMEOUTS, (str(ms), str(ms), str(ms + 10_000)))  # one round trip
                    with conn.cursor(name="mscsql_query") as cursor:
                        cursor.execute(sql)
                        rows = cursor.fetchmany(max_rows + 1)
                        columns = [d.name for d in cursor.description or ()]
                result = result_ok(sql, columns, rows, max_rows, elapsed())
            except psycopg.errors.QueryCanceled:
                result = result_failed(sql, ExecutionStatus.TIMEOUT, timed_out, elapsed())
            except psycopg.Error as err:
                diag = getattr(err, "diag", None)
                message = diag.message_primary if diag is not None and diag.message_primary else str(err)
                result = result_failed(sql, ExecutionStatus.TIMEOUT if dog.fired else ExecutionStatus.ERROR,
                                       timed_out if dog.fired else message, elapsed())
        try:  # whatever happened, nothing of the transaction survives
            conn.execute("ROLLBACK")
        except psycopg.Error:
            return result, False  # a cancel that landed late, or a broken connection: never reuse it
        return result, True
