"""``mscsql train data linker``: (question, evidence, full schema) -> the tables of the gold query.

The prompt is the one the LLM table selector sends at inference (:func:`mscsql.linking.llm_tables.table_prompt`:
the whole schema, with the values retrieved for the question when the database is there, as the pipeline gives
them), and the completion is the answer it asks for (:func:`~mscsql.linking.llm_tables.table_answer`: a JSON
list of the gold tables as the schema writes them, in schema order). Every completion is checked to parse back
(:func:`~mscsql.linking.llm_tables.parse_table_list`) to exactly the gold tables.

The card's ``prompt.hash`` is :func:`mscsql.training.examples.template_hash` of the template version, the system
prompt and the instruction; each row's ``prompt_hash`` hashes its own rendered messages.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mscsql.benchmarks.loaders import Benchmark, BenchmarkItem
from mscsql.config import RetrievalSettings
from mscsql.linking.base import LinkRequest
from mscsql.linking.llm_tables import (
    INSTRUCTION,
    MAX_VALUES_PER_COLUMN,
    SYSTEM_PROMPT,
    TEMPLATE_VERSION,
    parse_table_list,
    table_answer,
    table_prompt,
)
from mscsql.prompts import prompt_hash
from mscsql.training.examples import (
    DatabaseBatch,
    SkipQuestion,
    Skips,
    database_batches,
    gold_query,
    mean,
    question_of,
    retrieval_card,
    schema_file,
    selected_items,
    sources_card,
    template_hash,
    write_examples,
)
from mscsql.types import Schema, ValueMatch

log = logging.getLogger(__name__)

ROLE = "linker"


def linker_example(item: BenchmarkItem, schema: Schema, values: list[ValueMatch], dialect: str) -> dict[str, Any]:
    """One training row for ``item``; raises :class:`SkipQuestion` when its gold query cannot label it."""
    gold = gold_query(item.gold_sql, schema, dialect)
    messages = table_prompt(LinkRequest(question_of(item), schema, tuple(values)))
    completion = table_answer(gold.tables)
    parsed, unknown = parse_table_list(completion, schema.table_names)
    if parsed != gold.tables or unknown:
        raise SkipQuestion(f"the answer {completion} parses back to {parsed} (unknown: {unknown})")
    return {"messages": [dict(m) for m in messages], "completion": completion, "db_id": item.db_id,
            "index": item.index, "question": item.question, "evidence": item.evidence or "",
            "gold_sql": item.gold_sql, "gold_tables": gold.tables, "schema_tables": len(schema.tables),
            "values": [f"{v.table}.{v.column}: {v.value}" for v in values],
            "prompt_hash": prompt_hash(messages, TEMPLATE_VERSION)}


def _batch_examples(batch: DatabaseBatch, dialect: str, skips: Skips) -> list[dict[str, Any]]:
    rows = []
    for item, values in zip(batch.items, batch.values, strict=True):
        try:
            rows.append(linker_example(item, batch.schema, values, dialect))
        except SkipQuestion as reason:
            skips.add(item, str(reason))
    return rows


def _label_balance(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {"mean_gold_tables": mean([len(r["gold_tables"]) for r in rows]),
            "mean_schema_tables": mean([r["schema_tables"] for r in rows]),
            "mean_gold_fraction": mean([len(r["gold_tables"]) / r["schema_tables"] for r in rows]),
            "with_values": mean([1.0 if r["values"] else 0.0 for r in rows])}


def build_linker_data(benchmark: Benchmark, data_dir: Path, output: Path, *, schema_only: bool = False,
                      limit: int | None = None, eval_fraction: float = 0.05, seed: int = 0,
                      retrieval: RetrievalSettings | None = None, values: bool = True,
                      progress: bool = True) -> dict[str, Any]:
    """Write the linker dataset of ``benchmark`` (its first ``limit`` questions) to ``output``; returns the card.

    Without ``schema_only`` every question's database must be there (else one :class:`DatasetError` names the
    missing ones); its real schema is read and, when ``values``, the values retrieved for the question go into
    the prompt as the selector gets them at inference (``retrieval``: default settings when None). With
    ``schema_only`` the schemas come from the benchmark's ``tables.json`` and there are no values.
    """
    items = selected_items(benchmark, limit)
    tables_json = schema_file(benchmark, data_dir, items, schema_only=schema_only)
    retrieval = (retrieval or RetrievalSettings()) if values and not schema_only else None
    skips = Skips()
    rows: list[dict[str, Any]] = []
    databases = 0
    for batch in database_batches(benchmark, items, tables_json, schema_only=schema_only, retrieval=retrieval,
                                  progress=progress, desc="linker data"):
        databases += 1
        rows.extend(_batch_examples(batch, benchmark.dialect, skips))
    rows.sort(key=lambda r: r["index"])
    card = {"questions": {"seen": len(items), "kept": len(rows), "skipped": skips.total}, **skips.card(),
            "label_balance": _label_balance(rows),
            "sources": sources_card(benchmark, data_dir, tables_json, schema_only=schema_only, databases=databases),
            "prompt": {"template": TEMPLATE_VERSION,
                       "hash": template_hash(TEMPLATE_VERSION, SYSTEM_PROMPT, INSTRUCTION),
                       "hash_of": "sha256 of the template version, the system prompt and the instruction",
                       "values_per_column": MAX_VALUES_PER_COLUMN, "schema_budget_tokens": None,
                       "completion": "a JSON list of the gold tables, as the schema writes them, in schema order"},
            "settings": {"schema_only": schema_only, "limit": limit, "eval_fraction": eval_fraction, "seed": seed,
                         "values": retrieval is not None,
                         "retrieval": retrieval_card(retrieval, schema_only=schema_only)}}
    return write_examples(output, ROLE, rows, card, eval_fraction=eval_fraction, seed=seed)
