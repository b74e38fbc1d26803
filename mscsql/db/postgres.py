"""PostgreSQL through psycopg 3: read-only transactions with pinned string rules, timeouts and a reset.

Each statement runs as

1. ``BEGIN TRANSACTION READ ONLY``;
2. one ``SELECT set_config(...)`` that sets, for this transaction only, the statement, lock and idle
   timeouts and the **pinned rules**: ``standard_conforming_strings = on`` and ``backslash_quote = off`` (the
   string rules the guard tokenizes with) and a ``search_path`` that starts with ``pg_catalog`` (so an
   unqualified name always calls the built-in function the guard's allowlist means, never a same-named
   function of another schema); the values the server reports back are checked, and the statement does not
   run when they are not the pinned ones;
3. a server-side cursor (``DECLARE ... CURSOR``, which itself accepts only queries), from which rows are
   fetched in batches into a :class:`~mscsql.db.collect.RowCollector` (row cap, byte budget, deadline);
4. ``ROLLBACK`` and ``DISCARD ALL``, so nothing of one statement (advisory locks, settings, temporary
   tables, prepared statements, ``setseed``) reaches the next one on the pooled connection.

The server cancels a query past ``statement_timeout``; a watchdog sends a cancel request as a fallback.
Sessions also start with the pinned rules and ``default_transaction_read_only``.
"""

from __future__ import annotations

import time
from typing import Any

from mscsql.db.base import Watchdog, result_failed, timed
from mscsql.db.collect import OUT_OF_MEMORY, PastDeadline, RowCollector, ValueTooLarge, too_large
from mscsql.errors import SessionPinError
from mscsql.types import ExecutionResult, ExecutionStatus, ResultBudget

_GRACE_S = 0.25  # the watchdog fires this long after the server's own timeout should have
#: the transaction and the settings every statement runs with (is_local = true: they end with the transaction),
#: read back; one round trip (the values are numbers mscsql formats itself)
_BEGIN_AND_PIN = (
        "BEGIN TRANSACTION READ ONLY; "
        "SELECT set_config('statement_timeout', '{ms}', true), set_config('lock_timeout', '{ms}', true), "
        "set_config('idle_in_transaction_session_timeout', '{idle_ms}', true), "
        "set_config('standard_conforming_strings', 'on', true), set_config('backslash_quote', 'off', true), "
        "set_config('search_path', concat_ws(', ', 'pg_catalog', nullif(current_setting('search_path'), '')), "
        "true), current_setting('transaction_read_only')")
#: what the pinned settings must read back as (columns 3 to 6 of the pinning SELECT)
PINNED = {"standard_conforming_strings": "on", "backslash_quote": "off", "transaction_read_only": "on"}


def check_pins(values: tuple[Any, ...]) -> None:
    """Raise :class:`SessionPinError` unless ``values`` (the row the pinning SELECT returns) show the pinned
    rules."""
    scs, backslash, search_path, read_only = (str(v) for v in values[3:7])
    found = {"standard_conforming_strings": scs, "backslash_quote": backslash, "transaction_read_only": read_only}
    wrong = {k: v for k, v in found.items() if v != PINNED[k]}
    if not search_path.startswith("pg_catalog"):
        wrong["search_path"] = search_path
    if wrong:
        detail = ", ".join(f"{k} is {v!r}" for k, v in sorted(wrong.items()))
        raise SessionPinError(f"the PostgreSQL session did not take mscsql's pinned settings ({detail}); "
                              "no statement runs on it",
                              hint="a connection pooler or server policy may reset settings; connect to the "
                                   "server directly, or allow sessions to set them")


def _begin_and_pin(conn: Any, ms: int) -> None:
    cursor = conn.execute(_BEGIN_AND_PIN.format(ms=int(ms), idle_ms=int(ms) + 10_000))
    cursor.nextset()  # the first result is BEGIN's
    check_pins(cursor.fetchone())


class PostgresDriver:
    dialect = "postgresql"

    def bind(self, engine: Any) -> None:
        """Nothing to remember: psycopg sends cancel requests itself."""

    def connect_args(self) -> dict[str, Any]:
        return {"connect_timeout": 10, "application_name": "mscsql", "prepare_threshold": None,
                "options": "-c default_transaction_read_only=on -c standard_conforming_strings=on "
                           "-c backslash_quote=off"}

    def verify(self, conn: Any) -> None:
        """Check on a new connection that the server takes the pinned settings (raises SessionPinError)."""
        conn.autocommit = True
        try:
            _begin_and_pin(conn, 1000)
        finally:
            conn.execute("ROLLBACK")

    def run(self, conn: Any, sql: str, timeout_s: float, max_rows: int,
            budget: ResultBudget) -> tuple[ExecutionResult, bool]:
        """Run ``sql`` read-only; returns the result and whether the connection may be reused."""
        import psycopg

        conn.autocommit = True  # transactions are opened explicitly below
        ms = max(1, int(timeout_s * 1000))
        timed_out = f"timed out after {timeout_s:g}s"
        collector = RowCollector(max_rows, budget, time.monotonic() + timeout_s)
        with timed() as elapsed:
            try:
                with Watchdog(timeout_s + _GRACE_S, conn.cancel_safe) as dog:
                    _begin_and_pin(conn, ms)
                    with conn.cursor(name="mscsql_query") as cursor:
                        cursor.execute(sql)
                        while True:
                            wanted = collector.batch_size()
                            batch = cursor.fetchmany(wanted)
                            if not collector.add_all(batch) or len(batch) < wanted:
                                break
                        columns = [d.name for d in cursor.description or ()]
                    collector.check_deadline()
                result = collector.result(sql, columns, elapsed())
            except psycopg.errors.QueryCanceled:
                result = result_failed(sql, ExecutionStatus.TIMEOUT, timed_out, elapsed())
            except PastDeadline:
                result = result_failed(sql, ExecutionStatus.TIMEOUT, timed_out, elapsed())
            except ValueTooLarge as err:
                result = too_large(sql, str(err), elapsed())
            except MemoryError:
                collector.rows.clear()
                result = too_large(sql, OUT_OF_MEMORY, elapsed())
            except psycopg.Error as err:
                diag = getattr(err, "diag", None)
                message = diag.message_primary if diag is not None and diag.message_primary else str(err)
                result = result_failed(sql, ExecutionStatus.TIMEOUT if dog.fired else ExecutionStatus.ERROR,
                                       timed_out if dog.fired else message, elapsed())
        try:  # whatever happened, nothing of the transaction or the session survives
            conn.execute("ROLLBACK")
            conn.execute("DISCARD ALL")
        except psycopg.Error:
            return result, False  # a cancel that landed late, or a broken connection: never reuse it
        return result, True
