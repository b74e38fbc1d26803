"""SQLite databases, opened read-only three times over.

- the file is opened with ``mode=ro`` (the engine itself refuses every write),
- ``PRAGMA query_only=ON`` and an attachment limit of zero,
- an authorizer that allows only reads (SELECT, reading columns, recursive CTEs, a few introspection
  pragmas and side-effect-free functions) and denies every other action.

Timeouts are enforced inside the engine: a watcher thread calls ``sqlite3_interrupt`` at the deadline, so a
runaway query is stopped where it runs, the connection stays usable, and no thread keeps working on it. Ctrl+C
stops running statements the same way (:func:`interrupt_running`, called by the command line).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote as url_quote

from mscsql.db.base import LONGEST_WAIT_S, GuardedDatabase, result_failed, timed
from mscsql.db.collect import OUT_OF_MEMORY, PastDeadline, RowCollector, ValueTooLarge, too_large
from mscsql.db.comments import ddl_column_comments
from mscsql.db.functions import forbidden_sqlite_function
from mscsql.db.values import text_factory
from mscsql.errors import DatabaseError, DatabaseNotFound
from mscsql.types import Column, ExecutionResult, ExecutionStatus, ForeignKey, ResultBudget, Schema, Table

#: pragmas the authorizer lets through (introspection only; all read-only)
_READ_PRAGMAS = frozenset({"table_info", "table_xinfo", "foreign_key_list", "index_list", "index_info",
                           "index_xinfo", "table_list", "database_list", "collation_list"})

#: largest string or blob a connection may build before a statement sets its own budget (SQLite's default
#: allows 1 GB); each statement then lowers or raises it to its budget's ``max_value_bytes``
MAX_VALUE_BYTES = 32 * 1024 * 1024
#: SQLite's message when a string or blob would pass the length limit
_TOO_BIG = "string or blob too big"

_ALLOWED_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE})


def _authorize(action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None) -> int:
    if action in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION:
        if forbidden_sqlite_function((arg2 or "").lower()):
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _READ_PRAGMAS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


_UNDECODABLE = "Could not decode to UTF-8"


def open_readonly(path: str | Path) -> sqlite3.Connection:
    """A connection to an existing SQLite file on which no statement can write."""
    path = Path(path)
    if not path.is_file():
        raise DatabaseNotFound(f"SQLite database {path} does not exist",
                               hint="check the path; mscsql never creates an empty database in its place")
    uri = f"file:{url_quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        conn.text_factory = str  # strict UTF-8, decoded by SQLite's C code; see run_on_connection
        conn.execute("PRAGMA query_only = ON")
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)  # no zeroblob(10**9) in our memory
        conn.set_authorizer(_authorize)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # fails now if not a database
    except sqlite3.DatabaseError as err:
        raise DatabaseError(f"cannot open {path} as a SQLite database: {err}") from None
    return conn


class _DeadlineWatch:
    """One daemon thread that interrupts SQLite connections whose statement ran past its deadline.

    ``sqlite3_interrupt`` stops the statement inside the engine. Arming and disarming happen under one lock,
    so once a statement is disarmed no interrupt can reach its connection. Unlike a progress handler, it
    costs the running query nothing: no Python callback (and no GIL) while the engine works.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, sqlite3.Connection]] = []
        self._armed: set[int] = set()
        self._fired: set[int] = set()
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, conn: sqlite3.Connection, timeout_s: float) -> int:
        token = next(self._tokens)
        if not timeout_s <= LONGEST_WAIT_S:  # an infinite or NaN timeout must not break the heap's order
            timeout_s = LONGEST_WAIT_S
        deadline = time.monotonic() + timeout_s
        with self._cond:
            earliest = not self._heap or deadline < self._heap[0][0]
            heapq.heappush(self._heap, (deadline, token, conn))
            self._armed.add(token)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="mscsql-sqlite-deadlines", daemon=True)
                self._thread.start()
            if earliest:  # the watcher sleeps until the old earliest deadline: wake it only when that changes
                self._cond.notify()
        return token

    def disarm(self, token: int) -> bool:
        """Stop watching; True when the statement was interrupted for its deadline."""
        with self._cond:
            self._armed.discard(token)
            if token in self._fired:
                self._fired.discard(token)
                return True
            return False

    def interrupt_all(self) -> None:
        """Interrupt every statement running now (Ctrl+C): each fails as interrupted; a statement that is
        already disarmed is never touched."""
        with self._cond:
            for _deadline, token, conn in self._heap:
                if token in self._armed:
                    with contextlib.suppress(sqlite3.Error):
                        conn.interrupt()

    def _watch(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][1] not in self._armed:
                    heapq.heappop(self._heap)  # finished in time
                if not self._heap:
                    self._cond.wait()
                    continue
                deadline, token, conn = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cond.wait(min(wait, LONGEST_WAIT_S))  # any deadline, even an infinite one
                    continue
                heapq.heappop(self._heap)
                self._armed.discard(token)
                self._fired.add(token)
                with contextlib.suppress(sqlite3.Error):  # a closed connection has nothing left to interrupt
                    conn.interrupt()


