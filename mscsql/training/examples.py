"""What the linker and generator dataset builders share: the questions to use, where their schemas (and
retrieved values) come from, the gold query's tables, skipped questions, the seeded eval split, and the card's
common parts.

Schemas come from the databases (``BenchmarkItem.database``), read and searched exactly as ``mscsql generate``
does (:func:`mscsql.evaluation.generate.schema_and_values`: the real schema, the value index in the cache), or,
with ``schema_only``, from the benchmark's ``tables.json`` without values. A question whose database is missing
is refused unless ``schema_only`` is set.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from tqdm import tqdm

from mscsql.benchmarks.loaders import Benchmark, BenchmarkItem, sha256_file
from mscsql.config import RetrievalSettings
from mscsql.db.guard import sqlglot_dialect
from mscsql.errors import DatasetError
from mscsql.linking.gold import GoldElements, gold_elements
from mscsql.linking.graph import table_lookup
from mscsql.types import Question, Schema, ValueMatch

log = logging.getLogger(__name__)

#: skipped questions listed in a card (all are counted)
MAX_SKIPS_LISTED = 50
#: questions embedded ahead in one batch (well within the shared encoder's cache)
MAX_EMBEDDED_AHEAD = 2048


class SkipQuestion(Exception):
    """A question that cannot become a training example; the message says why."""


@dataclass(frozen=True)
class DatabaseBatch:
    """One database's questions with its schema and, per question, the values retrieved for it."""

    db_id: str
    items: list[BenchmarkItem]
    schema: Schema
    values: list[list[ValueMatch]]


@dataclass(frozen=True)
class GoldQuery:
    """A gold query's tables in the schema's spelling and order, and what :func:`gold_elements` found."""

    tables: list[str]
    elements: GoldElements


@dataclass
class Skips:
    """Questions left out, counted by reason; each one is logged as a warning."""

    reasons: Counter[str] = field(default_factory=Counter)
    listed: list[dict[str, Any]] = field(default_factory=list)

    def add(self, item: BenchmarkItem, reason: str) -> None:
        log.warning("question %d (%s) skipped: %s", item.index, item.db_id, reason)
        self.reasons[reason.split(":", 1)[0]] += 1
        if len(self.listed) < MAX_SKIPS_LISTED:
            self.listed.append({"index": item.index, "db_id": item.db_id, "reason": reason})

    @property
    def total(self) -> int:
        return sum(self.reasons.values())

    def card(self) -> dict[str, Any]:
        return {"skipped": self.total, "skipped_reasons": dict(sorted(self.reasons.items())),
                "skipped_questions": self.listed}


def question_of(item: BenchmarkItem) -> Question:
    return Question(item.question, db_id=item.db_id, evidence=item.evidence, question_id=item.question_id)


def selected_items(benchmark: Benchmark, limit: int | None) -> list[BenchmarkItem]:
    """The benchmark's first ``limit`` questions (all when None), in file order."""
    return list(benchmark.items[:limit] if limit is not None else benchmark.items)


def schema_file(benchmark: Benchmark, data_dir: Path, items: Sequence[BenchmarkItem], *,
                schema_only: bool) -> Path | None:
    """The benchmark's ``tables.json`` (None when there is none); refuses questions that cannot get a schema:
    without ``schema_only``, every question's database must be present; with it, a ``tables.json`` must be."""
    from mscsql.benchmarks.loaders import tables_file

    tables_json = tables_file(benchmark, Path(data_dir))
    if schema_only:
        if tables_json is None:
            raise DatasetError(f"--schema-only needs the schemas in a tables.json in {data_dir}",
                               hint="add the benchmark's tables.json (dev_tables.json for BIRD dev)")
        return tables_json
    missing = sorted({item.db_id for item in items if not item.database})
    if missing:
        count = sum(1 for item in items if not item.database)
        shown = ", ".join(missing[:20]) + (f", … ({len(missing) - 20} more)" if len(missing) > 20 else "")
        raise DatasetError(f"{benchmark.name}: {count} questions need databases that are missing: {shown}",
                           hint="add the databases under --data-dir, leave those questions out with "
                                "--allow-missing-db or --dbs, or pass --schema-only to read the schemas from "
                                "tables.json instead (no retrieved values then)")
    return tables_json


