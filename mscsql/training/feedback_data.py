"""Critic training data from people's feedback on stored answers (``mscsql train data critic --feedback``): no
benchmark, no gold SQL.

Each stored answer of the database with feedback gives one question: its candidates run again, read-only, on
the database and are grouped by result as the critic sees them. The latest feedback labels the groups:

- *correct*: the chosen group is right and every other successful group (another result) is wrong;
- *wrong, with the right SQL*: that SQL runs too, and the group with its result is right, the others wrong (when
  no candidate has that result, the question is counted as unmatched and left out: the critic chooses among
  candidates, so it has nothing to learn there);
- *wrong, without SQL*: only the chosen group is known to be wrong, so the question is left out unless just one
  other group is shown, which is then right.

As in benchmark critic data, a question needs two or more options with one right; the rows are the same
(:func:`mscsql.training.critic_data.option_rows`), and ``eval_fraction`` of the answers (seeded) make the eval
split.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mscsql.benchmarks.loaders import BenchmarkItem
from mscsql.critic.base import shown_groups
from mscsql.critic.encoder import EncoderCriticConfig
from mscsql.critic.grouping import CandidateResult, group_by_result, result_key, sample_sources
from mscsql.critic.metadata import MetadataOptions
from mscsql.db import connect, execute_many
from mscsql.errors import DatasetError
from mscsql.prompts.generator import conversation_text
from mscsql.stages import whole_schema_text
from mscsql.store import Store
from mscsql.training.critic_data import LabelledOptions, option_rows
from mscsql.training.dataset_io import write_dataset
from mscsql.types import ExecutionItem

log = logging.getLogger(__name__)


@dataclass
class FeedbackDataBuild:
    #: the store holding the answers and their feedback, and the database's name there
    store: str
    database: str
    #: where that database is (a URL or a SQLite path): the candidates run there again
    db: str
    output: Path
    orderings: int = 4
    #: "permutations" or "by-support" (see :func:`mscsql.training.critic_data.option_rows`)
    ordering: str = "permutations"
    eval_fraction: float = 0.1
    seed: int = 0
    timeout_s: float = 30.0
    max_options: int = 8
    metadata: MetadataOptions = field(default_factory=MetadataOptions)
    encoder: EncoderCriticConfig = field(default_factory=EncoderCriticConfig)

    def run(self) -> dict[str, Any]:
        with Store(self.store) as store:
            answers = store.answers.with_feedback(self.database)
            earlier = {a["id"]: earlier_turns(store, a) for a in answers}
        if not answers:
            raise DatasetError(f"the store has no answer with feedback for the database {self.database!r}",
                               hint="feedback comes from POST /v1/answers/{id}/feedback or mscsql feedback")
        counts = {"answers": len(answers), "kept": 0, "unmatched": 0, "unlabelled": 0, "one_option": 0}
        rng = random.Random(f"feedback-critic:{self.seed}")
        splits: dict[str, list[dict[str, Any]]] = {"train": [], "eval": []}
        with connect(self.db) as db:
            schema_text = whole_schema_text(db.schema())
            for number, answer in enumerate(answers):
                options = self._options(db, number, answer, counts)
                if options is None:
                    continue
                counts["kept"] += 1
                split = "eval" if rng.random() < self.eval_fraction else "train"
                splits[split] += option_rows(options, schema_text, rng, orderings=self.orderings,
                                             metadata=self.metadata, encoder=self.encoder, ordering=self.ordering,
                                             conversation=earlier[answer["id"]])
        if not counts["kept"]:
            why = {"one_option": "all of whose candidates gave one result",
                   "unmatched": "whose correction gives a result none of its candidates gave",
                   "unlabelled": "whose feedback does not say which result is right"}
            left = "; ".join(f"{counts[k]} {text}" for k, text in why.items() if counts[k])
            raise DatasetError(f"none of the {counts['answers']} answers with feedback for {self.database!r} makes a "
                               f"critic example ({left})",
                               hint="an answer teaches the critic when its candidates give at least two results and "
                                    "its feedback says which one is right")
        card = {"source": "feedback", "database": self.database, "questions": counts["kept"], "feedback": counts,
                "encoder_critic": self.encoder.to_dict(),
                "settings": {"orderings": self.orderings, "ordering": self.ordering,
                             "eval_fraction": self.eval_fraction, "seed": self.seed, "max_options": self.max_options,
                             "timeout_s": self.timeout_s}}
        write_dataset(self.output, "critic", splits, card)
        return {**card, "counts": {k: len(v) for k, v in splits.items() if v}}

    def _run(self, db: Any, sql: str) -> Any:
        return execute_many([ExecutionItem(db, sql)], timeout_s=self.timeout_s, max_rows=1000)[0]

    def _options(self, db: Any, number: int, answer: dict[str, Any], counts: dict[str, int]
                 ) -> LabelledOptions | None:
        stored = answer.get("candidates") or []
        priority = list(dict.fromkeys(name for c in stored for name in c.get("generators", {})))
        candidates = [CandidateResult(c["sql"], sample_sources(c.get("generators", {}), priority),
                                      self._run(db, c["sql"])) for c in stored]
        groups = group_by_result(candidates)
        shown = shown_groups(groups, self.encoder.include_failed)
        if len(shown) < 2:
            counts["one_option"] += 1
            return None
        latest = answer["feedback"][-1]
        chosen_sql = answer.get("sql")
        chosen = next((i for i in shown if any(m.sql == chosen_sql for m in groups[i].members)), None)
        if latest.get("sql"):
            target = result_key(self._run(db, latest["sql"]))
            right = [groups[i].key == target for i in shown]
            if not any(right):
                counts["unmatched"] += 1
                return None
        elif latest.get("correct") and chosen is not None:
            right = [i == chosen for i in shown]
        elif not latest.get("correct") and chosen is not None and len(shown) == 2:
            right = [i != chosen for i in shown]
        else:
            counts["unlabelled"] += 1
            return None
        if len(shown) > self.max_options:  # the right group first, then the most proposed wrong ones
            ranked = sorted(range(len(shown)), key=lambda j: (not right[j], -groups[shown[j]].count, j))
            keep = sorted(ranked[: self.max_options])
            shown, right = [shown[j] for j in keep], [right[j] for j in keep]
        item = BenchmarkItem(index=number, db_id=self.database, question=str(answer.get("question", "")),
                             gold_sql="", evidence=answer.get("evidence"), question_id=answer.get("id"))
        return LabelledOptions(item, tuple(priority), tuple(groups), tuple(shown), tuple(right))


def earlier_turns(store: Store, answer: dict[str, Any]) -> str:
    """The turns of ``answer``'s conversation before it, as the store holds them now (every one, and a turn's SQL
    as feedback corrected it; its critic read at most the pipeline's ``conversation.max_turns`` within their
    budget, without values when values were not shared); empty for a first question."""
    turn, conversation = answer.get("turn"), answer.get("conversation_id")
    if not turn or not conversation:
        return ""
    return conversation_text(store.conversations.turns(conversation)[:turn])
