"""``TextToSQL``: the whole pipeline behind one object, for BI tools and scripts.

    from mscsql import TextToSQL

    with TextToSQL.from_config("default", db="demo.sqlite") as t2s:
        answer = t2s.ask("Which region ordered the most units?")
        print(answer.sql, answer.result.rows)

A batch of questions goes through the stages of :mod:`mscsql.stages` together: values are retrieved and the
schema linked for each question; every generator gets one call for the whole batch (models stay loaded
between calls); every candidate runs read-only on the database; candidates with the same result form groups
and the configured selector picks one. ``ask`` always returns an :class:`Answer` or raises an ``MscSqlError``.

The loaded models live in a :class:`~mscsql.stages.Models` that several ``TextToSQL`` (one per database) can
share; one ``TextToSQL`` may be called from several threads.

What people teach the pipeline lives in a :class:`~mscsql.store.Store` (a throwaway one unless one is given):
verified examples (``t2s.examples``), notes about the database (``t2s.notes``) and conversations. Every answer
carries a ``conversation_id``; ``ask(..., conversation=answer.conversation_id)`` asks a follow-up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mscsql.answer import Answer, CandidateInfo, GroupInfo, answer_json
from mscsql.config import PipelineConfig, checked_limits, load_generation_config
from mscsql.errors import DatabaseError, MscSqlError, NotFound, RejectedInput, redact
from mscsql.stages import (
    BatchControl,
    Limits,
    Models,
    StageEvent,
    candidate_pools,
    check_before_stages,
    choose,
    execute,
    prepare,
    retrieve_values,
    sample,
    top_ties,
)
from mscsql.stages import answers as build_answers
from mscsql.stages.choose import verified_answer
from mscsql.stages.knowledge import Knowledge
from mscsql.store import Store, promoted_example, verify_sql
from mscsql.types import ExecutionItem, Question, Schema

__all__ = ["Answer", "CandidateInfo", "GroupInfo", "TextToSQL", "answer_json"]

log = logging.getLogger(__name__)


class TextToSQL:
    """Linking, generation, execution and selection over one database."""

    def __init__(self, config: PipelineConfig | str | Path | dict[str, Any], db: Any, *,
                 trace_dir: str | Path | None = None, models: Models | None = None,
                 tables_json: str | Path | None = None, store: Store | str | None = None,
                 name: str | None = None) -> None:
        """``config``: a :class:`PipelineConfig`, or what :meth:`from_config` reads (a packaged config's name, a
        YAML file, a dict); ``db``: a URL, a path or a Database; ``models``: loaded models to share with other
        databases (by default this object loads its own); ``tables_json``: a Spider/BIRD ``tables.json`` whose
        names and descriptions the schema gets; ``store``: where verified examples, notes and conversations are
        kept (a :class:`Store` or its URL; by default a throwaway one, deleted on :meth:`close`); ``name``: the
        database's name in the store (by default its location: the SQLite file's absolute path, or the server,
        port and database without the login)."""
        from mscsql.db import connect

        if not isinstance(config, PipelineConfig):
            config = load_generation_config(config, PipelineConfig)
        self.config = config
        #: where each answer's stages are appended (``trace.jsonl``) with the samples in a store that the
        #: ``replay`` backend reads (``samples.jsonl``); None: no trace
        self.trace_dir = Path(trace_dir) if trace_dir is not None else None
        self._own_store = not isinstance(store, Store)
        self.store = store if isinstance(store, Store) else Store(store) if store else Store()
        try:
            self.db = connect(db, execution=config.execution, tables_json=tables_json,
                              schema_settings=config.schema_settings)
        except Exception:
            if self._own_store:
                self.store.close()
            raise
        self.config_hash = hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]
        self.models = models if models is not None else Models(config)
        self._own_models = models is None
        self._index: Any = None
        self._index_lock = threading.Lock()
        self._trace_lock = threading.Lock()
        self._checked = False
        self.name = name or database_name(self.db)
        self.knowledge = Knowledge(self.store, self.name, config)

    def schema(self) -> Schema:
        """The database's schema as the models may read it: without example values when the config shares no
        values (whatever the Database object it was given was opened with)."""
        schema = self.db.schema()
        return schema if self.config.share_values else schema.without_values()

    @classmethod
    def from_config(cls, config: str | Path | dict[str, Any] | PipelineConfig, *, db: Any,
                    trace_dir: str | Path | None = None, models: Models | None = None,
                    tables_json: str | Path | None = None, store: Store | str | None = None,
                    name: str | None = None, overrides: list[str] | None = None) -> TextToSQL:
        """``config``: a packaged config's name (``default``, ``cpu``, ``local-server``, ...), a YAML file, a
        dict or a :class:`PipelineConfig`; ``db``: a URL, a path or a Database; ``trace_dir``: a folder where
        every answer's stages and samples are appended; ``store`` and ``name``: see :class:`TextToSQL`;
        ``overrides``: ``key=value`` settings on top of the config (:mod:`mscsql.overrides`)."""
        if isinstance(config, PipelineConfig):
            if overrides:
                config = load_generation_config(config.model_dump(mode="json", exclude_unset=True), PipelineConfig,
                                                overrides)
        else:
            config = load_generation_config(config, PipelineConfig, overrides)
        return cls(config, db, trace_dir=trace_dir, models=models, tables_json=tables_json, store=store, name=name)

    def ask(self, question: str, evidence: str | None = None, *, max_rows: int | None = None,
            timeout_s: float | None = None, conversation: str | None = None) -> Answer:
        """Answer one question; ``max_rows`` and ``timeout_s`` override the config's for this call;
        ``conversation``: an earlier answer's ``conversation_id``, to ask a follow-up question."""
        return self.ask_batch([Question(question, evidence=evidence, conversation=conversation)], max_rows=max_rows,
                              timeout_s=timeout_s)[0]

    # -- what people teach ---------------------------------------------------------------------------------

    def add_example(self, question: str, sql: str, evidence: str | None = None, *, source: str = "added",
                    answer_id: str | None = None) -> dict[str, Any]:
        """Keep a verified example for this database: its SQL must pass the guard and run read-only first."""
        verify_sql(self.db, sql, self.config.execution.timeout_s)
        return self.store.examples.add(self.name, question, sql, evidence, source=source, answer_id=answer_id)

    def import_examples(self, examples: str | Path | Sequence[dict[str, Any]], *, skip_invalid: bool = False
                        ) -> dict[str, Any]:
        """Keep many verified examples: a JSON or JSON Lines file of ``{question, sql, evidence?}`` (or such dicts).
        Every SQL is checked and run first; one that fails keeps none of them (a :class:`RejectedInput` naming
        each), unless ``skip_invalid``. Returns ``kept`` (the examples as stored), ``already`` (how many of them
        were kept before) and ``failed`` (entry number -> why)."""
        from mscsql.store.examples import checked_examples, read_examples_file

        source = str(examples) if isinstance(examples, str | Path) else "the examples given"
        entries = read_examples_file(examples) if isinstance(examples, str | Path) else checked_examples(
            [(f"entry {i + 1}", e) for i, e in enumerate(examples)], source)
        failed: dict[int, str] = {}
        for number, example in enumerate(entries, 1):
            try:
                verify_sql(self.db, example["sql"], self.config.execution.timeout_s)
            except MscSqlError as error:
                failed[number] = f"{number}: {example['question'][:60]!r}: {error.message}"
        if failed and not skip_invalid:
            raise RejectedInput(f"{len(failed)} of {len(entries)} examples in {source} failed their check, so none "
                                "was kept:\n  " + "\n  ".join(failed.values()),
                                hint="fix them, or skip the ones that fail (--skip-invalid, skip_invalid=True)")
        before = {e["id"] for e in self.store.examples.list(self.name)}
        kept = [self.store.examples.add(self.name, e["question"], e["sql"], e["evidence"], source="imported")
                for number, e in enumerate(entries, 1) if number not in failed]
        return {"kept": kept, "already": sum(e["id"] in before for e in kept), "failed": failed}

    def promote(self, answer: str | dict[str, Any]) -> dict[str, Any]:
        """Make a kept answer (its id, or the answer as :class:`~mscsql.store.Store` keeps it, with its
        ``feedback``) a verified example: its SQL when people confirmed it, their correction when they gave one."""
        found = self.kept_answer(answer) if isinstance(answer, str) else answer
        question, evidence, sql = promoted_example(found)
        return self.add_example(question, sql, evidence, source="promoted", answer_id=found.get("id"))

    # -- what people say about answers -----------------------------------------------------------------------

    def keep(self, answer: Answer) -> str:
        """Keep ``answer`` in the store under this database; its id, for :meth:`feedback` and :meth:`promote`
        (the service keeps every answer it gives; ``mscsql ask`` too)."""
        answer_id = self.store.answers.put(self.name, answer.to_dict())
        if answer.conversation_id is not None and answer.turn is not None:
            self.store.conversations.attach_answer(answer.conversation_id, answer.turn, answer_id)
        return answer_id

    def kept_answer(self, answer_id: str) -> dict[str, Any]:
        """The answer kept under ``answer_id`` for this database, with its feedback (:class:`NotFound`
        otherwise)."""
        found = self.store.answers.get(answer_id)
        if found is None or found.get("database") != self.name:
            raise NotFound(f"no answer with id {answer_id!r} for database {self.name}",
                           hint="use the id printed with the answer, on the database it answered")
        return {**found, "feedback": self.store.answers.feedback(answer_id)}

    def feedback(self, answer_id: str, correct: bool, sql: str | None = None) -> dict[str, Any]:
        """Record whether the kept answer ``answer_id`` was right, and the right query when it was not (one
        read-only statement for this database, checked by the guard); returns the feedback as stored."""
        self.kept_answer(answer_id)
        if sql is not None and not correct:
            self.db.check(sql)
        return self.store.add_feedback(answer_id, correct, sql)

    def examples(self) -> list[dict[str, Any]]:
        """This database's verified examples, oldest first."""
        return self.store.examples.list(self.name)

    def remove_example(self, example_id: int) -> None:
        self.store.examples.remove(self.name, example_id)

    def add_note(self, text: str) -> dict[str, Any]:
        """Keep a note about this database (it goes into every generator prompt)."""
        return self.store.notes.add(self.name, text)

    def notes(self) -> list[dict[str, Any]]:
        return self.store.notes.list(self.name)

    def remove_note(self, note_id: int) -> None:
        self.store.notes.remove(self.name, note_id)

    def ask_batch(self, questions: Sequence[Question | str], *, max_rows: int | None = None,
                  timeout_s: float | None = None, on_event: Callable[[StageEvent], None] | None = None
                  ) -> list[Answer]:
        """Answer a batch (every stage sees the whole batch); ``on_event`` receives each stage's progress."""
        answered = self.run_batch(questions, limits=self.limits(max_rows, timeout_s),
                                  control=BatchControl(on_event=on_event))
        return [a for a in answered if a is not None]

    def limits(self, max_rows: int | None = None, timeout_s: float | None = None) -> Limits:
        """The config's execution limits with the given overrides (one clear error for an unusable value)."""
        timeout = self.config.execution.timeout_s if timeout_s is None else timeout_s
        rows = self.config.selection.max_rows if max_rows is None else max_rows
        checked_limits(timeout, rows, "ask")
        return Limits(timeout_s=timeout, max_rows=rows)

    def run_batch(self, questions: Sequence[Question | str], *, limits: Limits | Sequence[Limits] | None = None,
                  control: BatchControl | None = None) -> list[Answer | None]:
        """The stages over a batch, with per-question ``limits``; a question ``control`` cancels is dropped
        between stages and gets None. A question that is a verified example asked again is answered with the
        example's SQL; every answer is added to its conversation (a new one for a first question)."""
        asked = [q if isinstance(q, Question) else Question(q) for q in questions]
        if not asked:
            return []
        empty = [i for i, q in enumerate(asked) if not q.text.strip()]
        if empty:
            where = "the question" if len(asked) == 1 else f"question {empty[0] + 1} of the {len(asked)}"
            raise RejectedInput(f"{where} is empty", hint="ask a question about the database in words")
        control = control or BatchControl()
        per_question = [limits or self.limits()] * len(asked) if not isinstance(limits, Sequence) else list(limits)
        schema = self.schema()
        if not schema.tables:
            raise DatabaseError(f"database {self.name} has no tables to ask about",
                                hint="check the path or URL: an empty file is a SQLite database with no tables")
        histories = [self.knowledge.history(q, schema) for q in asked]  # an unknown conversation fails at once
        out: list[Answer | None] = [None] * len(asked)
        live = control.live(range(len(asked)))
        for position, answer in self._verified(asked, live, per_question, control).items():
            out[position] = answer
        live = [i for i in live if out[i] is None]
        if live:
            if not self._checked:  # before any model or index loads (a verified question needs none of them)
                check_before_stages(self.config, self.models)
                self._checked = True
            for position, answer in self._generated(asked, live, per_question, histories, control).items():
                out[position] = answer
        return [self._record(answer) if answer is not None else None for answer in out]

    def _verified(self, asked: list[Question], positions: list[int], limits: list[Limits], control: BatchControl
                  ) -> dict[int, Answer]:
        """The questions that are verified examples asked again, answered with the examples' SQL (run now,
        read-only); a verified query that no longer runs leaves its question to the generators."""
        schema = self.schema()
        found = {i: e for i in positions if (e := self.knowledge.verified_for(asked[i], schema)) is not None}
        if not found:
            return {}
        from mscsql.db import execute_many

        answers = {}
        with control.stage("execution", list(found)) as detail:
            started = time.perf_counter()
            results = [execute_many([ExecutionItem(self.db, e.sql, tables=limits[i].tables)],
                                    timeout_s=limits[i].timeout_s, max_rows=limits[i].max_rows)[0]
                       for i, e in found.items()]
            elapsed = time.perf_counter() - started
            for (i, example), result in zip(found.items(), results, strict=True):
                if result.ok:
                    answers[i] = verified_answer(asked[i], example, result, schema, config_hash=self.config_hash,
                                                 timings={"execution_s": elapsed})
                else:
                    log.warning("verified example %s no longer runs (%s): the question goes to the generators",
                                example.id, result.error or result.status.value)
            detail["verified"] = [found[i].id for i in answers]
        return answers

    def _generated(self, asked: list[Question], live: list[int], per_question: list[Limits],
                   histories: list[tuple[Any, ...]], control: BatchControl) -> dict[int, Answer]:
        """The stages for the questions at ``live``: batch position -> answer (none for a cancelled one)."""
        timings: dict[str, float] = {}
        prepared = self._prepare([asked[i] for i in live], timings, control, live,
                                 [per_question[i].tables for i in live], [histories[i] for i in live])
        live, prepared = _still_wanted(control, live, prepared)

        started = time.perf_counter()
        refined: list[Any] = list(prepared)

        def refine(items: Sequence[Any], first: Sequence[list[Any]]) -> list[Any]:
            refined[:] = [self._with_draft(item, samples) for item, samples in zip(items, first, strict=True)]
            return refined

        samples = sample(self.config.generators, prepared, self.models, control=control, positions=live,
                         refine=refine if len(self.config.generators) > 1 else None)
        timings["generation_s"] = time.perf_counter() - started
        live, (prepared, samples) = _still_wanted(control, live, refined, samples)

        started = time.perf_counter()
        priority = [g.name for g in self.config.generators]
        pools = candidate_pools(samples, self.db.dialect)
        executed = execute(self.db, pools, priority, limits=[per_question[i] for i in live],
                           workers=self.config.execution.workers, control=control, positions=live)
        timings["execution_s"] = time.perf_counter() - started
        live, (prepared, pools, executed) = _still_wanted(control, live, prepared, pools, executed)

        started = time.perf_counter()
        choices = choose(self.models, [p.question for p in prepared], [p.schema_text for p in prepared], executed,
                         priority, control=control, positions=live, contexts=[p.context for p in prepared])
        wanted = set(control.live(live))
        ties = top_ties(self.db, choices, limits=[per_question[i] for i in live],  # what the confidence reads
                        workers=self.config.execution.workers, skip=[i not in wanted for i in live])
        timings["selection_s"] = time.perf_counter() - started
        done = build_answers(prepared, pools, executed, choices, selector=self.config.selection.selector,
                             timings=timings, config_hash=self.config_hash, confidence=self.models.confidence,
                             min_confidence=self.config.selection.min_confidence,
                             weights=self.models.generator_weights, ties=ties)
        if self.trace_dir is not None:
            self._trace(done, prepared, samples)
        return dict(zip(live, done, strict=True))

    def _with_draft(self, item: Any, first_samples: list[Any]) -> Any:
        """``item`` with the examples the later generators see ranked again by the first one's draft."""
        members = [g.name for g in self.config.generators[1:]]
        context = self.knowledge.reranked_with_draft(item.question, item.link.full_schema, item.context, first_samples)
        return item if context is None else item.for_members(members, context)

    def _record(self, answer: Answer) -> Answer:
        """``answer`` added to its conversation; a store that fails costs the conversation, never the answer."""
        columns = answer.result.columns if answer.result is not None else ()
        try:
            conversation, turn = self.knowledge.record(answer.question, answer.sql, columns)
        except Exception as error:  # the store's database refused or is gone: SQLAlchemy raises many kinds
            log.error("the answer could not be added to its conversation: %s", redact(str(error)))
            return answer
        return replace(answer, conversation_id=conversation, turn=turn)

    def _trace(self, answers: list[Answer], prepared: list[Any], samples: list[dict[str, list[Any]]]) -> None:
        with self._trace_lock:
            self._write_trace(answers, prepared, samples)

    def _write_trace(self, answers: list[Answer], prepared: list[Any], samples: list[dict[str, list[Any]]]) -> None:
        from dataclasses import asdict

        from mscsql.generation.registry import sampling_params
        from mscsql.generation.store import SampleStore, generator_key

        assert self.trace_dir is not None
        self.trace_dir.mkdir(parents=True, exist_ok=True)
        store = SampleStore(self.trace_dir / "samples.jsonl")
        members = {m.name: m for m in self.config.generators}
        with (self.trace_dir / "trace.jsonl").open("a", encoding="utf-8") as sink:
            for answer, item, per_generator in zip(answers, prepared, samples, strict=True):
                for name, generated in per_generator.items():
                    prompt = item.prompt_for(name)
                    store.put(generator_key(members[name]), prompt.prompt_hash, sampling_params(members[name]),
                              list(generated), template=prompt.template)
                record = answer.to_dict()
                record["values"] = [asdict(v) for v in answer.linked_schema.values]
                record["linked_columns"] = answer.linked_schema.column_names()
                record["link_trace"] = list(answer.linked_schema.trace)
                record["samples"] = {n: [x.text for x in g] for n, g in per_generator.items()}
                record["confidence_features"] = answer.confidence_features  # what the confidence read
                sink.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")

    def critic_prompts(self, answer: Answer) -> list[Any]:
        """What the LLM critic reads for ``answer``'s question, one prompt per ordering or per ordered pair (the
        groups rebuilt by running the answer's candidates again, a follow-up's earlier turns as the store holds them
        now, with any correction feedback made since): for inspecting a decision, or training a critic on it. The
        prompts come from the config's critic settings; no model is loaded."""
        from mscsql.critic.grouping import CandidateResult, group_by_result, sample_sources
        from mscsql.critic.llm import critic_metadata, critic_prompt, prompt_orders
        from mscsql.db import execute_many
        from mscsql.linking import RenderOptions, render_schema
        from mscsql.prompts.generator import conversation_text

        priority = [g.name for g in self.config.generators]
        results = execute_many([(self.db, c.sql) for c in answer.candidates],
                               timeout_s=self.config.execution.timeout_s, max_rows=self.config.selection.max_rows)
        executed = [CandidateResult(c.sql, sample_sources(c.generators, priority), r)
                    for c, r in zip(answer.candidates, results, strict=True)]
        groups = [g for g in group_by_result(executed) if g.ok]
        settings = self.config.selection.critic
        metadata = critic_metadata(settings, show_rows=self.config.selection.show_rows) if settings else None
        text = render_schema(answer.linked_schema,
                             RenderOptions(budget_tokens=self.config.linking.schema_budget_tokens)).text
        earlier = self.knowledge.history(replace(answer.question, conversation=answer.conversation_id),
                                         self.schema(), before=answer.turn) if answer.turn else ()
        return [critic_prompt(answer.question.text, answer.question.evidence, text, [groups[j] for j in order],
                              metadata, conversation_text(earlier))
                for order in prompt_orders(groups, settings, priority)]

    def prompts(self, questions: Sequence[Question | str]) -> list[Any]:
        """The generator prompts the pipeline would send for ``questions`` (retrieval, linking, notes, examples,
        earlier turns, rendering), as the first generator gets them."""
        asked = [q if isinstance(q, Question) else Question(q) for q in questions]
        histories = [self.knowledge.history(q, self.schema()) for q in asked]
        return [p.prompt for p in self._prepare(asked, {}, BatchControl(), list(range(len(asked))), None, histories)]

    def _prepare(self, asked: list[Question], timings: dict[str, float], control: BatchControl,
                 positions: list[int], tables: list[Any] | None, histories: list[tuple[Any, ...]]) -> list[Any]:
        with control.stage("linking", positions) as detail:
            started = time.perf_counter()
            schema = self.schema()
            values = retrieve_values(self.value_index() if self.config.use_values else None, asked)
            contexts = [self.knowledge.context(q, schema, turns) for q, turns in zip(asked, histories, strict=True)]
            keep = [self.knowledge.tables_to_keep(turns, schema.dialect) for turns in histories]
            timings["retrieval_s"] = time.perf_counter() - started
            started = time.perf_counter()
            prepared = prepare(asked, schema, values, self.models,
                               budget_tokens=self.config.linking.schema_budget_tokens, tables=tables,
                               contexts=contexts, keep_tables=keep)
            timings["linking_s"] = time.perf_counter() - started
            detail["tables"] = [p.link.table_names for p in prepared]
        return prepared

    def value_index(self) -> Any:
        """This database's value index (opened, or built and saved, on first use)."""
        with self._index_lock:
            if self._index is None:
                from mscsql.retrieval import ValueIndex

                self._index = ValueIndex.open(self.db, None, self.config.retrieval)
            return self._index

    def close(self) -> None:
        if self._own_models:
            self.models.close()
        if self._own_store:
            self.store.close()
        self.db.close()

    def __enter__(self) -> TextToSQL:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def database_name(db: Any) -> str:
    """A database's name in the store when none is given: where it is, so two databases never share one (the
    SQLite file's absolute path; the server's backend, host, port and database, without the login)."""
    import sqlalchemy as sa

    from mscsql.store.migrations import DEFAULT_PORTS

    shown = str(getattr(db, "display_url", "") or "database")
    try:
        url = sa.engine.make_url(shown)
    except sa.exc.ArgumentError:
        return shown
    if url.get_backend_name() == "sqlite":
        return str(Path(url.database or "").resolve())
    backend = url.get_backend_name()
    port = url.port or DEFAULT_PORTS.get(backend, "")  # one name with or without the default port in the URL
    return f"{backend}://{url.host or ''}:{port}/{url.database or ''}"


def _still_wanted(control: BatchControl, positions: list[int], *columns: list[Any]) -> tuple[list[int], Any]:
    """The positions still wanted and, for each column (one entry per position), the entries kept."""
    wanted = set(control.live(positions))
    keep = [j for j, p in enumerate(positions) if p in wanted]
    kept = tuple([column[j] for j in keep] for column in columns)
    return [positions[j] for j in keep], (kept[0] if len(kept) == 1 else kept)
