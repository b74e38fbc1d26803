"""``mscsql generate``: candidate SQL for every question of a benchmark from an ensemble of generators.

Per database: the schema (from the database, or ``tables.json`` with ``schema_only``), values retrieved for
each question, the configured linker, the generator prompt (with the linked schema within its token
budget), then every generator over the whole batch. Samples go to ``OUT/samples.jsonl`` as they arrive
(the sample store, reused by a re-run); each question's deduplicated candidates, with per-generator counts,
go to ``OUT/candidates.jsonl`` when its database is done. A re-run skips finished questions.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mscsql.config import GenerationConfig
from mscsql.db import connect
from mscsql.db.descriptions import schema_from_tables_json
from mscsql.errors import DatasetError
from mscsql.evaluation.benchmarks import Benchmark, BenchmarkItem
from mscsql.evaluation.predictions import load_predictions
from mscsql.generation.candidates import collect_candidates
from mscsql.generation.ensemble import Member, run_ensemble
from mscsql.generation.registry import build_generator
from mscsql.generation.replay import ReplayGenerator
from mscsql.generation.store import SampleStore
from mscsql.linking import LinkRequest, RenderOptions, build_linker, render_schema
from mscsql.linking.evaluate import tables_file
from mscsql.prompts import RenderedPrompt, generator_prompt
from mscsql.retrieval.text import question_text
from mscsql.types import Question, Schema, ValueMatch

log = logging.getLogger(__name__)

CANDIDATES = "candidates.jsonl"
SAMPLES = "samples.jsonl"


@dataclass
class GenerateRun:
    benchmark: Benchmark
    data_dir: Path
    config: GenerationConfig
    output: Path
    schema_only: bool = False
    #: only the first ``limit`` questions that can run (None: all)
    limit: int | None = None
    progress: bool = True
    members: list[Member] = field(default_factory=list)
    _predictions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _stores: dict[str, SampleStore] = field(default_factory=dict)

    def run(self) -> int:
        """Generate for every question not done yet; returns how many questions were written."""
        self.output.mkdir(parents=True, exist_ok=True)
        done = self._done()
        tables_json = tables_file(self.benchmark, self.data_dir)
        if self.schema_only and tables_json is None:
            raise DatasetError(f"--schema-only needs a tables.json in {self.data_dir}")
        runnable = [i for i in self.benchmark.items if self.schema_only or i.database]
        items = [i for i in runnable[: self.limit] if i.index not in done]
        if not items:
            return 0
        self.members = [Member(c, build_generator(c)) for c in self.config.generators]
        linker = build_linker(self.config.linking.linkers, embedding={
            k: v for k, v in (("table_miss", self.config.linking.table_miss),
                              ("column_miss", self.config.linking.column_miss)) if v is not None})
        store = SampleStore(self.output / SAMPLES)
        written = 0
        with (self.output / CANDIDATES).open("a", encoding="utf-8") as sink, \
                tqdm(total=len(items), desc="generating", unit="q", disable=not self.progress) as bar:
            for db_id, group in groupby(sorted(items, key=lambda i: (i.db_id, i.index)), key=lambda i: i.db_id):
                batch = list(group)
                schema, values = self._schema_and_values(db_id, batch, tables_json)
                links = linker.link([LinkRequest(_question(item), schema, tuple(v))
                                     for item, v in zip(batch, values, strict=True)])
                options = RenderOptions(budget_tokens=self.config.linking.schema_budget_tokens)
                prompts = [generator_prompt(_question(item), render_schema(link, options).text, schema.dialect)
                           for item, link in zip(batch, links, strict=True)]
                self._register_replays(batch, prompts)
                answers = run_ensemble(self.members, prompts, store)
                for item, prompt, link, samples in zip(batch, prompts, links, answers, strict=True):
                    candidates = collect_candidates(samples, self.benchmark.dialect)
                    record = {"index": item.index, "db_id": item.db_id, "question": item.question,
                              "prompt_hash": prompt.prompt_hash, "template": prompt.template,
                              "linked_tables": link.table_names,
                              "candidates": [asdict(c) for c in candidates]}
                    sink.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
                    written += 1
                sink.flush()
                bar.update(len(batch))
        return written

    def _done(self) -> set[int]:
        path = self.output / CANDIDATES
        if not path.is_file():
            return set()
        records = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        return {r["index"] for r in records}

    def _schema_and_values(self, db_id: str, items: list[BenchmarkItem],
                           tables_json: Path | None) -> tuple[Schema, list[list[ValueMatch]]]:
        if self.schema_only:
            assert tables_json is not None
            return schema_from_tables_json(tables_json, db_id, dialect=self.benchmark.dialect), [[] for _ in items]
        with connect(items[0].database or "", db_id=db_id, tables_json=tables_json) as db:
            schema = db.schema()
            if not self.config.use_values:
                return schema, [[] for _ in items]
            from mscsql.retrieval import ValueIndex

            index = ValueIndex.open(db, None, self.config.retrieval)
        return schema, [index.search(question_text(i.question, i.evidence)) for i in items]

    def _register_replays(self, items: list[BenchmarkItem], prompts: list[RenderedPrompt]) -> None:
        """Give each replay generator its answers: a prediction file's line for the question, or the
        samples another run stored for the same prompt."""
        for member in self.members:
            if not isinstance(member.generator, ReplayGenerator):
                continue
            options = member.config.options
            if options.get("predictions"):
                path = str(options["predictions"])
                if path not in self._predictions:
                    self._predictions[path] = load_predictions(path, self.benchmark).sql
                for item, prompt in zip(items, prompts, strict=True):
                    member.generator.register(list(prompt.messages), [self._predictions[path][item.index]])
            elif options.get("samples"):
                path = str(options["samples"])
                if path not in self._stores:
                    if not Path(path).is_file():
                        raise DatasetError(f"replay generator {member.config.name!r}: no sample file {path}")
                    self._stores[path] = SampleStore(path)
                for prompt in prompts:
                    stored = self._stores[path].find(prompt.prompt_hash, options.get("generator"))
                    if stored:
                        member.generator.register(list(prompt.messages), [s.text for s in stored])
            else:
                raise DatasetError(f"replay generator {member.config.name!r} needs options.predictions (a "
                                   "prediction file) or options.samples (a samples.jsonl of an earlier run)")


def _question(item: BenchmarkItem) -> Question:
    return Question(item.question, db_id=item.db_id, evidence=item.evidence, question_id=item.question_id)


def summary(output: Path) -> dict[str, Any]:
    """Counts over ``OUT/candidates.jsonl``: questions, candidates per question, per generator."""
    records = [json.loads(line) for line in (output / CANDIDATES).read_text(encoding="utf-8").splitlines() if line]
    per_generator: dict[str, int] = {}
    for record in records:
        for candidate in record["candidates"]:
            for name, count in candidate["generators"].items():
                per_generator[name] = per_generator.get(name, 0) + count
    total = sum(len(r["candidates"]) for r in records)
    return {"questions": len(records), "candidates": total,
            "candidates_per_question": round(total / len(records), 2) if records else 0.0,
            "samples_per_generator": per_generator}
