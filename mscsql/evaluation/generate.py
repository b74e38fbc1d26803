"""``mscsql generate``: candidate SQL for every question of a benchmark from an ensemble of generators.

First every question's prompt, database by database: the schema (from the database, or ``tables.json``
with ``schema_only``), the values retrieved for it, the configured linker, the generator prompt with the
linked schema within its token budget. Then the generators, one at a time (see
:mod:`mscsql.generation.ensemble`): their samples go to ``OUT/samples.jsonl`` chunk by chunk (the sample
store, reused by a re-run). Last, each question's deduplicated candidates, with per-generator counts, go
to ``OUT/candidates.jsonl``. A re-run skips finished questions and generates only what is not stored;
``OUT/run.json`` records the configuration, and a folder holding another run is refused.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mscsql.config import GenerationConfig, GeneratorConfig, RetrievalSettings
from mscsql.db import connect
from mscsql.db.descriptions import schema_from_tables_json
from mscsql.errors import DatasetError
from mscsql.evaluation.benchmarks import Benchmark, BenchmarkItem
from mscsql.evaluation.predictions import load_predictions
from mscsql.fileio import claim_run_folder, output_folder
from mscsql.generation.base import Sample
from mscsql.generation.candidates import collect_candidates
from mscsql.generation.ensemble import run_generator, stored_samples
from mscsql.generation.preflight import require_runnable
from mscsql.generation.store import SampleStore
from mscsql.linking import LinkRequest, RenderOptions, render_schema
from mscsql.linking.evaluate import tables_file
from mscsql.linking.registry import linker_from_config
from mscsql.prompts import GENERATOR_TEMPLATE_VERSION, RenderedPrompt, generator_prompt
from mscsql.records import read_records, rewrite_records
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
    _replayed: dict[str, Any] = field(default_factory=dict)
    _schema_texts: dict[int, str] = field(default_factory=dict)

    def run(self) -> int:
        """Generate for every question not done yet; returns how many questions were written."""
        if self.output.exists() and not self.output.is_dir():
            raise DatasetError(f"--output {self.output} is a file", hint="give a folder")
        output_folder(self.output)
        self._check_identity()
        done = self._done()
        tables_json = tables_file(self.benchmark, self.data_dir)
        if self.schema_only and tables_json is None:
            raise DatasetError(f"--schema-only needs a tables.json in {self.data_dir}")
        runnable = [i for i in self.benchmark.items if self.schema_only or i.database]
        items = [i for i in runnable[: self.limit] if i.index not in done]
        if not items:
            return 0
        require_runnable(self.config.generators)  # a generator that cannot run is named before anything loads
        self._load_replays()  # bad replay inputs fail before any model loads
        prompts = self._prompts(items, tables_json)
        store = SampleStore(self.output / SAMPLES)
        for member in self.config.generators:
            if member.backend != "replay":
                run_generator(member, [p for _item, p, _link in prompts], store)
        with (self.output / CANDIDATES).open("a", encoding="utf-8") as sink:
            for item, prompt, link in prompts:
                samples = {m.name: self._samples(m, item, prompt, store) for m in self.config.generators}
                candidates = collect_candidates(samples, self.benchmark.dialect)
                record = {"index": item.index, "db_id": item.db_id, "question": item.question,
                          "prompt_hash": prompt.prompt_hash, "template": prompt.template,
                          "linked_tables": link.table_names, "schema_text": self._schema_texts.get(item.index),
                          "candidates": [asdict(c) for c in candidates]}
                sink.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            sink.flush()
        return len(prompts)

    def _prompts(self, items: list[BenchmarkItem], tables_json: Path | None) -> list[tuple[BenchmarkItem, Any, Any]]:
        """Every question's generator prompt (values, linking and rendering; no model is loaded yet)."""
        linking = self.config.linking
        linker = linker_from_config(linking)
        options = RenderOptions(budget_tokens=linking.schema_budget_tokens)
        prompts = []
        with tqdm(total=len(items), desc="prompts", unit="q", disable=not self.progress) as bar:
            for db_id, group in groupby(sorted(items, key=lambda i: (i.db_id, i.index)), key=lambda i: i.db_id):
                batch = list(group)
                schema, values = self._schema_and_values(db_id, batch, tables_json)
                links = linker.link([LinkRequest(_question(item), schema, tuple(v))
                                     for item, v in zip(batch, values, strict=True)])
                for item, link in zip(batch, links, strict=True):
                    text = render_schema(link, options).text
                    prompts.append((item, generator_prompt(_question(item), text, schema.dialect), link))
                    self._schema_texts[item.index] = text
                bar.update(len(batch))
        return prompts

    def _samples(self, member: GeneratorConfig, item: BenchmarkItem, prompt: RenderedPrompt,
                 store: SampleStore) -> list[Sample]:
        if member.backend != "replay":
            return stored_samples(member, prompt, store)
        source = self._replayed[member.name]
        if isinstance(source, tuple):  # a prediction file: this question's line
            return [Sample(text=source[item.index], finish_reason="stop")]
        stored = source.find(prompt.prompt_hash, member.options.get("generator"))
        if stored is None:
            log.warning("replay %s: no stored samples for question %s", member.name, item.index)
        return list(stored or [])

    def _load_replays(self) -> None:
        for member in self.config.generators:
            if member.backend != "replay" or member.name in self._replayed:
                continue
            if member.options.get("predictions"):
                self._replayed[member.name] = load_predictions(str(member.options["predictions"]),
                                                               self.benchmark).sql
            elif member.options.get("samples"):
                path = Path(str(member.options["samples"]))
                if not path.is_file():
                    raise DatasetError(f"replay generator {member.name!r}: no sample file {path}")
                self._replayed[member.name] = SampleStore(path)
            else:
                raise DatasetError(f"replay generator {member.name!r} needs options.predictions (a prediction "
                                   "file) or options.samples (the samples.jsonl of an earlier run)")

    def _check_identity(self) -> None:
        """A folder holds one run: other generators, prompts or questions there would mix two ensembles."""
        identity = {"benchmark": self.benchmark.name, "files": self.benchmark.files, "schema_only": self.schema_only,
                    "template": GENERATOR_TEMPLATE_VERSION,
                    "config": json.loads(self.config.model_dump_json())}
        claim_run_folder(self.output, identity, what="a generation run")

    def _done(self) -> set[int]:
        return {r["index"] for r in rewrite_records(self.output / CANDIDATES)}

    def _schema_and_values(self, db_id: str, items: list[BenchmarkItem],
                           tables_json: Path | None) -> tuple[Schema, list[list[ValueMatch]]]:
        retrieval = self.config.retrieval if self.config.use_values else None
        return schema_and_values(db_id, items, tables_json, self.benchmark.dialect, schema_only=self.schema_only,
                                 retrieval=retrieval)


