"""What the prepare stage adds from the store for one database: people's notes, the verified examples most
like each question (ranked again with a draft query once the first generator has answered), the earlier turns
of a conversation within a token budget, and the verified SQL for a question that is a verified one asked
again."""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from mscsql.config import PipelineConfig
from mscsql.db.sqltext import tables_read, without_values
from mscsql.generation.base import Sample
from mscsql.generation.candidates import collect_candidates
from mscsql.linking.render import approximate_tokens
from mscsql.prompts import NO_CONTEXT, PromptContext
from mscsql.retrieval.examples import ExampleIndex, ExampleRanker, same_question
from mscsql.types import Question, Schema, Turn, VerifiedExample

log = logging.getLogger(__name__)


class Knowledge:
    """The store's knowledge of the database named ``database``, as ``config`` says to use it."""

    def __init__(self, store: Any, database: str, config: PipelineConfig) -> None:
        self.store = store
        self.database = database
        self.config = config
        self._lock = threading.Lock()
        self._index: ExampleIndex | None = None
        self._index_key: tuple[Any, ...] | None = None

    # -- verified examples ------------------------------------------------------------------------------------

    def index(self, schema: Schema) -> ExampleIndex | None:
        """The database's examples ready to rank (None when it has none); built again when they change."""
        version = self.store.examples.version(self.database)
        if version[0] == 0:
            return None
        with self._lock:
            key = (version, schema)
            if self._index_key != key:
                examples = self.store.examples.verified(self.database)
                self._index = self._ranker().index(examples, schema)
                self._index_key = key
            return self._index

    def _ranker(self) -> ExampleRanker:
        encoder = None
        if importlib.util.find_spec("sentence_transformers") is not None:
            from mscsql.retrieval.encoder import get_encoder

            settings = self.config.retrieval
            encoder = get_encoder(settings.encoder, settings.device, settings.batch_size)
        else:
            log.info("sentence-transformers is not installed: verified examples are ranked by shared words")
        settings = self.config.examples
        return ExampleRanker(encoder, masked_weight=settings.masked_weight, skeleton_weight=settings.skeleton_weight)

    def verified_for(self, question: Question, schema: Schema) -> VerifiedExample | None:
        """The verified example ``question`` asks again, when answering with it directly is on."""
        if not self.config.examples.answer_verified or question.conversation:
            return None
        index = self.index(schema)
        if index is None:
            return None
        return next((e for e in index.examples
                     if same_question(question.text, e.question, question.evidence, e.evidence)), None)

    def examples_for(self, question: Question, schema: Schema, draft: str | None = None) -> tuple[VerifiedExample, ...]:
        """The ``examples.k`` examples most like ``question`` (and, with a draft, like the draft's SQL)."""
        index = self.index(schema) if self.config.examples.k else None
        if index is None:
            return ()
        text = question.text if not question.evidence else f"{question.text} {question.evidence}"
        ranked = index.rank(text, schema, draft=draft, k=self.config.examples.k)
        examples = tuple(r.example for r in ranked)
        if not self.config.share_values:  # no value of a stored query reaches a model (nor one it cannot read)
            names = _names(schema)
            shown = [replace(e, sql=without_values(e.sql, schema.dialect, names)) for e in examples]
            examples = tuple(e for e in shown if e.sql is not None)
        return examples

    # -- conversations ------------------------------------------------------------------------------------------

    def history(self, question: Question, schema: Schema, before: int | None = None) -> tuple[Turn, ...]:
        """The turns of ``question``'s conversation that fit the prompt: the latest ``max_turns`` within
        ``budget_tokens``, oldest first (their SQL without values when values are not shared); ``before``: only
        the turns before that position (those an answer given at that turn saw)."""
        if not question.conversation:
            return ()
        self.store.conversations.require(question.conversation, self.database)
        settings = self.config.conversation
        turns = self.store.conversations.turns(question.conversation)[:before]
        if not self.config.share_values:
            names = _names(schema)
            turns = tuple(replace(t, sql=without_values(t.sql, schema.dialect, names) if t.sql else None)
                          for t in turns)
        kept: list[Turn] = []
        spent = 0
        for turn in reversed(turns):
            cost = approximate_tokens(" ".join([turn.question, turn.evidence or "", turn.sql or "", *turn.columns]))
            if len(kept) >= settings.max_turns or spent + cost > settings.budget_tokens:
                break
            kept.append(turn)
            spent += cost
        return tuple(reversed(kept))

    def tables_to_keep(self, turns: Sequence[Turn], dialect: str) -> tuple[str, ...]:
        """The tables the previous turn's SQL read, when the linker should keep them."""
        if not turns or not self.config.conversation.keep_tables or not turns[-1].sql:
            return ()
        return tables_read(turns[-1].sql, dialect)

    def record(self, question: Question, sql: str | None, columns: Sequence[str]) -> tuple[str, int]:
        """Add the answered question to its conversation (a new one when it has none); (id, position)."""
        conversation = question.conversation or self.store.conversations.start(self.database)
        position = self.store.conversations.add_turn(conversation, Turn(question.text, sql, tuple(columns),
                                                                        question.evidence))
        return conversation, position

    # -- prompts -----------------------------------------------------------------------------------------------

    def context(self, question: Question, schema: Schema, turns: tuple[Turn, ...]) -> PromptContext:
        notes = self.store.notes.texts(self.database)
        examples = self.examples_for(question, schema)
        if not (notes or examples or turns):
            return NO_CONTEXT
        return PromptContext(notes=notes, examples=examples, turns=turns)

    def reranked_with_draft(self, question: Question, schema: Schema, context: PromptContext,
                            samples: Sequence[Sample]) -> PromptContext | None:
        """The context with examples ranked again by the draft (the query ``samples`` propose most), or None
        when there is no draft or the examples stay the same."""
        if self.config.examples.draft != "first-generator" or not context.examples:
            return None
        draft = next((c.sql for c in collect_candidates({"draft": samples}, schema.dialect) if c.ok), None)
        if draft is None:
            return None
        examples = self.examples_for(question, schema, draft)
        return None if examples == context.examples else replace(context, examples=examples)


def _names(schema: Schema) -> frozenset[str]:
    """The lower-case names of ``schema``'s tables and columns (quoted text that is none of them is a value)."""
    return frozenset(n.lower() for t in schema.tables for n in (t.name, t.qualified_name, *(c.name for c in t.columns)))
