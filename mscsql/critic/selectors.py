"""Selectors that need no model: ``vote`` (self-consistency), ``first-valid`` and ``max-logprob``.

Each is a :class:`~mscsql.critic.base.Selector`; the functions below are their rules for one question, for
callers that hold candidates already. Every rule returns the chosen candidate (or None when there is none);
ties are broken by source priority (the order sources were given in), then by first appearance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from mscsql.critic.base import Choice, SelectionItem, best_member, choice_of, source_priority
from mscsql.critic.grouping import CandidateResult, group_by_result

if TYPE_CHECKING:
    from mscsql.config import SelectionConfig

Rule = Callable[[Sequence[CandidateResult], Sequence[str]], CandidateResult | None]


def vote(candidates: Sequence[CandidateResult], sources: Sequence[str]) -> CandidateResult | None:
    """The largest group of candidates with the same (successful) result; failures only when all failed."""
    groups = group_by_result(candidates)
    if not groups:
        return None
    ranked = sorted(groups, key=lambda g: (not g.ok, -g.count,
                                           min(source_priority(m, sources) for m in g.members)))
    return best_member(ranked[0], sources)


def first_valid(candidates: Sequence[CandidateResult], sources: Sequence[str]) -> CandidateResult | None:
    """The highest-priority candidate that ran without error (else the highest-priority one)."""
    if not candidates:
        return None
    ordered = sorted(candidates, key=lambda c: source_priority(c, sources))
    return next((c for c in ordered if c.result.ok), ordered[0])


def max_logprob(candidates: Sequence[CandidateResult], sources: Sequence[str]) -> CandidateResult | None:
    """The successful candidate its generator found most likely (needs log-probabilities)."""
    scored = [c for c in candidates if c.logprob is not None]
    if not scored:
        return first_valid(candidates, sources)
    ranked = sorted(scored, key=lambda c: (not c.result.ok, -(c.logprob or 0.0), source_priority(c, sources)))
    return ranked[0]


class RuleSelector:
    """A model-free selector: one rule applied to each question of a batch."""

    name: str
    rule: Rule

    @classmethod
    def from_config(cls, selection: SelectionConfig | None = None) -> RuleSelector:
        return cls()

    def choose(self, items: Sequence[SelectionItem]) -> list[Choice]:
        return [choice_of(self.rule(item.candidates, item.sources), group_by_result(item.candidates))
                for item in items]

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class VoteSelector(RuleSelector):
    name = "vote"
    rule = staticmethod(vote)


class FirstValidSelector(RuleSelector):
    name = "first-valid"
    rule = staticmethod(first_valid)


class MaxLogprobSelector(RuleSelector):
    name = "max-logprob"
    rule = staticmethod(max_logprob)
