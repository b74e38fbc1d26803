"""Stage 1, prepare: the values each question mentions, the linked schema, its rendering within the token
budget, and the generator prompt (with each question's notes, verified examples and earlier turns: its
:class:`~mscsql.prompts.PromptContext`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from mscsql.linking.base import LinkRequest, linked, with_tables
from mscsql.linking.render import RenderOptions, render_schema
from mscsql.prompts import NO_CONTEXT, PromptContext, RenderedPrompt, generator_prompt
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
    #: the notes, verified examples and earlier turns the prompt shows
    context: PromptContext = NO_CONTEXT
    #: generator name -> the prompt it gets instead of ``prompt`` (examples ranked again with a draft query)
    member_prompts: tuple[tuple[str, RenderedPrompt], ...] = ()

    def prompt_for(self, member: str) -> RenderedPrompt:
        """The prompt the generator named ``member`` gets."""
        return next((p for name, p in self.member_prompts if name == member), self.prompt)

    def for_members(self, members: Sequence[str], context: PromptContext) -> Prepared:
        """The same question with the prompt written for ``context`` given to the generators ``members``."""
        prompt = generator_prompt(self.question, self.schema_text, self.link.full_schema.dialect, context)
        return replace(self, member_prompts=tuple((name, prompt) for name in members))


def retrieve_values(index: Any, questions: Sequence[Question]) -> list[tuple[ValueMatch, ...]]:
    """The values ``index`` (a :class:`~mscsql.retrieval.ValueIndex`, or None: no values) finds for each
    question and its evidence."""
    if index is None:
        return [() for _ in questions]
    return [tuple(index.search(question_text(q.text, q.evidence))) for q in questions]


def prepare(questions: Sequence[Question], schema: Schema, values: Sequence[Sequence[ValueMatch]],
            linker: Linker, *, budget_tokens: int | None, keys: Sequence[int | str | None] | None = None,
            tables: Sequence[TablePolicy | None] | None = None, contexts: Sequence[PromptContext] | None = None,
            keep_tables: Sequence[Sequence[str]] | None = None) -> list[Prepared]:
    """Link every question of one database (one linker call for the batch), render each linked schema
    within ``budget_tokens`` and build the generator prompt. ``tables``: per question, the tables it may see
    (None: all of ``schema``); values from other tables are dropped. ``contexts``: per question, what the
    prompt shows besides the schema; ``keep_tables``: per question, tables the link keeps whatever the linker
    chose (a conversation's previous tables)."""
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
    contexts = list(contexts) if contexts is not None else [NO_CONTEXT] * len(questions)
    kept = list(keep_tables) if keep_tables is not None else [()] * len(questions)
    prepared = []
    for question, link, key, context, names, request in zip(questions, links, keys, contexts, kept, requests,
                                                            strict=True):
        if names:  # only tables the question may see
            allowed = {t.qualified_name.lower() for t in request.schema.tables} | {t.name.lower() for t in
                                                                                   request.schema.tables}
            link = with_tables(link, [n for n in names if n.lower() in allowed], "conversation")
        text = render_schema(link, options).text
        prepared.append(Prepared(question, link, text, generator_prompt(question, text, schema.dialect, context), key,
                                 context))
    return prepared


def whole_schema_text(schema: Schema, budget_tokens: int = 2048) -> str:
    """The whole schema as a critic reads it, for candidates that come without their linked schema (stored
    prediction files)."""
    everything = linked(schema, {t.qualified_name: None for t in schema.tables}, linker="keep-all")
    return render_schema(everything, RenderOptions(budget_tokens=budget_tokens)).text
