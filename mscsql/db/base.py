"""The Database protocol and what its implementations share: guard first, then a read-only run."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from mscsql.db.guard import CheckedStatement, check_sql
from mscsql.db.values import to_cell
from mscsql.defaults import ExecutionLimits, ExecutionView, checked_limits
from mscsql.errors import UnsafeSQLError
from mscsql.types import ExecutionResult, ExecutionStatus, ResultBudget, Schema, Table, TablePolicy

if TYPE_CHECKING:
    from mscsql.config import SchemaSettings

log = logging.getLogger(__name__)


@runtime_checkable
class Database(Protocol):
    """A database mscsql can describe and query without ever changing it."""

    dialect: str  # "sqlite", "postgresql" or "mysql"

    @property
    def display_url(self) -> str: ...

    def schema(self, *, refresh: bool = False) -> Schema: ...

    def execute(self, sql: str, *, timeout_s: float | None = None, max_rows: int | None = None,
                budget: ResultBudget | None = None) -> ExecutionResult: ...

    def check(self, sql: str, tables: TablePolicy | None = None) -> CheckedStatement:
        """The guard's verdict on ``sql`` for this database (raises :class:`UnsafeSQLError`)."""
        ...

    def quote(self, identifier: str) -> str:
        """``identifier`` quoted for this database's dialect."""
        ...

    def quote_table(self, table: Table) -> str:
        """A table's (schema-qualified) name, quoted for this database's dialect."""
        ...

    def close(self) -> None: ...


#: no timer thread ever waits longer than this at once (threading refuses waits past ``TIMEOUT_MAX``)
LONGEST_WAIT_S = min(threading.TIMEOUT_MAX / 2, 30 * 24 * 3600.0)


