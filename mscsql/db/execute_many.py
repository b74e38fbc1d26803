"""Run many (database, SQL) pairs: guarded, deduplicated, in a bounded thread pool, in input order."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from mscsql.db.base import Database, result_failed
from mscsql.db.connect import connect
from mscsql.db.guard import CheckedStatement, check_sql
from mscsql.defaults import checked_limits, default_workers
from mscsql.errors import UnsafeSQLError
from mscsql.progress import DeferredBar
from mscsql.types import ExecutionItem, ExecutionResult, ExecutionStatus, ResultBudget, TablePolicy

log = logging.getLogger(__name__)


def _as_item(item: ExecutionItem | tuple[Any, str]) -> ExecutionItem:
    if isinstance(item, ExecutionItem):
        return item
    database, sql = item
    return ExecutionItem(database=database, sql=sql)


class _Databases:
    """Databases given as objects are used as they are; targets (paths, URLs) are opened once."""

    def __init__(self) -> None:
        self._opened: dict[str, Database] = {}

    def get(self, database: Any) -> Database:
        if isinstance(database, (str, Path)):
            key = str(database)
            if key not in self._opened:
                self._opened[key] = connect(database)
            return self._opened[key]
        return database

    def close(self) -> None:
        for db in self._opened.values():
            db.close()


def _checked(db: Any, sql: str, tables: TablePolicy | None = None) -> CheckedStatement:
    """The guard's verdict with the database's own policy (its allowed functions and tables) where it has one,
    and the item's ``tables``."""
    check = getattr(db, "check", None)
    if check is not None:
        return check(sql, tables) if tables is not None else check(sql)
    return check_sql(sql, db.dialect, frozenset(), tables)


def execute_many(items: Iterable[ExecutionItem | tuple[Any, str]], *, workers: int | None = None,
                 timeout_s: float | None = None, max_rows: int | None = None, budget: ResultBudget | None = None,
                 progress: bool = False) -> list[ExecutionResult]:
    """Execute every pair read-only and return one result per item, in input order.

    The guard checks every statement first (unsafe ones are refused without running); statements that
    normalise to the same text on the same database (with the same budget) then run once (the result is
    shared, with each item's own SQL text), on at most ``workers`` threads that pull the next statement as
    they finish, each statement with its own timeout and byte budget (the item's, else ``budget``, else the
    database's). Raises :class:`ConfigError` for an unusable ``timeout_s`` or ``max_rows``.
    """
    if timeout_s is not None or max_rows is not None:
        checked_limits(30.0 if timeout_s is None else timeout_s, 1 if max_rows is None else max_rows)
    workers = workers or default_workers()
    pairs = [_as_item(i) for i in items]
    databases = _Databases()
    bar = DeferredBar(len(pairs), "executing", "stmt", enabled=progress)
    try:
        slots: list[ExecutionResult | int] = []  # a result, or the index of a distinct statement
        distinct: dict[tuple[int, str, ResultBudget | None], int] = {}
        tasks: list[tuple[Database, str, ResultBudget | None]] = []
        for pair in pairs:
            db = databases.get(pair.database)
            try:
                checked = _checked(db, pair.sql, pair.tables)
            except UnsafeSQLError as err:
                slots.append(result_failed(pair.sql, ExecutionStatus.REJECTED, err.reason, 0.0))
                continue
            item_budget = pair.budget or budget
            key = (id(db), checked.normalized, item_budget)
            if key not in distinct:
                distinct[key] = len(tasks)
                tasks.append((db, checked.sql, item_budget))
            slots.append(distinct[key])
        bar.update(len(pairs) - len(tasks))
        log.debug("execute_many: %d items, %d distinct statements", len(pairs), len(tasks))
        computed = _run_pulling(tasks, workers, timeout_s, max_rows, bar)
        results = []
        for pair, slot in zip(pairs, slots, strict=True):
            result = computed[slot] if isinstance(slot, int) else slot
            results.append(result if result.sql == pair.sql else replace(result, sql=pair.sql))
        return results
    finally:
        bar.close()
        databases.close()


def _run_pulling(tasks: list[tuple[Database, str, ResultBudget | None]], workers: int, timeout_s: float | None,
                 max_rows: int | None, bar: DeferredBar) -> list[ExecutionResult]:
    """Run ``tasks`` on up to ``workers`` threads; each thread takes the next task when it is free (no
    per-statement hand-off, which costs more than a small query), and the first infrastructure error stops
    the others and is raised here."""
    results: list[ExecutionResult | None] = [None] * len(tasks)
    next_index = itertools.count()  # next() on a count is atomic under the GIL
    failures: list[BaseException] = []

    def work() -> None:
        while not failures:
            index = next(next_index)
            if index >= len(tasks):
                return
            db, sql, budget = tasks[index]
            try:
                results[index] = (db.execute(sql, timeout_s=timeout_s, max_rows=max_rows, budget=budget)
                                  if budget is not None else db.execute(sql, timeout_s=timeout_s, max_rows=max_rows))
            except BaseException as err:  # re-raised in the caller's thread
                failures.append(err)
                return
            bar.update()

    count = min(max(1, workers), len(tasks))
    if count <= 1:
        work()
    else:
        threads = [threading.Thread(target=work, name=f"mscsql-exec-{k}", daemon=True) for k in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
    return [r for r in results if r is not None]
