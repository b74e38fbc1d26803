"""The one interface every selector implements, and what critics share.

A :class:`Selector` takes a batch of :class:`SelectionItem` (a question, its evidence, the linked schema as the
prompt showed it, its executed candidates and the generators in priority order) and returns one
:class:`Choice` per item: the chosen candidate, the groups it was chosen among (:func:`group_by_result`, in
order of first appearance) and, when the selector scores groups, one probability per group. Model-free
selectors (vote, mbr, first-valid, max-logprob) and model-based critics (the LLM critic, critic ensembles, the
encoder critic) all implement it, so the stages call ``selector.choose(items)`` whatever was configured.

Ties are broken by source priority (the order of ``sources``), then by first appearance.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from mscsql.critic.grouping import CandidateResult, ResultGroup, group_by_result

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SelectionItem:
    """What a selector reads for one question."""

    question: str
    evidence: str | None
    #: the linked schema as :func:`mscsql.linking.render.render_schema` wrote it for the generators
    schema_text: str
    candidates: tuple[CandidateResult, ...]
    #: the generators (or candidate files) in priority order
    sources: tuple[str, ...] = ()
    #: a follow-up question's earlier turns as the generators saw them
    #: (:func:`mscsql.prompts.generator.conversation_text`); empty for a question asked on its own
    conversation: str = ""


@dataclass(frozen=True)
class Choice:
    """A selector's choice for one question."""

    #: the chosen candidate (None when there was none)
    candidate: CandidateResult | None
    #: the groups of the question's candidates, in order of first appearance
    groups: tuple[ResultGroup, ...]
    #: the index of the chosen group in ``groups`` (None when there was none)
    group: int | None
    #: the selector's probability of each group (None for selectors that do not score groups)
    scores: tuple[float, ...] | None = None
    #: a critic's full judgement (rounds, members), when one judged
    judgement: CriticJudgement | None = None


@runtime_checkable
class Selector(Protocol):
    """Picks one candidate per question, for a whole batch at once (models see whole batches)."""

    name: str

    def choose(self, items: Sequence[SelectionItem]) -> list[Choice]: ...

    def close(self) -> None: ...


def source_priority(candidate: CandidateResult, sources: Sequence[str]) -> int:
    """The position of the candidate's best source in ``sources`` (unlisted sources come last)."""
    return min((sources.index(s) for s in candidate.sources if s in sources), default=len(sources))


def best_member(group: ResultGroup, sources: Sequence[str]) -> CandidateResult:
    """The group's member from the highest-priority source (then the first to appear)."""
    return min(group.members, key=lambda m: source_priority(m, sources))


def support_order(groups: Sequence[ResultGroup], indexes: Sequence[int], sources: Sequence[str] = ()) -> list[int]:
    """``indexes`` (of ``groups``) in the order a by-support critic shows them: the most proposed group first,
    ties to the group holding the answer of the highest-priority generator (``sources`` in priority order), then
    to the first to appear."""
    return sorted(indexes, key=lambda i: (-groups[i].count, min(source_priority(m, sources)
                                                                   for m in groups[i].members), i))


def choice_of(candidate: CandidateResult | None, groups: Sequence[ResultGroup],
              scores: Sequence[float] | None = None, judgement: CriticJudgement | None = None) -> Choice:
    """The :class:`Choice` holding ``candidate`` (looked up among the members of ``groups``)."""
    group = next((i for i, g in enumerate(groups) if candidate is not None and
                  any(m is candidate for m in g.members)), None)
    return Choice(candidate, tuple(groups), group, tuple(scores) if scores is not None else None, judgement)


@dataclass(frozen=True)
class CriticRound:
    """One round of a critic: the blocks of group indexes it compared and each block's probabilities."""

    blocks: tuple[tuple[int, ...], ...]
    probabilities: tuple[tuple[float, ...], ...]
    winners: tuple[int, ...]


@dataclass(frozen=True)
class CriticJudgement:
    """A critic's verdict on the groups of one question."""

    #: one probability per group (in the groups' order), summing to 1
    probabilities: tuple[float, ...]
    #: the index of the chosen group (None when there were no groups)
    winner: int | None
    #: True when no model was asked (no group, or at most one group ran successfully)
    skipped: bool
    #: why: "scored", "no candidates", "one successful group", "no successful group"
    reason: str
    critic: str
    #: prompts scored (one forward pass each)
    prompts: int = 0
    rounds: tuple[CriticRound, ...] = ()
    #: an ensemble's members, each one's own judgement
    members: tuple[CriticJudgement, ...] = field(default=())


@dataclass(frozen=True)
class CriticDecision:
    """The candidate a critic chose, with the groups it chose among and its judgement."""

    candidate: CandidateResult
    group: int
    groups: tuple[ResultGroup, ...]
    judgement: CriticJudgement


