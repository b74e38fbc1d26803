"""The embedding linker: a small learned scorer over encoder similarities, lexical overlaps and
retrieved values, then the foreign-key paths needed to join what it keeps.

Two logistic models score every table and every column of the schema for a question (features in
:mod:`mscsql.linking.features`). Their weights ship in ``embedding_weights.json``, fitted on the Spider
*training* questions (schemas only) by ``eval/linking/fit_embedding_linker.py``; the evaluation databases
play no part in them. Kept: tables whose probability reaches ``table_threshold`` (and always the best
one), plus the tables on foreign-key paths between them; in kept tables, columns whose probability
reaches ``column_threshold`` (at least ``min_columns``), plus the key columns that join kept tables.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
from pydantic import Field

from mscsql.config import DEFAULT_ENCODER, _Strict
from mscsql.errors import ConfigError
from mscsql.linking.base import LinkRequest, linked
from mscsql.linking.features import (
    COLUMN_FEATURES,
    TABLE_FEATURES,
    SchemaTexts,
    column_features,
    schema_texts,
    stems,
    table_features,
    value_strengths,
)
from mscsql.linking.graph import fk_graph, join_closure
from mscsql.retrieval.encoder import Encoder, get_encoder
from mscsql.types import LinkedSchema, Schema, Table


@lru_cache(maxsize=1)
def shipped_weights() -> dict[str, Any]:
    """The weights and thresholds fitted by ``eval/linking/fit_embedding_linker.py``."""
    return json.loads(resources.files("mscsql.linking").joinpath("embedding_weights.json").read_text("utf-8"))


class EmbeddingLinkerSettings(_Strict):
    encoder: str = Field(DEFAULT_ENCODER, description="sentence-transformers model id or local path")
    device: str = "cpu"
    table_threshold: float | None = Field(None, ge=0, le=1, description="default: the fitted threshold")
    column_threshold: float | None = Field(None, ge=0, le=1, description="default: the fitted threshold")
    min_columns: int = Field(1, ge=0, description="columns kept per kept table at least (besides join keys)")
    max_join_hops: int = Field(3, ge=1)
    weights: str | None = Field(None, description="a JSON file of weights (default: the shipped ones)")


@dataclass(frozen=True)
class LinkScores:
    table_probability: np.ndarray
    column_probability: np.ndarray
    texts: SchemaTexts


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


class EmbeddingLinker:
    """See the module documentation."""

    name = "embedding"

    def __init__(self, settings: EmbeddingLinkerSettings | None = None, *, encoder: Encoder | None = None) -> None:
        self.settings = settings or EmbeddingLinkerSettings()
        self._encoder = encoder
        weights = shipped_weights()
        if self.settings.weights:
            try:
                with open(self.settings.weights, encoding="utf-8") as handle:
                    weights = json.load(handle)
            except (OSError, json.JSONDecodeError) as err:
                raise ConfigError(f"cannot read linker weights {self.settings.weights}: {err}") from None
        if list(weights["table_features"]) != list(TABLE_FEATURES) or \
                list(weights["column_features"]) != list(COLUMN_FEATURES):
            raise ConfigError("the linker weights were fitted on other features",
                              hint="refit them with eval/linking/fit_embedding_linker.py")
        self.table_weights = np.asarray(weights["table_weights"], dtype=float)
        self.column_weights = np.asarray(weights["column_weights"], dtype=float)
        self.table_threshold = self.settings.table_threshold if self.settings.table_threshold is not None \
            else float(weights["table_threshold"])
        self.column_threshold = self.settings.column_threshold if self.settings.column_threshold is not None \
            else float(weights["column_threshold"])
        self._schema_cache: dict[int, tuple[Schema, SchemaTexts, np.ndarray, np.ndarray]] = {}

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = get_encoder(self.settings.encoder, self.settings.device)
        return self._encoder

    def _schema_parts(self, schema: Schema) -> tuple[SchemaTexts, np.ndarray, np.ndarray]:
        cached = self._schema_cache.get(id(schema))
        if cached is not None and cached[0] is schema:
            return cached[1], cached[2], cached[3]
        texts = schema_texts(schema)
        table_matrix = self.encoder.encode_bulk(list(texts.table_texts))
        column_matrix = self.encoder.encode_bulk(list(texts.column_texts))
        if len(self._schema_cache) > 32:
            self._schema_cache.clear()
        self._schema_cache[id(schema)] = (schema, texts, table_matrix, column_matrix)
        return texts, table_matrix, column_matrix

    def score(self, request: LinkRequest) -> LinkScores:
        """Probabilities that each table and each column is needed for the request's question."""
        texts, table_matrix, column_matrix = self._schema_parts(request.schema)
        question = request.question.text
        if request.question.evidence:
            question += "\n" + request.question.evidence
        query = self.encoder.encode([question])[0]
        sem_tables = table_matrix @ query
        sem_columns = column_matrix @ query
        question_stems = stems(question)
        value = value_strengths(texts, request.schema, request.values)
        table_logit = table_features(texts, question_stems, sem_tables, sem_columns, value) @ self.table_weights
        column_logit = column_features(texts, question_stems, sem_columns, value, table_logit) @ self.column_weights
        return LinkScores(_sigmoid(table_logit), _sigmoid(column_logit), texts)

    def link(self, requests: Sequence[LinkRequest]) -> list[LinkedSchema]:
        return [self._link_one(r) for r in requests]

    def _link_one(self, request: LinkRequest) -> LinkedSchema:
        schema = request.schema
        if not schema.tables:
            return linked(schema, {}, linker=self.name, values=request.values)
        scores = self.score(request)
        keep, trace = select(schema, scores, table_threshold=self.table_threshold,
                             column_threshold=self.column_threshold, min_columns=self.settings.min_columns,
                             max_join_hops=self.settings.max_join_hops)
        out_scores: dict[str, float] = {}
        texts = scores.texts
        for ti, table in enumerate(schema.tables):
            out_scores[table.qualified_name] = round(float(scores.table_probability[ti]), 4)
        for ci, (ti, name) in enumerate(zip(texts.column_table, texts.column_names, strict=True)):
            out_scores[f"{schema.tables[ti].qualified_name}.{name}"] = round(float(scores.column_probability[ci]), 4)
        return linked(schema, keep, linker=self.name, values=request.values, scores=out_scores, trace=trace)


