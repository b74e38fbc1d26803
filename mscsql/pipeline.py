"""``TextToSQL``: the whole pipeline behind one object, for BI tools and scripts.

    from mscsql import TextToSQL

    t2s = TextToSQL.from_config("configs/default.yaml", db="demo.sqlite")
    answer = t2s.ask("Which region ordered the most units?")
    print(answer.sql, answer.result.rows)

A batch of questions goes through every stage together: values are retrieved and the schema linked for
each question; every generator gets one call for the whole batch (models stay loaded between calls);
every candidate runs read-only on the database; candidates with the same result form groups and the
configured selector picks one. ``ask`` always returns an :class:`Answer` or raises an ``MscSqlError``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mscsql.config import PipelineConfig, checked_limits, load_generation_config
from mscsql.types import ExecutionResult, LinkedSchema, Question

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CandidateInfo:
    sql: str
    #: generator name -> how many of its samples proposed this statement
    generators: dict[str, int]
    status: str  # the execution status, or "syntax_error"
    error: str | None
    row_count: int
    #: index into ``Answer.groups`` (candidates with the same result share one)
    group: int


@dataclass(frozen=True)
class GroupInfo:
    count: int  # samples that proposed a member
    ok: bool
    score: float | None = None  # the selector's score, when it has one


@dataclass(frozen=True)
class Answer:
    question: Question
    #: the chosen SQL; None only when no generator proposed anything
    sql: str | None
    result: ExecutionResult | None
    candidates: tuple[CandidateInfo, ...]
    groups: tuple[GroupInfo, ...]
    chosen_group: int | None
    linked_schema: LinkedSchema
    selector: str
    #: True when every successful candidate agreed, so no choice was needed
    unanimous: bool
    timings: dict[str, float] = field(default_factory=dict)
    config_hash: str = ""
    prompt_hash: str = ""

    @property
    def ok(self) -> bool:
        return self.result is not None and self.result.ok

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question.text, "evidence": self.question.evidence, "sql": self.sql,
                "result": self.result.to_dict() if self.result else None,
                "candidates": [c.__dict__ for c in self.candidates], "groups": [g.__dict__ for g in self.groups],
                "chosen_group": self.chosen_group, "selector": self.selector, "unanimous": self.unanimous,
                "linked_tables": self.linked_schema.table_names, "timings": self.timings,
                "config_hash": self.config_hash, "prompt_hash": self.prompt_hash}


class TextToSQL:
    """Linking, generation, execution and selection over one database."""

    def __init__(self, config: PipelineConfig, db: Any, *, trace_dir: str | Path | None = None) -> None:
        from mscsql.db import connect

        self.config = config
        #: where each answer's stages are appended (``trace.jsonl``) with the samples in a store that the
        #: ``replay`` backend reads (``samples.jsonl``); None: no trace
        self.trace_dir = Path(trace_dir) if trace_dir is not None else None
        self.db = connect(db, execution=config.execution)
        self.config_hash = hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]
        self._generators: dict[str, Any] = {}
        self._index: Any = None
        self._linker: Any = None
        self._critic: Any = None
        self._schema_texts: list[str] | None = None
        self._checked = False

    @classmethod
    def from_config(cls, config: str | Path | dict[str, Any] | PipelineConfig, *, db: Any,
                    trace_dir: str | Path | None = None) -> TextToSQL:
        """``config``: a YAML file, a dict or a :class:`PipelineConfig`; ``db``: a URL, a path or a Database;
        ``trace_dir``: a folder where every answer's stages and samples are appended."""
        if not isinstance(config, PipelineConfig):
            config = load_generation_config(config, PipelineConfig)
        return cls(config, db, trace_dir=trace_dir)

    def ask(self, question: str, evidence: str | None = None, *, max_rows: int | None = None,
            timeout_s: float | None = None) -> Answer:
        """Answer one question; ``max_rows`` and ``timeout_s`` override the config's for this call."""
        return self.ask_batch([Question(question, evidence=evidence)], max_rows=max_rows, timeout_s=timeout_s)[0]

    def ask_batch(self, questions: Sequence[Question | str], *, max_rows: int | None = None,
                  timeout_s: float | None = None) -> list[Answer]:
        from mscsql.critic.grouping import CandidateResult, group_by_result, sample_sources
        from mscsql.critic.selectors import select
        from mscsql.db import execute_many
        from mscsql.generation.candidates import collect_candidates
        from mscsql.generation.registry import build_generator, sampling_params

        asked = [q if isinstance(q, Question) else Question(q) for q in questions]
        if not asked:
            return []
        if timeout_s is not None or max_rows is not None:  # one clear error before any work
            checked_limits(self.config.execution.timeout_s if timeout_s is None else timeout_s,
                           self.config.selection.max_rows if max_rows is None else max_rows, "ask")
        if not self._checked:  # before any model or index loads: a generator that cannot run is named at once
            from mscsql.generation.preflight import require_runnable

            require_runnable(self.config.generators)
            self._checked = True
        timings: dict[str, float] = {}
        schema, links, prompts = self._prepare(asked, timings)

        started = time.perf_counter()
        samples: list[dict[str, list[Any]]] = [{} for _ in asked]
        for member in self.config.generators:
            if member.name not in self._generators:
                self._generators[member.name] = build_generator(member)
            if member.backend == "replay":
                self._register_replay(member, prompts)
            answers = self._generators[member.name].generate([list(p.messages) for p in prompts],
                                                             sampling_params(member))
            for i, per_prompt in enumerate(answers):
                samples[i][member.name] = per_prompt
        timings["generation_s"] = time.perf_counter() - started

        started = time.perf_counter()
        pools = [collect_candidates(s, schema.dialect) for s in samples]
        flat = [(i, c) for i, pool in enumerate(pools) for c in pool]
        results = execute_many([(self.db, c.sql) for _i, c in flat],
                               timeout_s=self.config.execution.timeout_s if timeout_s is None else timeout_s,
                               max_rows=self.config.selection.max_rows if max_rows is None else max_rows)
        timings["execution_s"] = time.perf_counter() - started

        started = time.perf_counter()
        priority = [g.name for g in self.config.generators]
        executed: list[list[CandidateResult]] = [[] for _ in asked]
        for (i, candidate), result in zip(flat, results, strict=True):
            executed[i].append(CandidateResult(candidate.sql, sample_sources(candidate.generators, priority), result,
                                               candidate.best_logprob))
        answers_out = []
        selector = self.config.selection.selector
        schema_texts = self._schema_texts
        for i, question in enumerate(asked):
            groups = group_by_result(executed[i])
            successful = [g for g in groups if g.ok]
            unanimous = len(successful) == 1
            scores: list[float | None] = [None] * len(groups)
            if selector in ("critic", "encoder"):
                decision = self.critic.decide(question.text, question.evidence, schema_texts[i], executed[i],
                                              priority)
                chosen = decision.candidate if decision else None
                if decision is not None:
                    groups = list(decision.groups)
                    scores = list(decision.judgement.probabilities)
            else:
                chosen = select(selector, executed[i], priority) if executed[i] else None
            chosen_group = next((gi for gi, g in enumerate(groups) if chosen is not None and chosen in g.members),
                                None)
            group_of = {id(m): gi for gi, g in enumerate(groups) for m in g.members}
            infos = tuple(CandidateInfo(c.sql, dict(pool_c.generators), c.result.status.value
                                        if pool_c.status == "ok" else pool_c.status,
                                        c.result.error or pool_c.error, c.result.row_count, group_of[id(c)])
                          for c, pool_c in zip(executed[i], pools[i], strict=True))
            answers_out.append(Answer(
                question=question, sql=chosen.sql if chosen else None, result=chosen.result if chosen else None,
                candidates=infos, groups=tuple(GroupInfo(g.count, g.ok, score) for g, score in zip(groups, scores,
                                                                                   strict=True)),
                chosen_group=chosen_group,
                linked_schema=links[i], selector=selector, unanimous=unanimous, timings=dict(timings),
                config_hash=self.config_hash, prompt_hash=prompts[i].prompt_hash))
        timings["selection_s"] = time.perf_counter() - started
        for answer in answers_out:
            answer.timings["selection_s"] = timings["selection_s"]
        if self.trace_dir is not None:
            self._trace(answers_out, prompts, samples)
        return answers_out

    def _register_replay(self, member: Any, prompts: list[Any]) -> None:
        """A replay generator in a pipeline serves an earlier run's stored samples (a trace's
        ``samples.jsonl``), found by prompt."""
        from mscsql.errors import DatasetError
        from mscsql.generation.store import SampleStore

        path = member.options.get("samples")
        if not path or not Path(str(path)).is_file():
            raise DatasetError(f"replay generator {member.name!r} needs options.samples: an existing samples.jsonl",
                               hint="a pipeline replays a trace's samples; prediction files need a benchmark "
                                    "(mscsql eval run)")
        store = SampleStore(str(path))
        for prompt in prompts:
            stored = store.find(prompt.prompt_hash, member.options.get("generator"))
            if stored:
                self._generators[member.name].register(list(prompt.messages), [x.text for x in stored])

    def _trace(self, answers: list[Answer], prompts: list[Any], samples: list[dict[str, list[Any]]]) -> None:
        from dataclasses import asdict

        from mscsql.generation.ensemble import generator_key
        from mscsql.generation.registry import sampling_params
        from mscsql.generation.store import SampleStore

        assert self.trace_dir is not None
        self.trace_dir.mkdir(parents=True, exist_ok=True)
        store = SampleStore(self.trace_dir / "samples.jsonl")
        members = {m.name: m for m in self.config.generators}
        with (self.trace_dir / "trace.jsonl").open("a", encoding="utf-8") as sink:
            for answer, prompt, per_generator in zip(answers, prompts, samples, strict=True):
                for name, generated in per_generator.items():
                    store.put(generator_key(members[name]), prompt.prompt_hash, sampling_params(members[name]),
                              list(generated), template=prompt.template)
                record = answer.to_dict()
                record["values"] = [asdict(v) for v in answer.linked_schema.values]
                record["linked_columns"] = answer.linked_schema.column_names()
                record["link_trace"] = list(answer.linked_schema.trace)
                record["samples"] = {n: [x.text for x in g] for n, g in per_generator.items()}
                sink.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")

    @property
    def critic(self) -> Any:
        """The configured joint critic (its models load on first use)."""
        if self._critic is None:
            from mscsql.critic.build import build_critic

            self._critic = build_critic(self.config.selection)
        return self._critic

    def critic_prompts(self, answer: Answer) -> list[Any]:
        """What the critic reads for ``answer``'s question, one prompt per ordering (the groups rebuilt by
        running the answer's candidates again): for inspecting a decision, or training a critic on it."""
        from mscsql.critic.grouping import CandidateResult, group_by_result, sample_sources
        from mscsql.critic.llm import orderings
        from mscsql.db import execute_many

        if self._schema_texts is None:
            self._prepare([answer.question], {})
        priority = [g.name for g in self.config.generators]
        results = execute_many([(self.db, c.sql) for c in answer.candidates],
                               timeout_s=self.config.execution.timeout_s, max_rows=self.config.selection.max_rows)
        executed = [CandidateResult(c.sql, sample_sources(c.generators, priority), r)
                    for c, r in zip(answer.candidates, results, strict=True)]
        groups = [g for g in group_by_result(executed) if g.ok]
        settings = self.config.selection.critic
        count = settings.orderings if settings else 1
        from mscsql.linking import RenderOptions, render_schema

        text = render_schema(answer.linked_schema,
                             RenderOptions(budget_tokens=self.config.linking.schema_budget_tokens)).text
        critic = self.critic.critics[0] if hasattr(self.critic, "critics") else self.critic  # one prompt for all
        return [critic.prompt(answer.question.text, answer.question.evidence, text, [groups[j] for j in order])
                for order in orderings(len(groups), count, settings.seed if settings else 0)]

    def prompts(self, questions: Sequence[Question | str]) -> list[Any]:
        """The generator prompts the pipeline would send for ``questions`` (retrieval, linking, rendering)."""
        asked = [q if isinstance(q, Question) else Question(q) for q in questions]
        return self._prepare(asked, {})[2]

    def _prepare(self, asked: list[Question], timings: dict[str, float]) -> tuple[Any, list[LinkedSchema], list[Any]]:
        from mscsql.linking import LinkRequest, RenderOptions, render_schema
        from mscsql.linking.registry import linker_from_config
        from mscsql.prompts import generator_prompt
        from mscsql.retrieval.text import question_text

        started = time.perf_counter()
        schema = self.db.schema()
        values: list[tuple] = [() for _ in asked]
        if self.config.use_values:
            if self._index is None:
                from mscsql.retrieval import ValueIndex

                self._index = ValueIndex.open(self.db, None, self.config.retrieval)
            values = [tuple(self._index.search(question_text(q.text, q.evidence))) for q in asked]
        timings["retrieval_s"] = time.perf_counter() - started
        started = time.perf_counter()
        linking = self.config.linking
        if self._linker is None:
            self._linker = linker_from_config(linking)
        links = self._linker.link([LinkRequest(q, schema, v) for q, v in zip(asked, values, strict=True)])
        options = RenderOptions(budget_tokens=linking.schema_budget_tokens)
        texts = [render_schema(link, options).text for link in links]
        prompts = [generator_prompt(q, text, schema.dialect) for q, text in zip(asked, texts, strict=True)]
        timings["linking_s"] = time.perf_counter() - started
        self._schema_texts = texts
        return schema, links, prompts

    def close(self) -> None:
        members = [self._critic] if self._critic is not None and not hasattr(self._critic, "critics") else \
            list(getattr(self._critic, "critics", []))
        for generator in [*self._generators.values(), *(getattr(c, "scorer", None) for c in members)]:
            close = getattr(generator, "close", None)
            if callable(close):
                close()
        self._generators.clear()
        self.db.close()

    def __enter__(self) -> TextToSQL:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def answer_json(answer: Answer) -> str:
    return json.dumps(answer.to_dict(), ensure_ascii=False, default=str)
