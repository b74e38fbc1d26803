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

from mscsql.db.values import to_row
from mscsql.types import Cell, ExecutionResult, ExecutionStatus, ResultBudget

CELL_OVERHEAD = 48
ROW_OVERHEAD = 56
#: how often (in rows) the clock is read while rows are converted
_CLOCK_EVERY = 256


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
        if len(self.rows) >= self.max_rows:
            self.truncated = True
            return False
        row = to_row(raw)
        size = ROW_OVERHEAD
        limit = self.budget.max_value_bytes
        for cell in row:
            if type(cell) is str:
                length = len(cell)
                if length > limit:
                    raise ValueTooLarge(length, limit)
                size += length + CELL_OVERHEAD
            else:
                size += CELL_OVERHEAD
        if self.size + size > self.budget.max_result_bytes:
            self.truncated = self.over_budget = True
            return False
        self.size += size
        self.rows.append(row)
        if len(self.rows) % _CLOCK_EVERY == 0:
            self.check_deadline()
        return True

    def add_all(self, rows: Iterable[Any]) -> bool:
        """Keep rows until the result is complete; False when it became complete."""
        return all(self.add(row) for row in rows)

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise PastDeadline

    def batch_size(self) -> int:
        """How many rows to fetch next from a server: a few at first, more while rows stay small, never far
        more than the rest of the byte budget holds."""
        if not self.rows:
            return min(self.max_rows + 1, 64)
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
