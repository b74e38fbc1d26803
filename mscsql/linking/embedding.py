"""The embedding linker: a small learned scorer over encoder similarities, lexical overlaps and
retrieved values, then the foreign-key paths needed to join what it keeps.

Two logistic models score every table and every column of the schema for a question (features in
:mod:`mscsql.linking.features`). Their weights ship in ``embedding_weights.json``, fitted on the Spider
*training* questions (schemas only) by ``eval/linking/fit_embedding_linker.py``; the evaluation databases
play no part in them.

How much to keep is decided per question from the probabilities: tables are kept, most probable first,
until the chance that a needed one is among the rest, ``1 - prod(1 - p)``, is at most ``table_miss``;
then the tables on foreign-key paths between them. In kept tables, the key columns that join kept
tables, at least ``min_columns`` each, and more columns, most probable first, until the chance of a
needed one among the rest is at most ``column_miss``. A question the models are sure about keeps little;
an ambiguous one, or a large database with many plausible tables, keeps more.
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

from mscsql.config import DEFAULT_ENCODER, StrictModel
from mscsql.errors import ConfigError
from mscsql.linking.base import LinkRequest, linked
from mscsql.linking.features import (
    COLUMN_FEATURES,
    TABLE_FEATURES,
    SchemaTexts,
    column_cues,
    column_features,
    question_cues,
    schema_texts,
    stems,
    table_features,
    value_strengths,
)
from mscsql.linking.graph import fk_graph, join_closure, table_lookup
from mscsql.retrieval.encoder import Encoder, get_encoder
from mscsql.retrieval.text import question_text
from mscsql.types import LinkedSchema, Schema, Table


@lru_cache(maxsize=1)
def shipped_weights() -> dict[str, Any]:
    """The weights and thresholds fitted by ``eval/linking/fit_embedding_linker.py``."""
    return json.loads(resources.files("mscsql.linking").joinpath("embedding_weights.json").read_text("utf-8"))


class EmbeddingLinkerSettings(StrictModel):
    encoder: str = Field(DEFAULT_ENCODER, description="sentence-transformers model id or local path")
    device: str = "cpu"
    table_miss: float | None = Field(None, ge=0, le=1, description="accepted chance that a needed table is "
                                                                   "dropped (default: the fitted value)")
    column_miss: float | None = Field(None, ge=0, le=1, description="accepted chance that a needed column of a "
                                                                    "kept table is dropped (default: fitted)")
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
        try:
            fitted_on = (list(weights["table_features"]), list(weights["column_features"]))
            self.table_weights = np.asarray(weights["table_weights"], dtype=float).reshape(len(TABLE_FEATURES))
            self.column_weights = np.asarray(weights["column_weights"], dtype=float).reshape(len(COLUMN_FEATURES))
            fitted_miss = (float(weights["table_miss"]), float(weights["column_miss"]))
        except (KeyError, TypeError, ValueError) as err:
            source = self.settings.weights or "embedding_weights.json"
            raise ConfigError(f"linker weights {source} are malformed: {err}",
                              hint="refit them with eval/linking/fit_embedding_linker.py") from None
        if fitted_on != (list(TABLE_FEATURES), list(COLUMN_FEATURES)):
            raise ConfigError("the linker weights were fitted on other features",
                              hint="refit them with eval/linking/fit_embedding_linker.py")
        self.table_miss = self.settings.table_miss if self.settings.table_miss is not None else fitted_miss[0]
        self.column_miss = self.settings.column_miss if self.settings.column_miss is not None else fitted_miss[1]
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
        question = question_text(request.question.text, request.question.evidence)
        query = self.encoder.encode([question])[0]
        sem_tables = table_matrix @ query
        sem_columns = column_matrix @ query
        question_stems = stems(question)
        value = value_strengths(texts, request.schema, request.values)
        cue = column_cues(texts, question_cues(question))
        table_logit = table_features(texts, question_stems, sem_tables, sem_columns, value, cue) @ self.table_weights
        column_logit = column_features(texts, question_stems, sem_columns, value, table_logit,
                                       cue) @ self.column_weights
        return LinkScores(_sigmoid(table_logit), _sigmoid(column_logit), texts)

    def link(self, requests: Sequence[LinkRequest]) -> list[LinkedSchema]:
        return [self._link_one(r) for r in requests]

    def _link_one(self, request: LinkRequest) -> LinkedSchema:
        schema = request.schema
        if not schema.tables:
            return linked(schema, {}, linker=self.name, values=request.values)
        scores = self.score(request)
        keep, trace = select(schema, scores, table_miss=self.table_miss, column_miss=self.column_miss,
                             min_columns=self.settings.min_columns, max_join_hops=self.settings.max_join_hops)
        out_scores: dict[str, float] = {}
        texts = scores.texts
        for ti, table in enumerate(schema.tables):
            out_scores[table.qualified_name] = round(float(scores.table_probability[ti]), 4)
        for ci, (ti, name) in enumerate(zip(texts.column_table, texts.column_names, strict=True)):
            out_scores[f"{schema.tables[ti].qualified_name}.{name}"] = round(float(scores.column_probability[ci]), 4)
        return linked(schema, keep, linker=self.name, values=request.values, scores=out_scores, trace=trace)


def _keep_until(probabilities: Sequence[float], miss: float) -> int:
    """How many of ``probabilities`` (sorted, highest first) to keep so that the chance that a needed item
    is among the dropped ones, ``1 - prod(1 - p)`` over the dropped, is at most ``miss``."""
    survive = 1.0
    for kept in range(len(probabilities), 0, -1):
        survive *= 1.0 - probabilities[kept - 1]
        if 1.0 - survive > miss:
            return kept
    return 0


def select(schema: Schema, scores: LinkScores, *, table_miss: float, column_miss: float,
           min_columns: int = 1, max_join_hops: int = 3) -> tuple[dict[str, list[str] | None], list[str]]:
    """Tables and columns to keep given the models' probabilities (see the module documentation)."""
    probability = scores.table_probability
    order = [int(i) for i in np.argsort(-probability, kind="stable")]
    count = max(1, _keep_until([float(probability[i]) for i in order], table_miss))
    chosen = [schema.tables[i].qualified_name.lower() for i in order[:count]]
    closure = join_closure(fk_graph(schema), chosen, max_hops=max_join_hops)
    trace = []
    added = sorted(closure - set(chosen))
    if added:
        trace.append(f"embedding: kept {', '.join(added)} to join the chosen tables")
    texts = scores.texts
    keep: dict[str, list[str]] = {}
    candidates: list[tuple[float, str, str]] = []
    for ti, table in enumerate(schema.tables):
        if table.qualified_name.lower() not in closure:
            continue
        ranked = sorted(((float(scores.column_probability[ci]), texts.column_names[ci])
                         for ci in range(len(texts.column_names)) if texts.column_table[ci] == ti),
                        key=lambda item: -item[0])
        keep[table.qualified_name] = list(dict.fromkeys(join_columns(schema, table, closure)))
        for _p, name in ranked[:min_columns]:
            if name not in keep[table.qualified_name]:
                keep[table.qualified_name].append(name)
        candidates += [(p, table.qualified_name, name) for p, name in ranked
                       if name not in keep[table.qualified_name]]
    candidates.sort(key=lambda item: -item[0])
    for _p, table_name, name in candidates[:_keep_until([c[0] for c in candidates], column_miss)]:
        keep[table_name].append(name)
    return dict(keep), trace


def join_columns(schema: Schema, table: Table, kept: set[str]) -> list[str]:
    """Columns of ``table`` that join it to other kept tables: its foreign keys to them, and the columns
    their foreign keys point at."""
    names: list[str] = []
    lookup = table_lookup(schema)
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