_DEADLINES = _DeadlineWatch()
# a forked child starts with a fresh watcher: the parent's thread does not exist there, and its lock may
# have been copied while held
os.register_at_fork(after_in_child=_DEADLINES.__init__)


def interrupt_running() -> None:
    """Stop every SQLite statement this process is running now (the command line calls it on Ctrl+C, which
    Python would otherwise act on only once the statement returned: at its timeout)."""
    _DEADLINES.interrupt_all()


def _collect(cursor: sqlite3.Cursor, sql: str, collector: RowCollector) -> list[str]:
    cursor.execute(sql)
    while True:  # in batches that grow while rows stay small (fetchmany's loop is C; one row at a time is not)
        wanted = collector.batch_size()
        batch = cursor.fetchmany(wanted)
        if not collector.add_all(batch) or len(batch) < wanted:
            break
    return [d[0] for d in cursor.description or ()]


def run_on_connection(conn: sqlite3.Connection, sql: str, timeout_s: float, max_rows: int,
                      lenient_text: Callable[[bytes], str] | None = None,
                      budget: ResultBudget | None = None) -> ExecutionResult:
    """Layers 2 and 3 on one read-only connection: run ``sql``; the engine is interrupted at the deadline,
    and rows are fetched and converted within the deadline and the byte budget.

    Text is decoded by SQLite's own strict UTF-8 decoder (fast); when a value is not valid UTF-8 and
    ``lenient_text`` is given, the statement runs again with that decoder, so the result is the same as
    decoding every value leniently, at the cost of a second run only for such rare data.
    """
    budget = budget or ResultBudget()
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, budget.max_value_bytes)  # no value past it is ever built
    cursor = conn.cursor()
    deadline = time.monotonic() + timeout_s
    token = _DEADLINES.arm(conn, timeout_s)
    failure: ExecutionResult | None = None
    collector = RowCollector(max_rows, budget, deadline)
    with timed() as elapsed:
        try:
            try:
                columns = _collect(cursor, sql, collector)
            except sqlite3.OperationalError as err:
                if lenient_text is None or not str(err).startswith(_UNDECODABLE):
                    raise
                conn.text_factory = lenient_text
                collector = RowCollector(max_rows, budget, deadline)
                try:
                    columns = _collect(cursor, sql, collector)
                finally:
                    conn.text_factory = str
            collector.check_deadline()
        except (sqlite3.Error, sqlite3.Warning, OverflowError, ValueError) as err:
            status = ExecutionStatus.TOO_LARGE if _TOO_BIG in str(err) else ExecutionStatus.ERROR
            failure = result_failed(sql, status, str(err), 0.0)
        except ValueTooLarge as err:
            failure = too_large(sql, str(err), 0.0)
        except MemoryError:
            collector.rows.clear()
            failure = too_large(sql, OUT_OF_MEMORY, 0.0)
        except PastDeadline:
            pass
        finally:  # always disarmed, whatever was raised, so no late interrupt can reach the next statement
            timed_out = _DEADLINES.disarm(token) or time.monotonic() > deadline
            cursor.close()
        if timed_out:  # (also when the deadline came just after the last row: it took too long all the same)
            return result_failed(sql, ExecutionStatus.TIMEOUT, f"timed out after {timeout_s:g}s", elapsed())
        if failure is not None:
            return replace(failure, elapsed_s=elapsed())
        return collector.result(sql, columns, elapsed())


