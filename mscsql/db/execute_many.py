"""Run many (database, SQL) pairs: guarded, deduplicated, in a bounded thread pool, in input order."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from mscsql.config import ExecutionSettings
from mscsql.db.base import Database, result_failed
from mscsql.db.connect import connect
from mscsql.db.guard import check_sql
from mscsql.errors import UnsafeSQLError
from mscsql.types import ExecutionItem, ExecutionResult, ExecutionStatus

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


def execute_many(items: Iterable[ExecutionItem | tuple[Any, str]], *, workers: int | None = None,
                 timeout_s: float | None = None, max_rows: int | None = None,
                 progress: bool = False) -> list[ExecutionResult]:
    """Execute every pair read-only and return one result per item, in input order.

    Statements that normalise to the same text on the same database run once (the result is shared,
    with each item's own SQL text); the guard refuses unsafe statements without running them; at most
    ``workers`` statements run at a time, each with its own timeout.
    """
    settings = ExecutionSettings()
    workers = workers or settings.workers
    pairs = [_as_item(i) for i in items]
    databases = _Databases()
    try:
        results: list[ExecutionResult | None] = [None] * len(pairs)
        unique: dict[_Key, tuple[Database, str]] = {}
        keys: list[_Key | None] = []
        for index, pair in enumerate(pairs):
            db = databases.get(pair.database)
            try:
                checked = check_sql(pair.sql, db.dialect)
            except UnsafeSQLError as err:
                results[index] = result_failed(pair.sql, ExecutionStatus.REJECTED, err.reason, 0.0)
                keys.append(None)
                continue
            key = (id(db), checked.normalized)
            unique.setdefault(key, (db, pair.sql))
            keys.append(key)
        log.debug("execute_many: %d items, %d distinct statements", len(pairs), len(unique))
        computed = _run_unique(list(unique.items()), workers, timeout_s, max_rows, progress)
        for index, key in enumerate(keys):
            if key is None:
                continue
            shared = computed[key]
            results[index] = shared if shared.sql == pairs[index].sql else replace(shared, sql=pairs[index].sql)
        return [r for r in results if r is not None]
    finally:
        databases.close()


_Key = tuple[int, str]
_Task = tuple[_Key, tuple[Database, str]]


def _run_unique(tasks: Sequence[_Task], workers: int, timeout_s: float | None, max_rows: int | None,
                progress: bool) -> dict[_Key, ExecutionResult]:
    def run(task: _Task) -> ExecutionResult:
        _key, (db, sql) = task
        return db.execute(sql, timeout_s=timeout_s, max_rows=max_rows)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tasks), desc="executing", unit="stmt")
    out: dict[_Key, ExecutionResult] = {}
    try:
        if workers <= 1 or len(tasks) <= 1:
            for task in tasks:
                out[task[0]] = run(task)
                if bar is not None:
                    bar.update()
            return out
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mscsql-exec") as pool:
            for task, result in zip(tasks, pool.map(run, tasks), strict=False):
                out[task[0]] = result
                if bar is not None:
                    bar.update()
        return out
    finally:
        if bar is not None:
            bar.close()
