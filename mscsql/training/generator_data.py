"""``mscsql train data generator``: (question, evidence, linked schema with values) -> the gold SQL.

The linked schema is what a good linker would give at inference: the gold query's tables (whole), the tables on
foreign-key paths between them (:func:`mscsql.linking.graph.join_closure`, so the joins are there), and 0 to
``max_extra_tables`` random other tables of the database (seeded per question) as distractors. It is rendered
as ``mscsql generate`` renders linked schemas (:func:`mscsql.linking.render.render_schema` with the default
schema token budget; the gold query's columns are scored highest, so they are the last to be dropped), with the
values retrieved for the question when the database is there, into the generator prompt
(:func:`mscsql.prompts.generator_prompt`). The completion is the gold SQL in a single ```sql block, checked to
extract (:func:`mscsql.generation.extract.extract_sql`) to exactly the gold SQL.

The card's ``prompt.hash`` is :func:`mscsql.training.examples.template_hash` of the template version, the system
prompt and the instruction; each row's ``prompt_hash`` is the prompt's own (:func:`mscsql.prompts.prompt_hash`).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mscsql.benchmarks.loaders import Benchmark, BenchmarkItem
from mscsql.config import LinkingConfig, RetrievalSettings
from mscsql.generation.extract import extract_sql
from mscsql.linking import RenderOptions, linked, render_schema
from mscsql.linking.graph import fk_graph, join_closure
from mscsql.prompts import GENERATOR_TEMPLATE_VERSION, generator_prompt
from mscsql.prompts.generator import INSTRUCTION, SYSTEM
from mscsql.training.examples import (
    DatabaseBatch,
    GoldQuery,
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
from mscsql.types import LinkedSchema, Schema, ValueMatch

log = logging.getLogger(__name__)

ROLE = "generator"
#: the linker name the gold-linked schemas carry
LINKER = "gold"


@dataclass(frozen=True)
class GoldLink:
    """The tables a training prompt shows: the gold ones, the join bridges between them, random extras."""

    gold: list[str]
    bridges: list[str]
    extra: list[str]

    @property
    def tables(self) -> list[str]:
        return [*self.gold, *self.bridges, *self.extra]


def question_rng(seed: int, item: BenchmarkItem) -> random.Random:
    """A question's own random source: its extra tables depend on the seed and the question only (not on which
    other questions are built)."""
    return random.Random(f"{seed}:{item.db_id}:{item.index}")


def choose_tables(schema: Schema, gold: list[str], max_extra_tables: int, rng: random.Random) -> GoldLink:
    """The gold tables, their join closure, and 0..``max_extra_tables`` random others (all in schema order)."""
    closure = join_closure(fk_graph(schema), gold)
    names = schema.table_names
    wanted = {t.lower() for t in gold}
    bridges = [t for t in names if t.lower() in closure and t.lower() not in wanted]
    others = [t for t in names if t.lower() not in closure]
    count = rng.randint(0, min(max_extra_tables, len(others)))
    picked = set(rng.sample(others, count))
    return GoldLink(gold=list(gold), bridges=bridges, extra=[t for t in others if t in picked])


def gold_linked_schema(schema: Schema, link: GoldLink, gold: GoldQuery, values: list[ValueMatch]) -> LinkedSchema:
    """The linked schema of ``link``'s tables (every column), the gold columns scored highest."""
    gold_columns = gold.elements.columns
    scores = {f"{t.qualified_name}.{c.name}": 1.0 for t in schema.tables for c in t.columns
              if (t.qualified_name.lower(), c.name.lower()) in gold_columns}
    return linked(schema, {t: None for t in link.tables}, linker=LINKER, values=values, scores=scores)


def sql_answer(sql: str) -> str:
    """The answer the generator prompt asks for: the query in a single ```sql block."""
    return f"```sql\n{answer_sql(sql)}\n```"


def answer_sql(sql: str) -> str:
    """The gold SQL as the completion holds it: stripped, without a trailing semicolon."""
    return sql.strip().rstrip(";").rstrip()


