"""The pairwise critic (``critic.mode: pairwise``), as the MSc-SQL code runs its critic: every pair of candidate
groups is judged on its own, each pair in both orders, by each of one or more critic checkpoints; the group with
the most wins is chosen.

A pair's prompt is the joint critic's prompt with two options (:func:`mscsql.critic.llm.critic_prompt`), so a
critic trained on pairwise rows (``mscsql train data critic --pairwise``) and one trained on joint rows read the
same layout. In one checkpoint's judgement of a pair, each group's probability is its option probability
averaged over the two orders (which cancels a preference for the first position); the group above one half
wins the pair (a half, to rounding, is half a win each). Wins add up over pairs and checkpoints; ties on wins go
to the larger summed probability, then to the larger group, then to the first to appear. The judgement's
probabilities are the summed pair probabilities divided by the number of judged pairs (they sum to 1).

``max_pairs`` caps the pairs per question: the pairs of the most proposed groups are judged first (by the
smaller support of the two, then the larger). As in the joint critic, no model is asked when at most one group
ran successfully, and failed groups are not shown unless ``include_failed``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mscsql.critic.base import (
    Critic,
    CriticJudgement,
    CriticRound,
    judgement_without_model,
    normalise,
    shown_groups,
)
from mscsql.critic.grouping import ResultGroup
from mscsql.critic.llm import LABELS, OptionScorer, critic_prompt
from mscsql.critic.metadata import MetadataOptions
from mscsql.errors import ConfigError
from mscsql.generation.base import ChatPrompt

if TYPE_CHECKING:
    from mscsql.config import SelectionConfig

log = logging.getLogger(__name__)

#: a pair whose probabilities differ from one half by no more than this is a tie (rounding in the two orders'
#: normalisation must not decide a pair the model could not tell apart)
TIE = 1e-9


def pairs_to_judge(groups: Sequence[ResultGroup], shown: Sequence[int],
                   max_pairs: int | None) -> list[tuple[int, int]]:
    """The pairs of ``shown`` groups to judge, the pairs of the most proposed groups first, at most
    ``max_pairs`` (None: all)."""
    pairs = list(itertools.combinations(shown, 2))
    pairs.sort(key=lambda p: (-min(groups[p[0]].count, groups[p[1]].count),
                              -max(groups[p[0]].count, groups[p[1]].count), p))
    return pairs if max_pairs is None else pairs[:max_pairs]


class PairwiseCritic(Critic):
    """Wins over pairs of groups, counted over several critic checkpoints (see the module's docstring)."""

    def __init__(self, scorers: Sequence[OptionScorer], *, max_pairs: int | None = None, name: str = "pairwise",
                 metadata: MetadataOptions | None = None, include_failed: bool = False) -> None:
        if not scorers:
            raise ConfigError("a pairwise critic needs at least one critic model")
        for scorer in scorers:
            if not callable(getattr(scorer, "option_logprobs", None)):
                raise ConfigError(f"the critic's scorer {scorer!r} has no option_logprobs method",
                                  hint="use a generator that can score options (hf or openai)")
        if max_pairs is not None and max_pairs < 1:
            raise ConfigError(f"max_pairs must be at least 1, not {max_pairs}")
        self.scorers = list(scorers)
        self.max_pairs = max_pairs
        self.name = name
        self.metadata = metadata or MetadataOptions()
        self.include_failed = include_failed

    @classmethod
    def from_config(cls, selection: SelectionConfig) -> PairwiseCritic:
        """The ``critic`` selector of a config with ``critic.mode: pairwise``: every configured model is one
        checkpoint judging every pair (their models load now)."""
        from mscsql.critic.llm import critic_metadata
        from mscsql.generation.registry import build_generator

        settings = selection.critic
        if settings is None:
            raise ConfigError("this pipeline has no critic configured",
                              hint="add selection: {selector: critic, critic: {mode: pairwise, models: [...]}}")
        return cls([build_generator(m) for m in settings.models], max_pairs=settings.max_pairs,
                   metadata=critic_metadata(settings, show_rows=selection.show_rows))

    def close(self) -> None:
        for scorer in self.scorers:
            close = getattr(scorer, "close", None)
            if callable(close):
                close()

    def __repr__(self) -> str:
        return f"PairwiseCritic({len(self.scorers)} checkpoints, max_pairs={self.max_pairs}, name={self.name!r})"

    def judge(self, question: str, evidence: str | None, schema_text: str,
              groups: Sequence[ResultGroup], sources: Sequence[str] = (), *, conversation: str = ""
              ) -> CriticJudgement:
        skipped = judgement_without_model(groups, self.name)
        if skipped is not None:
            log.debug("%s: no model needed (%s)", self.name, skipped.reason)
            return skipped
        shown = shown_groups(groups, self.include_failed)
        pairs = pairs_to_judge(groups, shown, self.max_pairs)
        prompts: list[ChatPrompt] = []
        for i, j in pairs:
            for first, second in ((i, j), (j, i)):
                shown_pair = [groups[first], groups[second]]
                prompts.append(critic_prompt(question, evidence, schema_text, shown_pair, self.metadata,
                                             conversation).messages)
        wins = [0.0] * len(groups)
        mass = [0.0] * len(groups)
        blocks, scores, winners = [], [], []
        for scorer in self.scorers:
            answers = scorer.option_logprobs(prompts, LABELS[:2])
            if len(answers) != len(prompts):
                raise ConfigError(f"the critic's scorer returned {len(answers)} answers for {len(prompts)} prompts")
            for n, (i, j) in enumerate(pairs):
                forward, backward = normalise(answers[2 * n][:2]), normalise(answers[2 * n + 1][:2])
                p_i = (forward[0] + backward[1]) / 2
                mass[i] += p_i
                mass[j] += 1 - p_i
                if abs(p_i - 0.5) <= TIE:
                    wins[i] += 0.5
                    wins[j] += 0.5
                else:
                    wins[i if p_i > 0.5 else j] += 1
                blocks.append((i, j))
                scores.append((p_i, 1 - p_i))
                winners.append(i if p_i >= 0.5 - TIE else j)
        judged = len(pairs) * len(self.scorers)
        probabilities = tuple(m / judged for m in mass)
        winner = max(shown, key=lambda k: (wins[k], mass[k], groups[k].count, -k))
        log.debug("%s: %d groups, %d pairs, %d checkpoints; winner %d with %.1f wins", self.name, len(groups),
                  len(pairs), len(self.scorers), winner, wins[winner])
        round_ = CriticRound(tuple(blocks), tuple(scores), tuple(winners))
        return CriticJudgement(probabilities, winner, False, "scored", self.name, len(prompts) * len(self.scorers),
                               (round_,))
