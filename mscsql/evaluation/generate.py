"""``mscsql generate``: candidate SQL for every question of a benchmark from an ensemble of generators.

First every question's prompt, database by database: the schema (from the database, or ``tables.json``
with ``schema_only``), the values retrieved for it, the configured linker, the generator prompt with the
linked schema within its token budget (the prepare stage of :mod:`mscsql.stages`). Then the generators, one
at a time, each closed before the next loads (the sample stage): their samples, replayed members' included,
go to ``OUT/samples.jsonl`` chunk by chunk (the sample store, reused by a re-run, readable by the ``replay``
backend). Last, each question's deduplicated candidates, with per-generator counts, go
to ``OUT/candidates.jsonl``. A re-run skips finished questions and generates only what is not stored;
``OUT/run.json`` records the configuration, and a folder holding another run is refused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mscsql.benchmarks.loaders import Benchmark, BenchmarkItem, tables_file
from mscsql.benchmarks.predictions import load_predictions
from mscsql.config import GenerationConfig, PipelineConfig, RetrievalSettings, SchemaSettings
from mscsql.db import connect
from mscsql.db.descriptions import schema_from_tables_json
from mscsql.errors import DatasetError
from mscsql.fileio import claim_run_folder, output_folder
from mscsql.records import read_records, rewrite_records
from mscsql.stages import (
    GENERATOR_TEMPLATE_VERSION,
    Models,
    Prepared,
    Sample,
    SampleStore,
    candidate_pools,
    check_before_stages,
    prepare,
    retrieve_values,
    sample,
)
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

    def run(self) -> int:
        """Generate for every question not done yet; returns how many questions were written."""
        done = self.done()
        sampled = self.sampled(skip=done)
        self.write_candidates(sampled, done)
        return len(sampled)

    def sampled(self, skip: set[int] | frozenset[int] = frozenset()) -> list[Sampled]:
        """The prepare and sample stages over every question that can run (the first ``limit``) except those in
        ``skip``: their samples come from ``OUT/samples.jsonl`` or are generated into it."""
        if self.output.exists() and not self.output.is_dir():
            raise DatasetError(f"--output {self.output} is a file", hint="give a folder")
        output_folder(self.output)
        self._check_identity()
        tables_json = tables_file(self.benchmark, self.data_dir)
        if self.schema_only and tables_json is None:
            raise DatasetError(f"--schema-only needs a tables.json in {self.data_dir}")
        runnable = [i for i in self.benchmark.items if self.schema_only or i.database]
        items = [i for i in runnable[: self.limit] if i.index not in skip]
        if not items:
            return []
        models = Models(_as_pipeline(self.config), keep_loaded=False, predictions=self._predictions())
        try:
            check_before_stages(self.config, models)  # what would stop the run fails before anything loads
            prepared = self._prepare(items, tables_json, models)
            store = SampleStore(self.output / SAMPLES)
            samples = sample(self.config.generators, prepared, models, store=store)
        finally:
            models.close()
        return [Sampled(int(p.key or 0), p, s) for p, s in zip(prepared, samples, strict=True)]

    def write_candidates(self, sampled: list[Sampled], done: set[int] | None = None) -> None:
        """Append each question's candidates to ``OUT/candidates.jsonl`` (those not written yet; ``done``: the
        questions already there, when the caller has read them)."""
        done = self.done() if done is None else done
        with (self.output / CANDIDATES).open("a", encoding="utf-8") as sink:
            for item in sampled:
                if item.index in done:
                    continue
                [candidates] = candidate_pools([item.samples], self.benchmark.dialect)
                prepared = item.prepared
                record = {"index": item.index, "db_id": prepared.question.db_id, "question": prepared.question.text,
                          "prompt_hash": prepared.prompt.prompt_hash, "template": prepared.prompt.template,
                          "linked_tables": prepared.link.table_names, "schema_text": prepared.schema_text,
                          "candidates": [asdict(c) for c in candidates]}
                sink.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            sink.flush()

    def _prepare(self, items: list[BenchmarkItem], tables_json: Path | None, models: Models) -> list[Prepared]:
        """Every question's generator prompt, database by database (no generator is loaded yet)."""
        prepared: list[Prepared] = []
        budget = self.config.linking.schema_budget_tokens
        with tqdm(total=len(items), desc="prompts", unit="q", disable=not self.progress) as bar:
            for db_id, group in groupby(sorted(items, key=lambda i: (i.db_id, i.index)), key=lambda i: i.db_id):
                batch = list(group)
                schema, values = self._schema_and_values(db_id, batch, tables_json)
                prepared += prepare([benchmark_question(i) for i in batch], schema, values, models,
                                    budget_tokens=budget, keys=[i.index for i in batch])
                bar.update(len(batch))
        return prepared

    def _predictions(self) -> dict[str, dict[int, str]]:
        """The prediction files replay members replay, read against the benchmark (index -> SQL)."""
        read = {}
        for member in self.config.generators:
            if member.backend == "replay" and member.options.get("predictions"):
                sql = load_predictions(str(member.options["predictions"]), self.benchmark).sql
                read[member.name] = dict(enumerate(sql))
        return read

    def _check_identity(self) -> None:
        """A folder holds one run: other generators, prompts or questions there would mix two ensembles."""
        identity = {"benchmark": self.benchmark.name, "files": self.benchmark.files, "schema_only": self.schema_only,
                    "template": GENERATOR_TEMPLATE_VERSION,
                    "config": json.loads(self.config.model_dump_json())}
        # a folder with run.json and nothing generated (a run refused before it began) takes the new settings
        kept = any((self.output / name).is_file() and (self.output / name).stat().st_size
                   for name in (CANDIDATES, SAMPLES))
        claim_run_folder(self.output, identity, what="a generation run", has_results=kept)

    def done(self) -> set[int]:
        """The questions whose candidates are written."""
        return {r["index"] for r in rewrite_records(self.output / CANDIDATES)}

    def _schema_and_values(self, db_id: str, items: list[BenchmarkItem],
                           tables_json: Path | None) -> tuple[Schema, list[list[ValueMatch]]]:
        retrieval = self.config.retrieval if self.config.use_values else None
        return schema_and_values(db_id, items, tables_json, self.benchmark.dialect, schema_only=self.schema_only,
                                 retrieval=retrieval, schema_settings=self.config.schema_settings)


