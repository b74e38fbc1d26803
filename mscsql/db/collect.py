"""Rows are taken from a cursor one at a time, converted and counted against the row cap, the byte budget and
the deadline, so that neither a huge result nor a slow conversion can outlast a statement's limits.

Every engine feeds its cursor's rows to a :class:`RowCollector`. A cell counts the length of its JSON-safe
text (a blob's hex text has two characters a byte) plus :data:`CELL_OVERHEAD`, a row :data:`ROW_OVERHEAD`,
which is about what CPython keeps for them. A value longer than the budget's ``max_value_bytes`` stops the
statement with status ``too_large``; the first row that would take the result past ``max_result_bytes`` is
not kept, and the result is marked ``truncated``. Past the deadline the statement is a timeout, even when
the engine had finished in time (the transfer and the conversion count too).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from mscsql.db.values import to_cell
from mscsql.types import Cell, ExecutionResult, ExecutionStatus, ResultBudget

CELL_OVERHEAD = 48
ROW_OVERHEAD = 56
#: how often (in rows) the clock is read while rows are converted
_CLOCK_EVERY = 256
_INF = float("inf")
_BINARY = (bytes, bytearray, memoryview)


def to_cell_row(raw: Any) -> tuple[Cell, ...]:
    return tuple(to_cell(v) for v in raw)


class ValueTooLarge(Exception):
    """One value is longer than the per-value budget."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"a value of {length} characters is over the per-value budget of {limit}")


class PastDeadline(Exception):
    """The deadline passed while rows were fetched or converted."""


class RowCollector:
    """The rows of one result, kept within ``max_rows``, ``budget`` and ``deadline`` (a ``time.monotonic``
    value)."""

    def __init__(self, max_rows: int, budget: ResultBudget, deadline: float) -> None:
        self.max_rows = max_rows
        self.budget = budget
        self.deadline = deadline
        self.rows: list[tuple[Cell, ...]] = []
        self.size = 0
        self.truncated = False
        #: True when the byte budget (not the row cap) cut the result
        self.over_budget = False

    def add(self, raw: Any) -> bool:
        """Keep one row from the cursor; False when the result is complete (nothing more should be fetched)."""
        return self.add_all((raw,))

    def add_all(self, rows: Iterable[Any]) -> bool:
        """Keep rows until the result is complete; False when it became complete. (One tight loop: this is the
        per-row cost of every result.)"""
        kept = self.rows
        max_rows, size = self.max_rows, self.size
        value_limit, result_limit = self.budget.max_value_bytes, self.budget.max_result_bytes
        next_clock = (len(kept) // _CLOCK_EVERY + 1) * _CLOCK_EVERY
        try:
            for raw in rows:
                if len(kept) >= max_rows:
                    self.truncated = True
                    return False
                row_size = ROW_OVERHEAD + CELL_OVERHEAD * len(raw)
                plain = True
                for cell in raw:  # plain cells (text, integers, finite floats, NULL) are kept as they are
                    kind = type(cell)
                    if kind is str:
                        length = len(cell)
                        if length > value_limit:
                            raise ValueTooLarge(length, value_limit)
                        row_size += length
                    elif not (kind is int or cell is None or (kind is float and -_INF < cell < _INF)):
                        plain = False
                        if kind in _BINARY and 2 * len(cell) + 2 > value_limit:  # before its hex text is made
                            raise ValueTooLarge(2 * len(cell) + 2, value_limit)
                if plain:
                    row = raw if type(raw) is tuple else tuple(raw)
                else:  # blobs, decimals, dates, ...: converted, then measured as the text they became
                    row = to_cell_row(raw)
                    row_size = ROW_OVERHEAD + CELL_OVERHEAD * len(row)
                    for cell in row:
                        if type(cell) is str:
                            length = len(cell)
                            if length > value_limit:
                                raise ValueTooLarge(length, value_limit)
                            row_size += length
                if size + row_size > result_limit:
                    self.truncated = self.over_budget = True
                    return False
                size += row_size
                kept.append(row)
                if len(kept) >= next_clock:
                    next_clock += _CLOCK_EVERY
                    self.check_deadline()
            return True
        finally:
            self.size = size

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise PastDeadline

    def batch_size(self) -> int:
        """How many rows to fetch next from a server: a few at first, more while rows stay small, never far
        more than the rest of the byte budget holds."""
        if not self.rows:
            return min(self.max_rows + 1, 8)
        average = max(1, self.size // len(self.rows))
        room = max(1, (self.budget.max_result_bytes - self.size) // average)
        return max(1, min(self.max_rows + 1 - len(self.rows), room + 1, 2 * len(self.rows), 10_000))

    def result(self, sql: str, columns: Iterable[Any], elapsed_s: float) -> ExecutionResult:
        return ExecutionResult(sql=sql, status=ExecutionStatus.OK, columns=tuple(str(c) for c in columns),
                               rows=tuple(self.rows), row_count=len(self.rows), truncated=self.truncated,
                               elapsed_s=elapsed_s)


def too_large(sql: str, message: str, elapsed_s: float) -> ExecutionResult:
    return ExecutionResult(sql=sql, status=ExecutionStatus.TOO_LARGE, error=message, elapsed_s=elapsed_s)


OUT_OF_MEMORY = "the result did not fit in memory"