def database_batches(benchmark: Benchmark, items: Sequence[BenchmarkItem], tables_json: Path | None, *,
                     schema_only: bool, retrieval: RetrievalSettings | None, progress: bool = True,
                     desc: str = "databases") -> Iterator[DatabaseBatch]:
    """The questions database by database (sorted by name), each with its schema and retrieved values (none
    when ``retrieval`` is None or ``schema_only``); a tqdm bar counts the databases."""
    from mscsql.evaluation.generate import schema_and_values

    ordered = sorted(items, key=lambda i: (i.db_id, i.index))
    groups = [(db_id, list(group)) for db_id, group in groupby(ordered, key=lambda i: i.db_id)]
    for db_id, batch in tqdm(groups, desc=desc, unit="db", disable=not progress):
        if not schema_only:
            _embed_questions(batch, retrieval)
        schema, values = schema_and_values(db_id, batch, tables_json, benchmark.dialect, schema_only=schema_only,
                                           retrieval=None if schema_only else retrieval)
        yield DatabaseBatch(db_id, batch, schema, values)


def _embed_questions(items: Sequence[BenchmarkItem], retrieval: RetrievalSettings | None) -> None:
    """Embed a database's questions in one batch: the value index's searches then find each question's embedding
    in the shared encoder's cache (one question at a time is many times slower on a CPU)."""
    if retrieval is None or not retrieval.embed_values:
        return
    from mscsql.retrieval.encoder import get_encoder
    from mscsql.retrieval.text import question_text

    texts = [question_text(item.question, item.evidence) for item in items]
    get_encoder(retrieval.encoder, retrieval.device, retrieval.batch_size).encode(texts[:MAX_EMBEDDED_AHEAD])


def _reference(table: exp.Table) -> str:
    return f"{table.db}.{table.name}".lower() if table.db else table.name.lower()


def gold_query(sql: str, schema: Schema, dialect: str) -> GoldQuery:
    """The tables ``sql`` reads, in the schema's spelling and order (sqlglot, as in linker recall:
    :func:`mscsql.linking.gold.gold_elements`). Raises :class:`SkipQuestion` when the query does not parse,
    names a table the schema lacks, or reads no table."""
    try:
        tree = sqlglot.parse_one(sql, read=sqlglot_dialect(dialect))
    except SqlglotError as err:
        raise SkipQuestion(f"gold SQL does not parse: {str(err).splitlines()[0] if str(err) else err!r}") from None
    if tree is None:
        raise SkipQuestion("gold SQL does not parse: empty")
    lookup = table_lookup(schema)
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    unknown = sorted({t.name for t in tree.find_all(exp.Table)
                      if t.name and _reference(t) not in lookup and t.name.lower() not in ctes})
    if unknown:
        raise SkipQuestion(f"gold SQL names tables not in the schema: {', '.join(unknown)}")
    elements = gold_elements(sql, schema, dialect)
    tables = [t.qualified_name for t in schema.tables if t.qualified_name.lower() in elements.tables]
    if not tables:
        raise SkipQuestion("gold SQL reads no table")
    return GoldQuery(tables, elements)


def split_rows(rows: list[dict[str, Any]], eval_fraction: float, seed: int) -> tuple[dict[str, list[dict[str, Any]]],
                                                                                     dict[str, Any]]:
    """``{"train": ..., "eval": ...}`` holding out about ``eval_fraction`` of the rows (at least one when the
    fraction is above 0 and there are two rows or more), seeded: whole databases when the rows span two or more
    (no database in both splits), else single questions. Also returns how the split was made, for the card."""
    held, how = eval_positions([row.get("db_id") for row in rows], eval_fraction, seed)
    return ({"train": [r for i, r in enumerate(rows) if i not in held],
             "eval": [r for i, r in enumerate(rows) if i in held]}, how)