def schema_and_values(db_id: str, items: list[BenchmarkItem], tables_json: Path | None, dialect: str, *,
                      schema_only: bool, retrieval: RetrievalSettings | None) -> tuple[Schema, list[list[ValueMatch]]]:
    """The schema of ``db_id`` and, for each of its ``items``, the values retrieved for the question: from the
    database (its value index in the cache, built when missing or stale) unless ``schema_only``, where the schema
    comes from ``tables_json`` and no values do. ``retrieval`` None: no values."""
    if schema_only:
        assert tables_json is not None
        return schema_from_tables_json(tables_json, db_id, dialect=dialect), [[] for _ in items]
    with connect(items[0].database or "", db_id=db_id, tables_json=tables_json) as db:
        schema = db.schema()
        if retrieval is None:
            return schema, [[] for _ in items]
        from mscsql.retrieval import ValueIndex

        index = ValueIndex.open(db, None, retrieval)
    return schema, [index.search(question_text(i.question, i.evidence)) for i in items]


def _question(item: BenchmarkItem) -> Question:
    return Question(item.question, db_id=item.db_id, evidence=item.evidence, question_id=item.question_id)


def summary(output: Path) -> dict[str, Any]:
    """Counts over ``OUT/candidates.jsonl``: questions, candidates per question, per generator."""
    records = read_records(output / CANDIDATES)
    per_generator: dict[str, int] = {}
    for record in records:
        for candidate in record["candidates"]:
            for name, count in candidate["generators"].items():
                per_generator[name] = per_generator.get(name, 0) + count
    total = sum(len(r["candidates"]) for r in records)
    return {"questions": len(records), "candidates": total,
            "candidates_per_question": round(total / len(records), 2) if records else 0.0,
            "samples_per_generator": per_generator}
