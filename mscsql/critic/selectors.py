"""Selectors that need no model: ``vote`` (self-consistency), ``first-valid`` and ``max-logprob``.

Every selector returns the chosen candidate (or None when there is none); ties are broken by source
priority (the order sources were given in), then by first appearance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mscsql.critic.grouping import CandidateResult, ResultGroup, group_by_result
from mscsql.errors import ConfigError


def _priority(candidate: CandidateResult, sources: Sequence[str]) -> int:
    return min((sources.index(s) for s in candidate.sources if s in sources), default=len(sources))


def _best_member(group: ResultGroup, sources: Sequence[str]) -> CandidateResult:
    return min(group.members, key=lambda m: _priority(m, sources))


def vote(candidates: Sequence[CandidateResult], sources: Sequence[str]) -> CandidateResult | None:
    """The largest group of candidates with the same (successful) result; failures only when all failed."""
    groups = group_by_result(candidates)
    if not groups:
        return None
    ranked = sorted(groups, key=lambda g: (not g.ok, -g.count,
                                           min(_priority(m, sources) for m in g.members)))
    return _best_member(ranked[0], sources)


def first_valid(candidates: Sequence[CandidateResult], sources: Sequence[str]) -> CandidateResult | None:
    """The highest-priority candidate that ran without error (else the highest-priority one)."""
    if not candidates:
        return None
    ordered = sorted(candidates, key=lambda c: _priority(c, sources))
    return next((c for c in ordered if c.result.ok), ordered[0])


def max_logprob(candidates: Sequence[CandidateResult], sources: Sequence[str]) -> CandidateResult | None:
    """The successful candidate its generator found most likely (needs log-probabilities)."""
    scored = [c for c in candidates if c.logprob is not None]
    if not scored:
        return first_valid(candidates, sources)
    ranked = sorted(scored, key=lambda c: (not c.result.ok, -(c.logprob or 0.0), _priority(c, sources)))
    return ranked[0]


SELECTORS: dict[str, Callable[[Sequence[CandidateResult], Sequence[str]], CandidateResult | None]] = {
    "vote": vote, "first-valid": first_valid, "max-logprob": max_logprob,
}


def select(name: str, candidates: Sequence[CandidateResult], sources: Sequence[str]) -> CandidateResult | None:
    if name not in SELECTORS:
        raise ConfigError(f"unknown selector {name!r}", hint=f"choose from: {', '.join(SELECTORS)}")
    return SELECTORS[name](candidates, sources)
