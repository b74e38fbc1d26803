"""``mbr``: execution-similarity selection (minimum Bayes risk over execution results).

Each successful result group is scored by its graded support (:func:`mscsql.critic.agreement.graded_support`):
its own samples plus every other sample weighted by how close that sample's result is to the group's. The group
with the most support wins; ties go to the larger group, then to the higher-priority source, then to the first
to appear. Failed groups win only when every candidate failed (then the largest failure, as in the vote).
The choice's scores are the groups' support normalised to sum to 1. No model and no label is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mscsql.critic.agreement import graded_support
from mscsql.critic.base import Choice, SelectionItem, best_member, choice_of, source_priority
from mscsql.critic.grouping import ResultGroup, group_by_result
from mscsql.critic.selectors import vote
from mscsql.errors import ConfigError

if TYPE_CHECKING:
    from mscsql.config import SelectionConfig


class MBRSelector:
    """Picks the result group with the most graded support (see the module's docstring)."""

    name = "mbr"

    def __init__(self, weight: float = 1.0) -> None:
        if not 0 <= weight < float("inf"):
            raise ConfigError(f"the mbr selector's agreement weight must be a finite number, 0 or more, not {weight!r}")
        #: how much a similar sample of another group counts (0: the vote)
        self.weight = weight

    @classmethod
    def from_config(cls, selection: SelectionConfig | None = None) -> MBRSelector:
        return cls(selection.agreement_weight if selection is not None else 1.0)

    def choose(self, items: Sequence[SelectionItem]) -> list[Choice]:
        return [self._choose_one(item) for item in items]

    def _choose_one(self, item: SelectionItem) -> Choice:
        groups = group_by_result(item.candidates)
        ok = [i for i, g in enumerate(groups) if g.ok]
        if not ok:
            return choice_of(vote(item.candidates, item.sources), groups)
        support = graded_support(groups, self.weight)
        scores = [support[i] if g.ok else 0.0 for i, g in enumerate(groups)]
        total = sum(scores)
        if not total > 0:  # no samples counted (candidates without a source): the vote decides
            return choice_of(vote(item.candidates, item.sources), groups)
        winner = max(ok, key=lambda i: (round(scores[i], 9), groups[i].count, -_priority(groups[i], item.sources), -i))
        return choice_of(best_member(groups[winner], item.sources), groups, [s / total for s in scores])

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"MBRSelector(weight={self.weight})"


def _priority(group: ResultGroup, sources: Sequence[str]) -> int:
    return min(source_priority(m, sources) for m in group.members)
