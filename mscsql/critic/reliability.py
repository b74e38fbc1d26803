"""How far each generator can be trusted, estimated from a batch of questions without a label.

A generator's reliability is how often its samples agree with the vote of the *other* generators' samples, over
every question of a batch where the others have a successful result (add-one smoothed). Its weight is the
log-odds of that, at least 0.05. The confidence model reads the chosen answer's share of the samples counted by
these weights (``reliable_share``): agreement with a generator that rarely agrees with the rest counts less.

Below :data:`MIN_QUESTIONS` questions the estimate is too noisy (on one question it would only say who agreed
with the majority there), so every generator weighs the same and the reliable share is the plain share.
``mscsql select`` estimates the weights over its run. The pipeline answers each question on its own, so an
answer's confidence never depends on the other questions of its batch: its generators weigh the same unless
``selection.reliability`` names the reliabilities an earlier run wrote (:class:`Reliability`, the
``reliability.json`` of ``mscsql eval run`` and ``mscsql select``), which then stay fixed.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mscsql.critic.grouping import UNKNOWN_SOURCE, CandidateResult, ResultGroup, result_key, sample_sources
from mscsql.errors import ConfigError
from mscsql.fileio import write_json_atomic

log = logging.getLogger(__name__)

#: the fewest questions a batch needs for reliabilities to be estimated
MIN_QUESTIONS = 100
#: the smallest weight a generator gets (one that agrees with the others at most half the time)
MIN_WEIGHT = 0.05
#: the file ``mscsql eval run`` and ``mscsql select`` write in their output folder
RELIABILITY_FILE = "reliability.json"

#: one candidate as the estimate reads it: its sources (one per sample), its result's identity, whether it ran
Observed = tuple[Sequence[str], Hashable, bool]


@dataclass(frozen=True)
class Reliability:
    """How often each generator's samples agreed with the other generators' vote (``agreed``) out of how many
    were judged (``judged``), over ``questions`` questions."""

    agreed: dict[str, int]
    judged: dict[str, int]
    questions: int
    #: what the estimate was made on (a run's folder, benchmark, config), for the record
    estimated_on: dict[str, Any] = field(default_factory=dict)

    def rates(self) -> dict[str, float]:
        """Each generator's reliability (add-one smoothed)."""
        return {g: (self.agreed.get(g, 0) + 1) / (n + 2) for g, n in self.judged.items()}

    def weights(self, min_questions: int = MIN_QUESTIONS) -> dict[str, float]:
        """Each generator's weight (:func:`reliability_weights`); empty below ``min_questions`` questions."""
        return reliability_weights(self.rates()) if self.questions >= min_questions else {}

    def to_dict(self) -> dict[str, Any]:
        rates, weights = self.rates(), reliability_weights(self.rates())
        return {"questions": self.questions, "estimated_on": self.estimated_on,
                # below MIN_QUESTIONS questions the weights are written for the record, never used
                "enough_questions": self.questions >= MIN_QUESTIONS,
                "generators": {g: {"agreed": self.agreed.get(g, 0), "judged": n, "reliability": round(rates[g], 6),
                                   "weight": round(weights[g], 6)} for g, n in sorted(self.judged.items())}}

    def save(self, path: str | Path) -> None:
        write_json_atomic(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Reliability:
        """The reliabilities in a ``reliability.json``; a file that is not one is one :class:`ConfigError`."""
        target = Path(path).expanduser()
        hint = "give the reliability.json that mscsql eval run or mscsql select wrote in its output folder"
        try:
            data = json.loads(target.read_text(encoding="utf-8"))
            generators = data["generators"]
            found = cls({str(g): int(v["agreed"]) for g, v in generators.items()},
                        {str(g): int(v["judged"]) for g, v in generators.items()}, int(data["questions"]),
                        dict(data.get("estimated_on") or {}))
        except OSError as err:
            raise ConfigError(f"cannot read the reliabilities {target}: {err.strerror or err}", hint=hint) from None
        except (ValueError, KeyError, TypeError, AttributeError, ArithmeticError) as err:
            raise ConfigError(f"{target} is not a reliability file ({type(err).__name__}: {err})", hint=hint) from None
        if not found.judged:
            raise ConfigError(f"{target} holds no generator: it was estimated on a run where no generator's samples "
                              "could be compared with another generator's",
                              hint="estimate it on a run with at least two generators, or leave selection.reliability "
                                   "out (with one generator there is nothing to weigh)")
        if any(not 0 <= found.agreed[g] <= n for g, n in found.judged.items()):
            raise ConfigError(f"{target} has a generator agreeing more often than it was judged", hint=hint)
        return found


def keep_reliability(estimate: Reliability, generators: Sequence[str], folder: Path) -> dict[str, Any] | None:
    """Write ``estimate`` to ``folder``'s :data:`RELIABILITY_FILE` and return what was written, unless the run had
    fewer than two ``generators`` (there is no other generator to agree with: no file, None)."""
    if len(generators) < 2:
        log.info("one generator: no %s (there is no other generator to agree with)", RELIABILITY_FILE)
        return None
    estimate.save(folder / RELIABILITY_FILE)
    return estimate.to_dict()


def estimate_reliability(batch: Iterable[Sequence[Observed]], priority: Sequence[str] = (), *,
                         estimated_on: Mapping[str, Any] | None = None) -> Reliability:
    """Every generator's agreement with the other generators' vote over ``batch`` (each question's candidates as
    (sources, result identity, ran)). The other generators' vote breaks a tie as the vote does: by
    ``priority``, the generators' order (then by first appearance)."""
    rank = {name: position for position, name in enumerate(priority)}
    agree: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    questions = 0
    for candidates in batch:
        questions += 1
        for generator in {s for sources, _key, _ok in candidates for s in sources if s != UNKNOWN_SOURCE}:
            vote = _vote_without(candidates, generator, rank)
            if vote is None:
                continue
            for sources, key, _ok in candidates:
                samples = list(sources).count(generator)
                seen[generator] += samples
                agree[generator] += samples if key == vote else 0
    return Reliability({g: agree[g] for g in seen}, dict(seen), questions, dict(estimated_on or {}))


def observed(candidates: Sequence[CandidateResult]) -> list[Observed]:
    """A question's executed candidates as the estimate reads them: each result's identity is the number of its
    group among the question's results (the estimate compares results within a question only, so a run keeps no
    rows for it)."""
    groups: dict[Any, int] = {}
    return [(c.sources, groups.setdefault(result_key(c.result), len(groups)), c.result.ok) for c in candidates]


def answers_observed(records: Iterable[Mapping[str, Any]], priority: Sequence[str]) -> Iterable[list[Observed]]:
    """The candidates of answers as ``mscsql ask --json`` and ``selections.jsonl`` record them, as the estimate
    reads them (each candidate's result identity: its group); answers from a verified example are left out."""
    for record in records:
        if record.get("source") == "verified":
            continue
        groups = record["groups"]
        yield [(sample_sources(c["generators"], priority), c["group"], bool(groups[c["group"]]["ok"]))
               for c in record["candidates"]]


def generator_reliability(batch: Sequence[Sequence[CandidateResult]], priority: Sequence[str] = (), *,
                          min_questions: int = MIN_QUESTIONS) -> dict[str, float]:
    """Each generator's reliability over ``batch`` (every question's candidates; ``sources``: one entry per
    sample that proposed the candidate); empty below ``min_questions`` questions."""
    if len(batch) < min_questions:
        return {}
    return estimate_reliability((observed(c) for c in batch), priority).rates()


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


def _vote_without(candidates: Sequence[Observed], generator: str, rank: Mapping[str, int]) -> Hashable | None:
    """The result most of the other generators' samples agree on (successful results only; ties: the one an
    earlier generator in ``rank`` proposed, then the first to appear), or None when they have none."""
    mass: dict[Hashable, int] = {}
    first: dict[Hashable, int] = {}
    for sources, key, ok in candidates:
        others = [s for s in sources if s not in (generator, UNKNOWN_SOURCE)]
        if others and ok:
            mass[key] = mass.get(key, 0) + len(others)
            first[key] = min(first.get(key, len(rank)), *(rank.get(s, len(rank)) for s in others))
    return max(mass, key=lambda k: (mass[k], -first[k])) if mass else None