class Watchdog:
    """Calls ``cancel`` once if the guarded block runs past ``after_s`` seconds (client-side fallback
    to the engine's own statement timeout)."""

    def __init__(self, after_s: float, cancel: Callable[[], None]) -> None:
        self.fired = False
        self._cancel = cancel
        self._timer = threading.Timer(min(after_s, LONGEST_WAIT_S), self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        try:
            self._cancel()
        except Exception as err:  # cancelling is best effort; the engine timeout is the first line
            log.warning("cancelling a runaway query failed: %s", err)

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        self._timer.join()


@contextmanager
def timed() -> Iterator[Callable[[], float]]:
    start = time.perf_counter()
    yield lambda: time.perf_counter() - start


def result_failed(sql: str, status: ExecutionStatus, message: str, elapsed_s: float) -> ExecutionResult:
    return ExecutionResult(sql=sql, status=status, error=message.strip(), elapsed_s=elapsed_s)


class GuardedDatabase:
    """Shared behaviour: every statement passes the guard, then runs through the engine's read-only path.

    Subclasses implement ``_run_readonly`` (layers 2 and 3), ``quote_table`` / ``quote`` and
    ``_introspect``.
    """

    dialect: str

    def __init__(self, execution: ExecutionView | None = None, schema_settings: SchemaSettings | None = None,
                 annotate: Callable[[Schema], Schema] | None = None, db_id: str | None = None) -> None:
        # ExecutionSettings from a config, else the same defaults without loading the config models
        self.execution = execution or ExecutionLimits()
        self._schema_settings = schema_settings
        self.db_id = db_id
        self._annotate = annotate
        self._schema: Schema | None = None
        self._schema_lock = threading.Lock()

    @property
    def schema_settings(self) -> SchemaSettings:
        """How :meth:`schema` samples example values (the defaults unless given; built on first use, so running
        statements never loads the config models)."""
        if self._schema_settings is None:
            from mscsql.config import SchemaSettings

            self._schema_settings = SchemaSettings()
        return self._schema_settings

    @schema_settings.setter
    def schema_settings(self, settings: SchemaSettings) -> None:
        self._schema_settings = settings

    # -- running SQL ----------------------------------------------------------------------------
    def check(self, sql: str, tables: TablePolicy | None = None) -> CheckedStatement:
        """The guard's verdict on ``sql`` with this database's dialect, allowed functions and tables (and,
        given ``tables``, those tables too)."""
        checked = check_sql(sql, self.dialect, self.execution.function_allowlist, self.execution.table_policy)
        if tables is not None and tables.restricts:
            check_sql(sql, self.dialect, self.execution.function_allowlist, tables)
        return checked

    def execute(self, sql: str, *, timeout_s: float | None = None, max_rows: int | None = None,
                budget: ResultBudget | None = None) -> ExecutionResult:
        """Run one untrusted statement read-only. Never raises for a bad statement: a refusal, an engine
        error, a timeout and a result over the byte budget all come back as the result's ``status``.
        Raises :class:`ConfigError` for an unusable ``timeout_s`` or ``max_rows``."""
        timeout_s, max_rows = checked_limits(self.execution.timeout_s if timeout_s is None else timeout_s,
                                             self.execution.max_rows if max_rows is None else max_rows)
        try:
            checked = self.check(sql)
        except UnsafeSQLError as err:
            return result_failed(sql, ExecutionStatus.REJECTED, err.reason, 0.0)
        result = self._run_readonly(checked.executable, timeout_s, max_rows, budget)
        return result if result.sql == sql else replace(result, sql=sql)

    def _run_readonly(self, sql: str, timeout_s: float, max_rows: int,
                      budget: ResultBudget | None = None) -> ExecutionResult:
        """Layers 2 and 3 without the guard: the engine's read-only run with the limits (tests call it to
        show what the engine alone stops)."""
        raise NotImplementedError

    def quote(self, identifier: str) -> str:
        raise NotImplementedError

    def quote_table(self, table: Table) -> str:
        if table.schema:
            return f"{self.quote(table.schema)}.{self.quote(table.name)}"
        return self.quote(table.name)

    # -- describing the database ----------------------------------------------------------------
    def schema(self, *, refresh: bool = False) -> Schema:
        """Tables and views with columns, keys, row counts and example values (cached)."""
        with self._schema_lock:
            if self._schema is None or refresh:
                schema = self.execution.table_policy.visible(self._introspect())
                schema = replace(schema, db_id=self.db_id,
                                 tables=tuple(self._with_counts_and_examples(t) for t in schema.tables))
                if self._annotate is not None:
                    schema = self._annotate(schema)
                self._schema = schema
            return self._schema

    def _introspect(self) -> Schema:
        raise NotImplementedError

    def _internal_query(self, sql: str) -> ExecutionResult:
        return self._run_readonly(sql, self.execution.timeout_s, self.schema_settings.examples_per_column + 1)

    def _with_counts_and_examples(self, table: Table) -> Table:
        counted = self._internal_query(f"SELECT COUNT(*) FROM {self.quote_table(table)}")
        row_count = int(counted.rows[0][0]) if counted.ok and counted.rows else None
        k = self.schema_settings.examples_per_column
        if k == 0 or row_count == 0:
            return replace(table, row_count=row_count)
        columns = tuple(replace(c, examples=self._examples(table, c.name)) for c in table.columns)
        return replace(table, row_count=row_count, columns=columns)

    def _examples(self, table: Table, column: str) -> tuple[Any, ...]:
        """The most frequent distinct non-null values among the first ``example_scan_rows`` rows, ties
        broken by value, so the choice is deterministic for a given database content."""
        settings = self.schema_settings
        col = self.quote(column)
        sql = (f"SELECT v, COUNT(*) AS n FROM (SELECT {col} AS v FROM {self.quote_table(table)} "
               f"LIMIT {settings.example_scan_rows}) AS mscsql_scan WHERE v IS NOT NULL "
               f"GROUP BY v ORDER BY n DESC, v LIMIT {settings.examples_per_column}")
        result = self._internal_query(sql)
        if not result.ok:
            log.debug("no examples for %s.%s: %s", table.qualified_name, column, result.error)
            return ()
        values = []
        for row in result.rows:
            value = to_cell(row[0])
            if isinstance(value, str) and len(value) > settings.example_max_chars:
                value = value[: settings.example_max_chars - 1] + "…"
            values.append(value)
        return tuple(values)

    # -- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        pass

    def __enter__(self) -> GuardedDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