@dataclass(frozen=True)
class Sampled:
    """One question after the sample stage."""

    index: int
    prepared: Prepared
    samples: dict[str, list[Sample]]


def _as_pipeline(config: GenerationConfig) -> PipelineConfig:
    """A generation config as the pipeline config the loaded models read (its selection unused)."""
    if isinstance(config, PipelineConfig):
        return config
    return PipelineConfig.model_validate(json.loads(config.model_dump_json()))


def benchmark_question(item: BenchmarkItem) -> Question:
    """A benchmark item as the question the stages read."""
    return Question(item.question, db_id=item.db_id, evidence=item.evidence, question_id=item.question_id)


def schema_and_values(db_id: str, items: list[BenchmarkItem], tables_json: Path | None, dialect: str, *,
                      schema_only: bool, retrieval: RetrievalSettings | None,
                      schema_settings: SchemaSettings | None = None) -> tuple[Schema, list[list[ValueMatch]]]:
    """The schema of ``db_id`` and, for each of its ``items``, the values retrieved for the question: from the
    database (its value index in the cache, built when missing or stale) unless ``schema_only``, where the schema
    comes from ``tables_json`` and no values do. ``retrieval`` None: no values."""
    if schema_only:
        assert tables_json is not None
        return schema_from_tables_json(tables_json, db_id, dialect=dialect), [[] for _ in items]
    with connect(items[0].database or "", db_id=db_id, tables_json=tables_json, schema_settings=schema_settings) as db:
        schema = db.schema()
        if retrieval is None:
            return schema, [[] for _ in items]
        from mscsql.retrieval import ValueIndex

        index = ValueIndex.open(db, None, retrieval)
    return schema, [list(v) for v in retrieve_values(index, [benchmark_question(i) for i in items])]


def summary(output: Path, generators: Sequence[str] = ()) -> dict[str, Any]:
    """Counts over ``OUT/candidates.jsonl``: questions, candidates per question, and per generator the samples
    that gave a query (``generators``: names listed even when none of their samples did)."""
    records = read_records(output / CANDIDATES)
    per_generator: dict[str, int] = dict.fromkeys(generators, 0)
    for record in records:
        for candidate in record["candidates"]:
            for name, count in candidate["generators"].items():
                per_generator[name] = per_generator.get(name, 0) + count
    total = sum(len(r["candidates"]) for r in records)
    return {"questions": len(records), "candidates": total,
            "candidates_per_question": round(total / len(records), 2) if records else 0.0,
            "samples_per_generator": per_generator}
