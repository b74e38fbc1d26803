"""Candidates with equivalent execution results form one group.

Two results are equivalent when they hold the same multiset of rows once columns are put in a canonical
order (column order is ignored, as the scorers ignore it; row order too). Failed candidates (errors,
timeouts, refusals) never join a group with a result; each failure kind forms its own group so a selector
can still see how many candidates failed and how.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mscsql.types import Cell, ExecutionResult


@dataclass(frozen=True)
class CandidateResult:
    """One candidate: its SQL, who proposed it (in priority order: ``sources[0]`` first), and its result."""

    sql: str
    sources: tuple[str, ...]
    result: ExecutionResult
    logprob: float | None = None


@dataclass
class ResultGroup:
    key: tuple[Any, ...]
    members: list[CandidateResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.members[0].result.ok

    @property
    def count(self) -> int:
        """How many sources proposed a member of this group (the agreement)."""
        return sum(len(m.sources) for m in self.members)

    @property
    def result(self) -> ExecutionResult:
        return self.members[0].result

    @property
    def sql(self) -> str:
        """The group's representative SQL: its first member's (what critics show and check)."""
        return self.members[0].sql


#: the source of a candidate no known generator is recorded to have proposed
UNKNOWN_SOURCE = "?"


def sample_sources(generators: dict[str, int], priority: Sequence[str]) -> tuple[str, ...]:
    """A candidate's sources, one per sample that proposed it (so a group's ``count`` is its agreement), in
    generator priority order; ``("?",)`` for a candidate nobody is recorded to have proposed."""
    return tuple(name for name in priority for _ in range(generators.get(name, 0))) or (UNKNOWN_SOURCE,)


def _cell_key(value: Cell) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int | float):
        return (1, float(value))
    return (2, str(value))


def result_key(result: ExecutionResult) -> tuple[Any, ...]:
    """A key equal for results with the same rows up to row and column order (failures: their status)."""
    if not result.ok:
        return ("failed", result.status.value)
    width = len(result.columns)
    columns = [tuple(sorted(_cell_key(row[c]) for row in result.rows)) for c in range(width)]
    order = sorted(range(width), key=lambda c: columns[c])
    rows = sorted(tuple(_cell_key(row[c]) for c in order) for row in result.rows)
    return ("ok", width, tuple(rows), result.truncated)


def group_by_result(candidates: Sequence[CandidateResult]) -> list[ResultGroup]:
    """Groups in order of first appearance."""
    groups: dict[tuple[Any, ...], ResultGroup] = {}
    for candidate in candidates:
        key = result_key(candidate.result)
        groups.setdefault(key, ResultGroup(key)).members.append(candidate)
    return list(groups.values())
