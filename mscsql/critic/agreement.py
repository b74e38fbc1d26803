"""Graded agreement between execution results: how close two candidates' answers are, not only whether they are
the same (minimum-Bayes-risk selection over execution results, as in Query & Conquer, arXiv 2503.24364).

:func:`result_similarity` is 1 for results that group together (:func:`mscsql.critic.grouping.result_key`) and
between 0 and 1 for results that differ only in part:

- columns are matched up to order and naming: each column of one result is paired with the column of the other
  holding the most similar set of values, and the similarity is scaled by the share of columns paired (an extra
  or a missing column costs its share);
- the rows, read through the paired columns, are compared as multisets (intersection over union), so a result
  that holds a subset or a superset of the other's rows gets the share it has in common;
- results of one row each compare cell by cell, and numbers by how close they are (1 - |a - b| / max(|a|, |b|)):
  a count of 41 against one of 42 is nearly the same answer, a count of 3 against one of 42 is not (in results
  of several rows, numbers count only when equal);
- text compares without surrounding spaces and case, numbers written as text as numbers, integers as floats;
- a failed query (error, timeout, refusal) agrees with nothing; no rows agrees only with no rows.

:func:`graded_support` gives each group its own samples plus the samples of every other group weighted by their
similarity; :func:`agreement_features` gives the checks critic's head the log of that share and each group's
nearest other group. Only results are read: nothing here looks at a label.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from mscsql.critic.grouping import ResultGroup
from mscsql.types import Cell, ExecutionResult

#: what :func:`agreement_features` gives per group, in order
AGREEMENT_FEATURES = ("graded_support", "nearest_similarity")
#: the smallest share whose log is taken (a group nobody supports)
MIN_SUPPORT = 1e-3


def cell_key(value: Cell) -> Hashable:
    """A cell as graded agreement compares it: numbers (also numbers written as text) as rounded floats, text
    stripped and case-folded, bytes as their hex, NULL as None."""
    if value is None:
        return None
    if isinstance(value, bool | int | float):
        number = float(value)
        return round(number, 6) if math.isfinite(number) else str(number)
    if isinstance(value, bytes | bytearray | memoryview):
        return ("bytes", bytes(value).hex())
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text.casefold()
    return round(number, 6) if math.isfinite(number) else text.casefold()


@dataclass(frozen=True)
class _Table:
    """A successful result read for comparison: its rows of cell keys and each column's set of values."""

    rows: tuple[tuple[Hashable, ...], ...]
    columns: tuple[frozenset[Hashable], ...]

    @classmethod
    def of(cls, result: ExecutionResult) -> _Table:
        width = len(result.columns)
        rows = tuple(tuple(cell_key(row[c]) if c < len(row) else None for c in range(width)) for row in result.rows)
        return cls(rows, tuple(frozenset(row[c] for row in rows) for c in range(width)))

    @property
    def width(self) -> int:
        return len(self.columns)


def _set_overlap(a: frozenset[Hashable], b: frozenset[Hashable]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def _multiset_overlap(a: Counter[tuple[Hashable, ...]], b: Counter[tuple[Hashable, ...]]) -> float:
    union = sum((a | b).values())
    return sum((a & b).values()) / union if union else 1.0


def _cell_similarity(a: Hashable, b: Hashable) -> float:
    if a == b:
        return 1.0
    if isinstance(a, float) and isinstance(b, float):
        scale = max(abs(a), abs(b))
        return max(0.0, 1.0 - abs(a - b) / scale) if scale else 1.0
    return 0.0


def _paired(scores: list[tuple[float, int, int]]) -> list[tuple[int, int, float]]:
    """Column pairs, the most similar first, each column used once; pairs with nothing in common are left out."""
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs = []
    for score, i, j in sorted(scores, key=lambda s: (-s[0], s[1], s[2])):
        if score > 0 and i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j, score))
    return pairs


def _one_row_similarity(a: _Table, b: _Table) -> float:
    scores = [(_cell_similarity(x, y), i, j) for i, x in enumerate(a.rows[0]) for j, y in enumerate(b.rows[0])]
    pairs = _paired(scores)
    return sum(score for _i, _j, score in pairs) / max(a.width, b.width)


def _table_similarity(a: _Table, b: _Table) -> float:
    if not a.rows and not b.rows:
        return 1.0
    if not a.rows or not b.rows or not a.width or not b.width:
        return 0.0
    if len(a.rows) == 1 and len(b.rows) == 1:
        return _one_row_similarity(a, b)
    pairs = _paired([(_set_overlap(x, y), i, j) for i, x in enumerate(a.columns) for j, y in enumerate(b.columns)])
    if not pairs:
        return 0.0
    rows_a = Counter(tuple(row[i] for i, _j, _s in pairs) for row in a.rows)
    rows_b = Counter(tuple(row[j] for _i, j, _s in pairs) for row in b.rows)
    return _multiset_overlap(rows_a, rows_b) * len(pairs) / max(a.width, b.width)


def result_similarity(a: ExecutionResult, b: ExecutionResult) -> float:
    """How close two execution results are, in [0, 1] (see the module's docstring)."""
    if not (a.ok and b.ok):
        return 0.0
    return _table_similarity(_Table.of(a), _Table.of(b))


def similarity_matrix(groups: Sequence[ResultGroup]) -> list[list[float]]:
    """The similarity of every two groups' results (1 on the diagonal for successful groups; failed groups 0)."""
    tables = [_Table.of(g.result) if g.ok else None for g in groups]
    n = len(groups)
    matrix = [[0.0] * n for _ in range(n)]
    for i in range(n):
        a = tables[i]
        if a is None:
            continue
        matrix[i][i] = 1.0
        for j in range(i + 1, n):
            b = tables[j]
            if b is not None:
                matrix[i][j] = matrix[j][i] = _table_similarity(a, b)
    return matrix


def graded_support(groups: Sequence[ResultGroup], weight: float = 1.0,
                   matrix: Sequence[Sequence[float]] | None = None) -> list[float]:
    """Each group's share of the samples with the samples of the other groups counted by their similarity
    (times ``weight``; 0 is the vote's share): ``(count + weight * sum(similarity * other count)) / samples``.
    A failed group is supported by its own samples only."""
    total = sum(max(g.count, 0) for g in groups)
    if not total:
        return [0.0] * len(groups)
    matrix = matrix if matrix is not None else similarity_matrix(groups)
    return [(g.count + weight * sum(matrix[i][j] * h.count for j, h in enumerate(groups) if j != i)) / total
            for i, g in enumerate(groups)]


def agreement_features(groups: Sequence[ResultGroup]) -> list[tuple[float, ...]]:
    """:data:`AGREEMENT_FEATURES` of each group: the log of its graded support and its similarity to the nearest
    other successful group (0 when there is none)."""
    matrix = similarity_matrix(groups)
    support = graded_support(groups, matrix=matrix)
    out = []
    for i, share in enumerate(support):
        nearest = max((matrix[i][j] for j in range(len(groups)) if j != i), default=0.0)
        out.append((math.log(max(share, MIN_SUPPORT)), nearest))
    return out