def eval_positions(db_ids: Sequence[str | None], eval_fraction: float, seed: int) -> tuple[set[int], dict[str, Any]]:
    """The positions of the rows to hold out (the rows' databases given in order) and how they were chosen: about
    ``eval_fraction`` of them, seeded, at least one when the fraction is above 0 and there are two rows or more,
    never all; whole databases when the rows name two or more, else single rows. The one hold-out rule of the
    dataset builders and of the recipe."""
    if eval_fraction <= 0 or len(db_ids) < 2:
        return set(), {"by": "none", "eval_databases": []}
    target = min(len(db_ids) - 1, max(1, round(eval_fraction * len(db_ids))))
    sizes = Counter(db_id for db_id in db_ids if db_id)
    rng = random.Random(seed)
    if len(sizes) < 2 or len(sizes) != len(set(db_ids)):  # one database, or rows that name none
        positions = list(range(len(db_ids)))
        rng.shuffle(positions)
        return set(positions[:target]), {"by": "question", "eval_databases": []}
    eval_dbs = choose_eval_databases(sizes, target, rng)
    return ({i for i, db_id in enumerate(db_ids) if db_id in eval_dbs},
            {"by": "database", "eval_databases": sorted(eval_dbs)})


def choose_eval_databases(sizes: Counter[str], target: int, rng: random.Random) -> set[str]:
    """Databases (in a seeded order) whose questions add up close to ``target``; at least one, never all."""
    order = sorted(sizes)
    rng.shuffle(order)
    chosen: set[str] = set()
    count = 0
    for db_id in order:
        if len(chosen) == len(order) - 1:
            break
        if abs(count + sizes[db_id] - target) < abs(count - target):
            chosen.add(db_id)
            count += sizes[db_id]
    if not chosen:
        chosen.add(min(order, key=lambda d: sizes[d]))
    return chosen


def template_hash(version: str, *texts: str) -> str:
    """A stable hash of a prompt template: its version and its constant texts (system prompt, instruction)."""
    digest = hashlib.sha256("\x00".join((version, *texts)).encode("utf-8"))
    return digest.hexdigest()[:16]


def sources_card(benchmark: Benchmark, data_dir: Path, tables_json: Path | None, *, schema_only: bool,
                 databases: int) -> dict[str, Any]:
    """Where the examples come from: the benchmark, its files and their sha256, and the schema source."""
    sources: dict[str, Any] = {"benchmark": benchmark.name, "dialect": benchmark.dialect,
                               "files": dict(benchmark.files), "data_dir": str(Path(data_dir).resolve()),
                               "schemas": "tables.json" if schema_only else "databases", "databases": databases}
    if tables_json is not None:
        sources["tables_json"] = {"path": str(tables_json.resolve()), "sha256": sha256_file(tables_json)}
    return sources


def retrieval_card(retrieval: RetrievalSettings | None, *, schema_only: bool) -> dict[str, Any] | None:
    """The retrieval settings that gave the prompts their values (None: no values)."""
    if schema_only or retrieval is None:
        return None
    return retrieval.model_dump()


def mean(values: Sequence[float]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def write_examples(output: Path, role: str, rows: list[dict[str, Any]], card: dict[str, Any], *,
                   eval_fraction: float, seed: int) -> dict[str, Any]:
    """Split ``rows``, write them with ``card`` (see :func:`mscsql.training.dataset_io.write_dataset`) and
    return the card as written (with ``counts``)."""
    from mscsql.training.dataset_io import read_card, write_dataset

    splits, how = split_rows(rows, eval_fraction, seed)
    share = len(splits["eval"]) / len(rows) if rows else 0.0
    if eval_fraction > 0 and share > 2 * eval_fraction:
        log.warning("the eval split holds %.0f%% of the %s examples (%.0f%% asked for): whole databases go to one "
                    "split, and these are few", 100 * share, role, 100 * eval_fraction)
    folder = write_dataset(output, role, splits, {**card, "split": {**how, "eval_share": round(share, 4)}})
    return read_card(folder)
