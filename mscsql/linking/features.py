"""Features that say how relevant each table and column of a schema is to a question.

Both the embedding linker and the script that fits its weights (``eval/linking/fit_embedding_linker.py``)
use these functions, so the weights shipped as defaults were learned on exactly what the linker sees.

Signals (cosines from the sentence encoder, lexical overlaps of lightly stemmed words, retrieved values):

* tables: cosine of the question with the table's text and with its best column's text, the share of the
  table name's words the question uses, the best column-name overlap (weighted by how distinctive the
  name is in this database), the best retrieved value, each also relative to the best table, and whether
  the table is a foreign-key neighbour of the strongest table;
* columns: the column's cosine and overlap (absolute, relative to its table's best and to the database's
  best), distinctiveness, key flags, its retrieved value, and its table's score.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from mscsql.linking.graph import fk_graph
from mscsql.retrieval.text import split_identifier, stems, tokens
from mscsql.types import Schema, Table, ValueMatch

TABLE_FEATURES = ("bias", "sem_table", "sem_column", "lex_table", "lex_column", "value",
                  "rel_sem_table", "rel_sem_column", "rel_lex_table", "rel_lex_column",
                  "neighbour_of_best", "log_tables", "cue_column")
COLUMN_FEATURES = ("bias", "sem", "rel_sem_table", "rel_sem_db", "lex", "lex_distinct", "distinct",
                   "primary_key", "foreign_key", "value", "table_score", "generic", "log_columns",
                   "cue", "lex_in_table", "sem_in_table")

#: words that point at an attribute without naming it ("the youngest" → an age column): question word →
#: stems that such a column's name contains. A 4-digit number in the question points at years and dates.
_CUES: dict[str, frozenset[str]] = {}
for _words, _targets in (
    ("young younger youngest old older oldest elder eldest age aged", "age birth born dob"),
    ("heavy heavier heaviest light lighter lightest weigh weighs weighing", "weight"),
    ("tall taller tallest short shorter shortest", "height"),
    ("early earlier earliest late later latest recent recently newest first last before after since until "
     "when", "date time year day month start end"),
    ("expensive cheap cheaper cheapest cost costs costly pay paid", "price cost amount fee charge"),
    ("long longer longest length duration", "length durat time"),
    ("big bigger biggest large larger largest small smaller smallest size", "size area capac"),
    ("populous populated inhabitants", "popul"),
    ("rich richer richest earn earns earned earning", "earn salari incom money"),
    ("fast faster fastest speed slow", "speed time"),
):
    for _word in _words.split():
        _CUES[_word] = frozenset(_targets.split())
_YEAR = re.compile(r"^(1[5-9]|20)\d\d$")


def question_cues(question: str) -> frozenset[str]:
    """Column-name stems the question points at without naming them."""
    found: set[str] = set()
    for word in tokens(question):
        if word in _CUES:
            found |= _CUES[word]
        elif _YEAR.match(word):
            found |= {"year", "date", "time"}
    return frozenset(found)

_GENERIC = frozenset({"id", "name", "code", "type", "description", "details", "date", "other details"})


def _overlap(name_stems: frozenset[str], question: frozenset[str]) -> float:
    return len(name_stems & question) / len(name_stems) if name_stems else 0.0


@dataclass(frozen=True)
class SchemaTexts:
    """What the encoder reads for one schema: one text per table, then one per column, with their stems."""

    table_texts: tuple[str, ...]
    column_texts: tuple[str, ...]
    column_table: tuple[int, ...]  # the table index of each column
    column_names: tuple[str, ...]
    table_stems: tuple[frozenset[str], ...]
    column_stems: tuple[frozenset[str], ...]
    column_distinct: tuple[float, ...]  # 1 / number of tables having a column of this name
    primary_key: tuple[bool, ...]
    foreign_key: tuple[bool, ...]
    generic: tuple[bool, ...]
    neighbours: tuple[tuple[int, ...], ...]


def _table_text(table: Table) -> str:
    text = table.nl_name or split_identifier(table.name)
    if table.description:
        text += f": {table.description}"
    return text


def schema_texts(schema: Schema) -> SchemaTexts:
    table_texts, column_texts, column_table, column_names = [], [], [], []
    table_stems, column_stems, pks, fks, generic = [], [], [], [], []
    for ti, table in enumerate(schema.tables):
        table_texts.append(_table_text(table))
        table_stems.append(stems(split_identifier(table.name)) | stems(table.nl_name or ""))
        keys = {c.lower() for c in table.primary_key} | {c.name.lower() for c in table.columns if c.primary_key}
        fk_cols = {c.lower() for fk in table.foreign_keys for c in fk.columns}
        table_words = table.nl_name or split_identifier(table.name)
        for col in table.columns:
            words = col.nl_name or split_identifier(col.name)
            text = f"{words} of {table_words}"
            if col.description and col.description.lower() != words.lower():
                text += f": {col.description}"
            if col.value_description:
                text += f" ({col.value_description})"
            column_texts.append(text[:500])
            column_table.append(ti)
            column_names.append(col.name)
            column_stems.append(stems(split_identifier(col.name)) | stems(col.nl_name or ""))
            pks.append(col.name.lower() in keys)
            fks.append(col.name.lower() in fk_cols)
            generic.append(split_identifier(col.nl_name or col.name) in _GENERIC or bool(re.search(r"\bid$", words)))
    name_counts = Counter(split_identifier(n) for n in column_names)
    distinct = tuple(1.0 / name_counts[split_identifier(n)] for n in column_names)
    graph = fk_graph(schema)
    index = {t.qualified_name.lower(): i for i, t in enumerate(schema.tables)}
    neighbours = tuple(tuple(sorted(index[n] for n in graph[t.qualified_name.lower()])) for t in schema.tables)
    return SchemaTexts(tuple(table_texts), tuple(column_texts), tuple(column_table), tuple(column_names),
                       tuple(table_stems), tuple(column_stems), distinct, tuple(pks), tuple(fks), tuple(generic),
                       neighbours)


def value_strengths(texts: SchemaTexts, schema: Schema, values: tuple[ValueMatch, ...]) -> np.ndarray:
    """Per column: the best retrieved value (exact and near-exact count fully, semantic ones half)."""
    position = {(schema.tables[t].qualified_name.lower(), name.lower()): i
                for i, (t, name) in enumerate(zip(texts.column_table, texts.column_names, strict=True))}
    strength = np.zeros(len(texts.column_names))
    for match in values:
        i = position.get((match.table.lower(), match.column.lower()))
        if i is not None:
            weight = match.score if match.source != "embedding" else 0.5 * match.score
            strength[i] = max(strength[i], weight)
    return strength


def column_cues(texts: SchemaTexts, cues: frozenset[str]) -> np.ndarray:
    """1 for columns whose name holds a stem the question points at (see :func:`question_cues`)."""
    return np.array([1.0 if any(stem_.startswith(c) for stem_ in s for c in cues) else 0.0
                     for s in texts.column_stems]) if cues else np.zeros(len(texts.column_stems))


def table_features(texts: SchemaTexts, question_stems: frozenset[str], sem_tables: np.ndarray,
                   sem_columns: np.ndarray, value: np.ndarray, cue: np.ndarray) -> np.ndarray:
    """One row of :data:`TABLE_FEATURES` per table."""
    n = len(texts.table_texts)
    col_table = np.asarray(texts.column_table, dtype=np.int64)
    lex_cols = np.array([_overlap(s, question_stems) for s in texts.column_stems])
    lex_cols_distinct = lex_cols * np.asarray(texts.column_distinct)
    best_sem_col = np.full(n, -1.0)
    best_lex_col = np.zeros(n)
    best_value = np.zeros(n)
    np.maximum.at(best_sem_col, col_table, sem_columns)
    np.maximum.at(best_lex_col, col_table, lex_cols_distinct)
    np.maximum.at(best_value, col_table, value)
    best_cue = np.zeros(n)
    np.maximum.at(best_cue, col_table, cue)
    lex_table = np.array([_overlap(s, question_stems) for s in texts.table_stems])
    strength = sem_tables + lex_table
    best = int(np.argmax(strength))
    neighbour = np.array([1.0 if best in texts.neighbours[i] else 0.0 for i in range(n)])
    return np.column_stack([
        np.ones(n), sem_tables, best_sem_col, lex_table, best_lex_col, best_value,
        sem_tables - sem_tables.max(), best_sem_col - best_sem_col.max(), lex_table - lex_table.max(),
        best_lex_col - best_lex_col.max(), neighbour, np.full(n, np.log(n)), best_cue,
    ])


def column_features(texts: SchemaTexts, question_stems: frozenset[str], sem_columns: np.ndarray,
                    value: np.ndarray, table_score: np.ndarray, cue: np.ndarray) -> np.ndarray:
    """One row of :data:`COLUMN_FEATURES` per column (``table_score``: the table model's logit)."""
    col_table = np.asarray(texts.column_table, dtype=np.int64)
    n_tables = len(texts.table_texts)
    best_in_table = np.full(n_tables, -1.0)
    np.maximum.at(best_in_table, col_table, sem_columns)
    lex = np.array([_overlap(s, question_stems) for s in texts.column_stems])
    distinct = np.asarray(texts.column_distinct)
    counts = np.bincount(col_table, minlength=n_tables)
    table_probability = 1.0 / (1.0 + np.exp(-np.clip(table_score, -40, 40)))[col_table]
    return np.column_stack([
        np.ones(len(sem_columns)), sem_columns, sem_columns - best_in_table[col_table],
        sem_columns - sem_columns.max(initial=-1.0), lex, lex * distinct, distinct,
        np.asarray(texts.primary_key, dtype=float), np.asarray(texts.foreign_key, dtype=float), value,
        table_score[col_table], np.asarray(texts.generic, dtype=float), np.log(counts[col_table] + 1.0),
        cue, lex * table_probability, (sem_columns - best_in_table[col_table]) * table_probability,
    ])