def select(schema: Schema, scores: LinkScores, *, table_threshold: float, column_threshold: float,
           min_columns: int = 1, max_join_hops: int = 3) -> tuple[dict[str, list[str] | None], list[str]]:
    """Tables and columns to keep given the models' probabilities (see the module documentation)."""
    probability = scores.table_probability
    best = int(np.argmax(probability))
    chosen = [schema.tables[i].qualified_name.lower() for i in range(len(schema.tables))
              if i == best or probability[i] >= table_threshold]
    closure = join_closure(fk_graph(schema), chosen, max_hops=max_join_hops)
    trace = []
    added = sorted(closure - set(chosen))
    if added:
        trace.append(f"embedding: kept {', '.join(added)} to join the chosen tables")
    texts = scores.texts
    by_table: dict[int, list[tuple[float, str]]] = {}
    for ci, (ti, name) in enumerate(zip(texts.column_table, texts.column_names, strict=True)):
        by_table.setdefault(ti, []).append((float(scores.column_probability[ci]), name))
    keep: dict[str, list[str] | None] = {}
    for ti, table in enumerate(schema.tables):
        if table.qualified_name.lower() not in closure:
            continue
        ranked = sorted(by_table.get(ti, []), key=lambda item: -item[0])
        kept = [name for rank, (p, name) in enumerate(ranked) if rank < min_columns or p >= column_threshold]
        kept += [name for name in join_columns(schema, table, closure) if name not in kept]
        keep[table.qualified_name] = kept
    return keep, trace


def join_columns(schema: Schema, table: Table, kept: set[str]) -> list[str]:
    """Columns of ``table`` that join it to other kept tables: its foreign keys to them, and the columns
    their foreign keys point at."""
    names: list[str] = []
    lookup = {t.name.lower(): t.qualified_name.lower() for t in schema.tables}
    here = table.qualified_name.lower()
    if len(kept) < 2:
        return names
    for fk in table.foreign_keys:
        if lookup.get(fk.ref_table.lower(), fk.ref_table.lower()) in kept - {here}:
            names.extend(fk.columns)
    for other in schema.tables:
        if other.qualified_name.lower() not in kept or other is table:
            continue
        for fk in other.foreign_keys:
            if lookup.get(fk.ref_table.lower(), fk.ref_table.lower()) == here:
                names.extend(fk.ref_columns)
    return names