def normalise(logprobs: Sequence[float]) -> list[float]:
    """Probabilities from log-probabilities, normalised over the options (uniform when all are ``-inf``)."""
    if not logprobs:
        return []
    top = max(logprobs)
    if top == -math.inf or math.isnan(top):
        log.warning("the critic's scorer gave no probability to any option; counting them as equal")
        return [1.0 / len(logprobs)] * len(logprobs)
    weights = [math.exp(v - top) if not math.isnan(v) else 0.0 for v in logprobs]
    total = math.fsum(weights)
    return [w / total for w in weights]


def most_probable_group(probabilities: Sequence[float], groups: Sequence[ResultGroup]) -> int:
    """The most probable group; ties go to the larger agreement, then to the first."""
    return max(range(len(probabilities)), key=lambda i: (probabilities[i], groups[i].count, -i))


def shown_groups(groups: Sequence[ResultGroup], include_failed: bool) -> list[int]:
    """The indexes of the groups a critic scores: those that ran successfully, or all with ``include_failed``."""
    return [i for i, g in enumerate(groups) if g.ok or include_failed]


def judgement_without_model(groups: Sequence[ResultGroup], critic: str) -> CriticJudgement | None:
    """The judgement when no model is needed: no groups, or at most one that ran successfully (None: a model
    must judge)."""
    if not groups:
        return CriticJudgement((), None, True, "no candidates", critic)
    ok = [i for i, g in enumerate(groups) if g.ok]
    if len(ok) == 1:
        probabilities = tuple(1.0 if i == ok[0] else 0.0 for i in range(len(groups)))
        return CriticJudgement(probabilities, ok[0], True, "one successful group", critic)
    if not ok:
        counts = [max(g.count, 0) for g in groups]
        total = sum(counts)
        probabilities = tuple(c / total for c in counts) if total else tuple(1.0 / len(groups) for _ in groups)
        return CriticJudgement(probabilities, most_probable_group(probabilities, groups), True,
                               "no successful group", critic)
    return None


class Critic:
    """What every critic shares: ``judge`` makes a :class:`CriticJudgement`; choosing, deciding and selecting
    derive from it. Subclasses that can judge several questions in one pass override :meth:`judge_many`."""

    name: str

    def judge(self, question: str, evidence: str | None, schema_text: str,
              groups: Sequence[ResultGroup], sources: Sequence[str] = (), *, conversation: str = ""
              ) -> CriticJudgement:
        """``sources``: the generators in priority order (critics that read it break ties with it);
        ``conversation``: a follow-up question's earlier turns (:attr:`SelectionItem.conversation`)."""
        raise NotImplementedError

    def judge_many(self, items: Sequence[tuple[Any, ...]]) -> list[CriticJudgement]:
        """Judgements of several questions, each ``(question, evidence, schema_text, groups, sources[,
        conversation])``."""
        return [self.judge(*item[:5], conversation=item[5] if len(item) > 5 else "") for item in items]

    def choose(self, items: Sequence[SelectionItem]) -> list[Choice]:
        """The :class:`Selector` interface: every item's groups judged (in one :meth:`judge_many` call) and
        the chosen group's member from the highest-priority source taken."""
        grouped = [group_by_result(item.candidates) for item in items]
        judgements = self.judge_many([(item.question, item.evidence, item.schema_text, groups, item.sources,
                                       item.conversation) for item, groups in zip(items, grouped, strict=True)])
        choices = []
        for item, groups, judgement in zip(items, grouped, judgements, strict=True):
            if judgement.winner is None:
                choices.append(Choice(None, tuple(groups), None, judgement.probabilities, judgement))
                continue
            candidate = best_member(groups[judgement.winner], item.sources)
            choices.append(Choice(candidate, tuple(groups), judgement.winner, judgement.probabilities, judgement))
        return choices

    def score_groups(self, question: str, evidence: str | None, schema_text: str,
                     groups: Sequence[ResultGroup]) -> list[float]:
        """One probability per group, summing to 1 (empty for no groups)."""
        return list(self.judge(question, evidence, schema_text, groups).probabilities)

    def decide(self, question: str, evidence: str | None, schema_text: str, candidates: Sequence[CandidateResult],
               sources: Sequence[str] = ()) -> CriticDecision | None:
        """Group ``candidates`` by result, judge the groups, and take the chosen group's member from the
        highest-priority source (``sources`` in priority order; then first appearance)."""
        choice = self.choose([SelectionItem(question, evidence, schema_text, tuple(candidates), tuple(sources))])[0]
        if choice.candidate is None or choice.group is None or choice.judgement is None:
            return None
        return CriticDecision(choice.candidate, choice.group, choice.groups, choice.judgement)

    def select(self, question: str, evidence: str | None, schema_text: str, candidates: Sequence[CandidateResult],
               sources: Sequence[str] = ()) -> CandidateResult | None:
        """The chosen candidate (like the model-free selectors, with the question's context first)."""
        decision = self.decide(question, evidence, schema_text, candidates, sources)
        return decision.candidate if decision is not None else None

    def close(self) -> None:
        """Release the models this critic holds (the base critic holds none)."""
