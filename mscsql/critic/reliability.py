"""How far each generator can be trusted, estimated from a batch of questions without a label.

A generator's reliability is how often its samples agree with the vote of the *other* generators' samples, over
every question of a batch where the others have a successful result (add-one smoothed). Its weight is the
log-odds of that, at least 0.05. The confidence model reads the chosen answer's share of the samples counted by
these weights (``reliable_share``): agreement with a generator that rarely agrees with the rest counts less.

Below :data:`MIN_QUESTIONS` questions the estimate is too noisy (on one question it would only say who agreed
with the majority there), so every generator weighs the same and the reliable share is the plain share.
``mscsql select`` estimates the weights over its run; the pipeline answers each question on its own (all
generators weigh the same), so an answer's confidence never depends on the other questions of its batch.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from mscsql.critic.grouping import CandidateResult, ResultGroup, result_key

#: the fewest questions a batch needs for reliabilities to be estimated
MIN_QUESTIONS = 100
#: the smallest weight a generator gets (one that agrees with the others at most half the time)
MIN_WEIGHT = 0.05


def generator_reliability(batch: Sequence[Sequence[CandidateResult]], priority: Sequence[str] = (), *,
                          min_questions: int = MIN_QUESTIONS) -> dict[str, float]:
    """Each generator's reliability over ``batch`` (every question's candidates; ``sources``: one entry per
    sample that proposed the candidate); empty below ``min_questions`` questions. The other generators' vote
    breaks a tie as the vote does: by ``priority``, the generators' order (then by first appearance)."""
    if len(batch) < min_questions:
        return {}
    rank = {name: position for position, name in enumerate(priority)}
    agree: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for candidates in batch:
        keys = [result_key(c.result) for c in candidates]
        for generator in {s for c in candidates for s in c.sources}:
            vote = _vote_without(candidates, keys, generator, rank)
            if vote is None:
                continue
            for candidate, key in zip(candidates, keys, strict=True):
                samples = candidate.sources.count(generator)
                seen[generator] += samples
                agree[generator] += samples if key == vote else 0
    return {g: (agree[g] + 1) / (seen[g] + 2) for g in seen}


def reliability_weights(reliability: Mapping[str, float]) -> dict[str, float]:
    """Each generator's weight: the log-odds of its reliability, at least :data:`MIN_WEIGHT`."""
    return {g: max(math.log(r / (1 - r)), MIN_WEIGHT) for g, r in reliability.items()}


def reliable_share(groups: Sequence[ResultGroup], chosen: int, weights: Mapping[str, float]) -> float:
    """The chosen group's share of the samples, each sample counted by its generator's weight (a generator
    without one weighs the mean of the others; without weights, the plain share)."""
    default = sum(weights.values()) / len(weights) if weights else 1.0

    def mass(group: ResultGroup) -> float:
        return sum(weights.get(s, default) for m in group.members for s in m.sources)

    total = sum(mass(g) for g in groups)
    return mass(groups[chosen]) / total if total > 0 else 0.0


def _vote_without(candidates: Sequence[CandidateResult], keys: Sequence[tuple[Any, ...]], generator: str,
                  rank: Mapping[str, int]) -> tuple[Any, ...] | None:
    """The result most of the other generators' samples agree on (successful results only; ties: the one an
    earlier generator in ``rank`` proposed, then the first to appear), or None when they have none."""
    mass: dict[tuple[Any, ...], int] = {}
    first: dict[tuple[Any, ...], int] = {}
    for candidate, key in zip(candidates, keys, strict=True):
        others = [s for s in candidate.sources if s != generator]
        if others and candidate.result.ok:
            mass[key] = mass.get(key, 0) + len(others)
            first[key] = min(first.get(key, len(rank)), *(rank.get(s, len(rank)) for s in others))
    return max(mass, key=lambda k: (mass[k], -first[k])) if mass else None
