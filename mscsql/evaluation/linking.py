"""Recall of a schema linker on a benchmark: did it keep every table, column and value the gold query
needs, and how much of the schema did it keep to get there?

Per question (``OUT/questions.jsonl``, appended as each database's batch finishes, so a killed run
resumes) and overall (``OUT/summary.json``):

* ``table_recall_strict``: share of questions whose every gold table was kept;
* ``column_recall_strict``: share of questions whose every gold column was kept;
* ``tables_kept_fraction`` / ``columns_kept_fraction``: mean share of the database's tables / columns kept;
* ``value_hit_rate``: share of gold string literals (LIKE wildcards stripped) compared with a text-like
  column that are among the values retrieved for that column (case- and punctuation-insensitive; a LIKE
  fragment counts when a retrieved value contains it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mscsql.benchmarks.loaders import Benchmark, BenchmarkItem, tables_file
from mscsql.config import RetrievalSettings
from mscsql.db import connect
from mscsql.db.descriptions import schema_from_tables_json
from mscsql.errors import DatasetError
from mscsql.fileio import claim_run_folder, output_folder, write_json_atomic
from mscsql.linking.base import LinkRequest, SchemaLinker
from mscsql.linking.gold import GoldElements, gold_elements
from mscsql.records import read_records, rewrite_records
from mscsql.retrieval.extract import is_text_like
from mscsql.retrieval.text import normalize, question_text
from mscsql.types import LinkedSchema, Question, Schema, ValueMatch

log = logging.getLogger(__name__)

QUESTIONS = "questions.jsonl"
SUMMARY = "summary.json"


def score_question(item: BenchmarkItem, gold: GoldElements, link: LinkedSchema,
                   retrieved: Sequence[ValueMatch] | None) -> dict[str, Any]:
    """One question's record: recall, kept fractions, and value hits."""
    full = link.full_schema
    kept_tables = {t.qualified_name.lower() for t in link.schema.tables}
    kept_columns = {(t.qualified_name.lower(), c.name.lower()) for t in link.schema.tables for c in t.columns}
    total_columns = sum(len(t.columns) for t in full.tables)
    missing_tables = sorted(gold.tables - kept_tables)
    missing_columns = sorted(f"{t}.{c}" for t, c in gold.columns - kept_columns)
    record: dict[str, Any] = {
        "index": item.index, "db_id": item.db_id, "question": item.question,
        "gold_tables": sorted(gold.tables), "missing_tables": missing_tables, "missing_columns": missing_columns,
        "table_recall": not missing_tables, "column_recall": not missing_columns and not missing_tables,
        "tables_kept_fraction": len(kept_tables) / max(len(full.tables), 1),
        "columns_kept_fraction": len(kept_columns) / max(total_columns, 1),
        "kept_tables": sorted(kept_tables), "gold_qualified": gold.qualified, "trace": list(link.trace),
    }
    if retrieved is not None:
        text_columns = {(t.qualified_name.lower(), c.name.lower()) for t in full.tables for c in t.columns
                        if is_text_like(c, full.dialect)}
        literals = [lit for lit in gold.literals if (lit.table, lit.column) in text_columns]
        hits = [lit.text for lit in literals if _value_found(lit.text, lit.pattern, lit.table, lit.column, retrieved)]
        record["literals"] = len(literals)
        record["literal_hits"] = len(hits)
        record["missed_literals"] = sorted({f"{lit.table}.{lit.column}={lit.text}" for lit in literals
                                            if lit.text not in hits})
    return record


