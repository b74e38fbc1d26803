"""Stage 4, choose: the selector reads each question's candidates jointly with their execution metadata and
picks one; the answer stage turns the choice into the :class:`~mscsql.answer.Answer` users see."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from mscsql.answer import Answer, CandidateInfo, GroupInfo
from mscsql.critic.base import Choice, SelectionItem
from mscsql.critic.confidence import ConfidenceModel, features
from mscsql.critic.grouping import CandidateResult
from mscsql.db.sqltext import tables_read
from mscsql.explain import explain
from mscsql.generation.candidates import Candidate
from mscsql.linking.base import linked
from mscsql.prompts.generator import PromptContext, conversation_text
from mscsql.stages.events import UNWATCHED, BatchControl
from mscsql.stages.prepare import Prepared
from mscsql.types import ExecutionResult, Question, Schema, VerifiedExample


class Chooser(Protocol):
    """Anything that chooses for a batch: a :class:`~mscsql.critic.base.Selector`, or the loaded models."""

    def choose(self, items: Sequence[SelectionItem]) -> list[Choice]: ...


def choose(chooser: Chooser, questions: Sequence[Question], schema_texts: Sequence[str],
           executed: Sequence[Sequence[CandidateResult]], priority: Sequence[str], *,
           control: BatchControl = UNWATCHED, positions: Sequence[int] | None = None,
           contexts: Sequence[PromptContext] | None = None) -> list[Choice]:
    """One choice per question (the whole batch in one ``choose`` call); ``schema_texts``: the schema each
    question's generators saw (``Prepared.schema_text``), which a critic reads too, as it reads the earlier
    turns of a follow-up question among ``contexts`` (``Prepared.context``)."""
    positions = list(range(len(questions))) if positions is None else list(positions)
    turns = [conversation_text(c.turns) for c in contexts] if contexts is not None else [""] * len(questions)
    with control.stage("selection", positions) as detail:
        choices = chooser.choose([SelectionItem(q.text, q.evidence, text, tuple(ex), tuple(priority), conversation)
                                  for q, text, ex, conversation in zip(questions, schema_texts, executed, turns,
                                                                       strict=True)])
        detail["chosen"] = sum(c.candidate is not None for c in choices)
    return choices


def answers(prepared: Sequence[Prepared], pools: Sequence[Sequence[Candidate]],
            executed: Sequence[Sequence[CandidateResult]], choices: Sequence[Choice], *, selector: str,
            timings: dict[str, float] | None = None, config_hash: str = "",
            confidence: ConfidenceModel | None = None, min_confidence: float = 0.0,
            weights: Mapping[str, float] | None = None, ties: Sequence[float] | None = None) -> list[Answer]:
    """The answers: the chosen SQL and result, every candidate with its generators, status and group, the
    groups with the selector's scores, and how confident the choice is (with ``confidence``, a model, reading
    each generator's fixed ``weights`` if any and whether each chosen query's top row is tied, ``ties``
    (:func:`~mscsql.stages.execute.top_ties`); an answer below ``min_confidence`` abstains)."""
    out = []
    ties = list(ties) if ties is not None else [0.0] * len(choices)
    for item, pool, results, choice, tied in zip(prepared, pools, executed, choices, ties, strict=True):
        out.append(answer_of(item, pool, results, choice, selector=selector, timings=dict(timings or {}),
                             config_hash=config_hash, confidence=confidence, min_confidence=min_confidence,
                             weights=weights, tied=tied))
    return out


def answer_of(item: Prepared, pool: Sequence[Candidate], results: Sequence[CandidateResult], choice: Choice, *,
              selector: str, timings: dict[str, Any], config_hash: str, confidence: ConfidenceModel | None = None,
              min_confidence: float = 0.0, weights: Mapping[str, float] | None = None, tied: float = 0.0) -> Answer:
    groups = choice.groups
    group_of = {id(m): gi for gi, g in enumerate(groups) for m in g.members}
    infos = tuple(CandidateInfo(c.sql, dict(proposed.generators),
                                c.result.status.value if proposed.status == "ok" else proposed.status,
                                c.result.error or proposed.error, c.result.row_count, group_of[id(c)])
                  for c, proposed in zip(results, pool, strict=True))
    scores: Sequence[float | None] = choice.scores if choice.scores is not None else [None] * len(groups)
    chosen = choice.candidate
    dialect = item.link.schema.dialect
    said: dict[str, str] = {}  # the chosen SQL is often its group's first: each query explained once

    def explained(sql: str) -> str:
        if sql not in said:
            said[sql] = explain(sql, dialect)
        return said[sql]

    likely, read = None, None
    if confidence is not None:
        read = features(item.question.text, item.question.evidence, results, choice, item.link.full_schema, weights,
                        top_tied=tied)
        likely = round(confidence.predict(read), 4)
    return Answer(question=item.question, sql=chosen.sql if chosen else None, result=chosen.result if chosen else None,
                  candidates=infos,
                  groups=tuple(GroupInfo(g.count, g.ok, s, explained(g.members[0].sql) if g.ok else "")
                               for g, s in zip(groups, scores, strict=True)),
                  chosen_group=choice.group, linked_schema=item.link, selector=selector,
                  unanimous=len([g for g in groups if g.ok]) == 1, timings=timings, config_hash=config_hash,
                  prompt_hash=item.prompt.prompt_hash,
                  explanation=explained(chosen.sql) if chosen else "", confidence=likely,
                  abstained=min_confidence > 0 and (likely is None or likely < min_confidence),
                  confidence_features=read)


def verified_answer(question: Question, example: VerifiedExample, result: ExecutionResult, schema: Schema, *,
                    timings: dict[str, Any], config_hash: str) -> Answer:
    """The answer to ``question`` from the verified ``example`` it asks again, with its SQL's ``result``."""
    tables = {name: None for name in tables_read(example.sql, schema.dialect)}
    return Answer(question=question, sql=example.sql, result=result,
                  candidates=(CandidateInfo(example.sql, {"verified": 1}, result.status.value, result.error,
                                            result.row_count, 0),),
                  groups=(GroupInfo(1, result.ok, 1.0, explain(example.sql, schema.dialect) if result.ok else ""),),
                  chosen_group=0,
                  linked_schema=linked(schema, tables, linker="verified"), selector="verified", unanimous=True,
                  timings=timings, config_hash=config_hash, explanation=explain(example.sql, schema.dialect),
                  source="verified", example_id=example.id, confidence=1.0)
