"""Stage 1, prepare: the values each question mentions, the linked schema, its rendering within the token
budget, and the generator prompt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mscsql.linking.base import LinkRequest, linked
from mscsql.linking.render import RenderOptions, render_schema
from mscsql.prompts import RenderedPrompt, generator_prompt
from mscsql.retrieval.text import question_text
from mscsql.types import LinkedSchema, Question, Schema, TablePolicy, ValueMatch


class Linker(Protocol):
    """Anything that links a batch: a :class:`~mscsql.linking.base.SchemaLinker`, or the loaded models."""

    def link(self, requests: Sequence[LinkRequest]) -> list[LinkedSchema]: ...


@dataclass(frozen=True)
class Prepared:
    """One question ready for the generators."""

    question: Question
    link: LinkedSchema
    #: the linked schema as the prompt shows it (the critic reads the same text)
    schema_text: str
    prompt: RenderedPrompt
    #: the caller's name for the question (a benchmark's question index); replayed prediction files use it
    key: int | str | None = None


def retrieve_values(index: Any, questions: Sequence[Question]) -> list[tuple[ValueMatch, ...]]:
    """The values ``index`` (a :class:`~mscsql.retrieval.ValueIndex`, or None: no values) finds for each
    question and its evidence."""
    if index is None:
        return [() for _ in questions]
    return [tuple(index.search(question_text(q.text, q.evidence))) for q in questions]


def prepare(questions: Sequence[Question], schema: Schema, values: Sequence[Sequence[ValueMatch]],
            linker: Linker, *, budget_tokens: int | None, keys: Sequence[int | str | None] | None = None,
            tables: Sequence[TablePolicy | None] | None = None) -> list[Prepared]:
    """Link every question of one database (one linker call for the batch), render each linked schema
    within ``budget_tokens`` and build the generator prompt. ``tables``: per question, the tables it may see
    (None: all of ``schema``); values from other tables are dropped."""
    policies = list(tables) if tables is not None else [None] * len(questions)
    requests = []
    for question, found, policy in zip(questions, values, policies, strict=True):
        if policy is None or not policy.restricts:
            requests.append(LinkRequest(question, schema, tuple(found)))
        else:
            requests.append(LinkRequest(question, policy.visible(schema),
                                        tuple(v for v in found if policy.permits(v.table))))
    links = linker.link(requests)
    options = RenderOptions(budget_tokens=budget_tokens)
    keys = list(keys) if keys is not None else [None] * len(questions)
    prepared = []
    for question, link, key in zip(questions, links, keys, strict=True):
        text = render_schema(link, options).text
        prepared.append(Prepared(question, link, text, generator_prompt(question, text, schema.dialect), key))
    return prepared


def whole_schema_text(schema: Schema, budget_tokens: int = 2048) -> str:
    """The whole schema as a critic reads it, for candidates that come without their linked schema (stored
    prediction files)."""
    everything = linked(schema, {t.qualified_name: None for t in schema.tables}, linker="keep-all")
    return render_schema(everything, RenderOptions(budget_tokens=budget_tokens)).text