def _value_found(text: str, pattern: bool, table: str, column: str, retrieved: Sequence[ValueMatch]) -> bool:
    wanted = normalize(text)
    for match in retrieved:
        if match.table.lower() != table or match.column.lower() != column:
            continue
        got = normalize(match.value)
        if got == wanted or (pattern and wanted and wanted in got):
            return True
    return False


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    count = len(records)

    def mean(key: str) -> float | None:
        return round(sum(float(r[key]) for r in records) / count, 4) if count else None

    literals = sum(r.get("literals", 0) for r in records)
    hits = sum(r.get("literal_hits", 0) for r in records)
    has_values = any("literals" in r for r in records)
    return {
        "questions": count,
        "table_recall_strict": mean("table_recall"),
        "column_recall_strict": mean("column_recall"),
        "tables_kept_fraction": mean("tables_kept_fraction"),
        "columns_kept_fraction": mean("columns_kept_fraction"),
        "value_hit_rate": round(hits / literals, 4) if has_values and literals else None,
        "gold_literals": literals if has_values else None,
        "unqualified_gold_queries": sum(1 for r in records if not r["gold_qualified"]),
        "fallbacks": sum(1 for r in records if any("full schema" in t for t in r["trace"])),
    }


@dataclass
class LinkEvaluation:
    benchmark: Benchmark
    data_dir: Path
    linker: SchemaLinker
    output: Path
    schema_only: bool = False
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    index_root: Path | None = None
    progress: bool = True
    identity: dict[str, Any] = field(default_factory=dict)

    def run(self) -> dict[str, Any]:
        output_folder(self.output)
        tables_json = tables_file(self.benchmark, self.data_dir)
        if self.schema_only and tables_json is None:
            raise DatasetError(f"--schema-only needs a tables.json (or dev_tables.json) in {self.data_dir}")
        done = self._resume()
        items = [i for i in self.benchmark.items if (self.schema_only or i.database) and i.index not in done]
        with (self.output / QUESTIONS).open("a", encoding="utf-8") as sink, \
                tqdm(total=len(items), desc=f"linking ({self.linker.name})", unit="q",
                     disable=not self.progress) as bar:
            for db_id, group in groupby(sorted(items, key=lambda i: (i.db_id, i.index)), key=lambda i: i.db_id):
                batch = list(group)
                for record in self._run_database(db_id, batch, tables_json):
                    sink.write(json.dumps(record, ensure_ascii=False) + "\n")
                sink.flush()
                bar.update(len(batch))
        records = read_records(self.output / QUESTIONS)
        summary = {"benchmark": self.benchmark.name, "linker": self.linker.name, "schema_only": self.schema_only,
                   **summarize(records), "run": self.identity}
        write_json_atomic(self.output / SUMMARY, summary)
        return summary

    def _resume(self) -> set[int]:
        identity = {"benchmark": self.benchmark.name, "files": self.benchmark.files, **self.identity,
                    "schema_only": self.schema_only}
        claim_run_folder(self.output, identity, what="a link evaluation")
        return {r["index"] for r in rewrite_records(self.output / QUESTIONS)}

    def _run_database(self, db_id: str, items: list[BenchmarkItem], tables_json: Path | None) -> list[dict[str, Any]]:
        if self.schema_only:
            assert tables_json is not None
            schema = schema_from_tables_json(tables_json, db_id, dialect=self.benchmark.dialect)
            return self._link_and_score(schema, items, None)
        from mscsql.retrieval.index import ValueIndex, default_index_dir

        with connect(items[0].database or "", db_id=db_id, tables_json=tables_json) as db:
            schema = db.schema()
            folder = (self.index_root / db_id) if self.index_root else default_index_dir(db)
            index = ValueIndex.open(db, folder, self.retrieval)
        return self._link_and_score(schema, items, index.search)

    def _link_and_score(self, schema: Schema, items: list[BenchmarkItem],
                        search: Callable[[str], list[ValueMatch]] | None) -> list[dict[str, Any]]:
        requests = []
        retrieved: list[list[ValueMatch] | None] = []
        for item in items:
            question = Question(item.question, db_id=item.db_id, evidence=item.evidence,
                                question_id=item.question_id)
            values = search(question_text(item.question, item.evidence)) if search else None
            retrieved.append(values)
            requests.append(LinkRequest(question, schema, tuple(values or ())))
        links = self.linker.link(requests)
        return [score_question(item, gold_elements(item.gold_sql, schema, self.benchmark.dialect), link, values)
                for item, link, values in zip(items, links, retrieved, strict=True)]