def generator_example(item: BenchmarkItem, schema: Schema, values: list[ValueMatch], dialect: str, *,
                      max_extra_tables: int, seed: int, options: RenderOptions) -> dict[str, Any]:
    """One training row for ``item``; raises :class:`SkipQuestion` when its gold query cannot be used."""
    gold = gold_query(item.gold_sql, schema, dialect)
    link = choose_tables(schema, gold.tables, max_extra_tables, question_rng(seed, item))
    linked_schema = gold_linked_schema(schema, link, gold, values)
    rendered = render_schema(linked_schema, options)
    gold_columns = {f"{table}.{column}" for table, column in gold.elements.columns}
    lost = sorted(c for c in rendered.dropped_columns if c.lower() in gold_columns)
    if lost:
        raise SkipQuestion(f"gold columns do not fit the schema budget: {', '.join(lost)}")
    prompt = generator_prompt(question_of(item), rendered.text, dialect)
    completion = sql_answer(item.gold_sql)
    extracted = extract_sql(completion, dialect)
    if not extracted.ok or extracted.sql != answer_sql(item.gold_sql):
        raise SkipQuestion(f"the completion extracts to {extracted.sql!r} ({extracted.status}), not the gold SQL")
    return {"messages": [dict(m) for m in prompt.messages], "completion": completion, "db_id": item.db_id,
            "index": item.index, "question": item.question, "evidence": item.evidence or "",
            "gold_sql": item.gold_sql, "gold_tables": link.gold, "bridge_tables": link.bridges,
            "extra_tables": link.extra, "schema_tables": len(schema.tables),
            "values": [f"{v.table}.{v.column}: {v.value}" for v in linked_schema.values],
            "dropped_columns": list(rendered.dropped_columns), "prompt_hash": prompt.prompt_hash}


def _batch_examples(batch: DatabaseBatch, dialect: str, skips: Skips, *, max_extra_tables: int, seed: int,
                    options: RenderOptions) -> list[dict[str, Any]]:
    rows = []
    for item, values in zip(batch.items, batch.values, strict=True):
        try:
            rows.append(generator_example(item, batch.schema, values, dialect, max_extra_tables=max_extra_tables,
                                          seed=seed, options=options))
        except SkipQuestion as reason:
            skips.add(item, str(reason))
    return rows


def _label_balance(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {"mean_gold_tables": mean([len(r["gold_tables"]) for r in rows]),
            "mean_bridge_tables": mean([len(r["bridge_tables"]) for r in rows]),
            "mean_extra_tables": mean([len(r["extra_tables"]) for r in rows]),
            "mean_linked_tables": mean([len(r["gold_tables"]) + len(r["bridge_tables"]) + len(r["extra_tables"])
                                        for r in rows]),
            "mean_schema_tables": mean([r["schema_tables"] for r in rows]),
            "with_values": mean([1.0 if r["values"] else 0.0 for r in rows]),
            "with_dropped_columns": mean([1.0 if r["dropped_columns"] else 0.0 for r in rows])}


def build_generator_data(benchmark: Benchmark, data_dir: Path, output: Path, *, schema_only: bool = False,
                         limit: int | None = None, max_extra_tables: int = 2, eval_fraction: float = 0.05,
                         seed: int = 0, retrieval: RetrievalSettings | None = None, values: bool = True,
                         progress: bool = True) -> dict[str, Any]:
    """Write the generator dataset of ``benchmark`` (its first ``limit`` questions) to ``output``; returns the
    card.

    Without ``schema_only`` every question's database must be there (else one :class:`DatasetError` names the
    missing ones); its real schema is read and, when ``values``, the values retrieved for the question go into
    the prompt (``retrieval``: default settings when None). With ``schema_only`` the schemas come from the
    benchmark's ``tables.json`` and there are no values.
    """
    items = selected_items(benchmark, limit)
    tables_json = schema_file(benchmark, data_dir, items, schema_only=schema_only)
    retrieval = (retrieval or RetrievalSettings()) if values and not schema_only else None
    budget = LinkingConfig().schema_budget_tokens
    options = RenderOptions(budget_tokens=budget)
    skips = Skips()
    rows: list[dict[str, Any]] = []
    databases = 0
    for batch in database_batches(benchmark, items, tables_json, schema_only=schema_only, retrieval=retrieval,
                                  progress=progress, desc="generator data"):
        databases += 1
        rows.extend(_batch_examples(batch, benchmark.dialect, skips, max_extra_tables=max_extra_tables, seed=seed,
                                    options=options))
    rows.sort(key=lambda r: r["index"])
    card = {"questions": {"seen": len(items), "kept": len(rows), "skipped": skips.total}, **skips.card(),
            "label_balance": _label_balance(rows),
            "sources": sources_card(benchmark, data_dir, tables_json, schema_only=schema_only, databases=databases),
            "prompt": {"template": GENERATOR_TEMPLATE_VERSION,
                       "hash": template_hash(GENERATOR_TEMPLATE_VERSION, SYSTEM, INSTRUCTION),
                       "hash_of": "sha256 of the template version, the system prompt and the instruction",
                       "schema_budget_tokens": budget,
                       "completion": "the gold SQL (stripped, no trailing semicolon) in a single ```sql block"},
            "settings": {"schema_only": schema_only, "limit": limit, "max_extra_tables": max_extra_tables,
                         "eval_fraction": eval_fraction, "seed": seed, "values": retrieval is not None,
                         "retrieval": retrieval_card(retrieval, schema_only=schema_only)}}
    return write_examples(output, ROLE, rows, card, eval_fraction=eval_fraction, seed=seed)