class SQLiteDatabase(GuardedDatabase):
    """A SQLite file behind a small pool of read-only connections (one per concurrent statement)."""

    dialect = "sqlite"

    def __init__(self, path: str | Path, *, max_idle: int = 8, text_decoding: str = "replace",
                 **kwargs: object) -> None:
        self.path = Path(path)
        self.text_decoding = text_decoding
        self._lenient_text = None if text_decoding == "strict" else text_factory(text_decoding)
        self._idle: list[sqlite3.Connection] = [open_readonly(self.path)]  # fails now if it cannot be opened
        self._max_idle = max_idle
        self._lock = threading.Lock()
        self._closed = False
        super().__init__(**kwargs)  # type: ignore[arg-type]

    @property
    def display_url(self) -> str:
        return f"sqlite:///{self.path}"

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = open_readonly(self.path)
        try:
            yield conn
        finally:
            with self._lock:
                keep = not self._closed and len(self._idle) < self._max_idle
                if keep:
                    self._idle.append(conn)
            if not keep:
                conn.close()

    def _run_readonly(self, sql: str, timeout_s: float, max_rows: int,
                      budget: ResultBudget | None = None) -> ExecutionResult:
        with self._connection() as conn:
            return run_on_connection(conn, sql, timeout_s, max_rows, self._lenient_text,
                                     budget or self.execution.budget)

    def quote(self, identifier: str) -> str:
        return '"' + identifier.replace('"', '""') + '"'

    def _introspect(self) -> Schema:
        with self._connection() as conn:
            return self._introspect_on(conn)

    def _introspect_on(self, conn: sqlite3.Connection) -> Schema:
        objects = conn.execute(
            "SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid").fetchall()
        tables = []
        for name, kind, ddl in objects:
            comments = ddl_column_comments(ddl)
            # cid, name, type, notnull, default, pk position, hidden (1 = hidden virtual-table column)
            info = [r for r in conn.execute(f"PRAGMA table_xinfo({self.quote(name)})") if r[6] != 1]
            pk = tuple(r[1] for r in sorted(info, key=lambda r: r[5]) if r[5] > 0)
            columns = tuple(Column(name=r[1], type=r[2] or "", nullable=not r[3] and r[5] == 0,
                                   primary_key=r[5] > 0, description=comments.get(r[1].lower())) for r in info)
            fks = self._foreign_keys(conn, name, pk_of=lambda t: self._primary_key(conn, t))
            tables.append(Table(name=name, columns=columns, kind=kind, primary_key=pk, foreign_keys=fks))
        return Schema(dialect=self.dialect, tables=tuple(tables))

    def _primary_key(self, conn: sqlite3.Connection, table: str) -> tuple[str, ...]:
        rows = conn.execute(f"PRAGMA table_info({self.quote(table)})").fetchall()
        return tuple(r[1] for r in sorted(rows, key=lambda r: r[5]) if r[5] > 0)

    def _foreign_keys(self, conn: sqlite3.Connection, table: str,
                      pk_of: Callable[[str], tuple[str, ...]]) -> tuple[ForeignKey, ...]:
        # id, seq, parent table, from, to, on_update, on_delete, match
        rows = sorted(conn.execute(f"PRAGMA foreign_key_list({self.quote(table)})").fetchall(),
                      key=lambda r: (r[0], r[1]))
        grouped: dict[int, list[tuple[str, str, str | None]]] = {}
        for fk_id, _seq, ref_table, src, dst, *_rest in rows:
            grouped.setdefault(fk_id, []).append((ref_table, src, dst))
        keys = []
        for parts in grouped.values():
            ref_table = parts[0][0]
            ref_cols = [dst for _r, _s, dst in parts]
            if any(c is None for c in ref_cols):  # "REFERENCES parent" means the parent's primary key
                ref_cols = list(pk_of(ref_table)) or ref_cols
            keys.append(ForeignKey(columns=tuple(s for _r, s, _d in parts), ref_table=ref_table,
                                   ref_columns=tuple(c or "" for c in ref_cols)))
        return tuple(keys)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
