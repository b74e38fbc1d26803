"""Natural-language names and descriptions from Spider/BIRD ``tables.json`` and BIRD's
``database_description/<table>.csv`` files, attached to a :class:`Schema` by name.

BIRD's CSV files come in several encodings (UTF-8 with or without a BOM, Windows-1252); each file is
decoded with the first that works. Columns are matched by ``original_column_name`` (trimmed,
case-insensitive), tables by file name or ``table_names_original`` (case-insensitive).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from mscsql.errors import DatasetError
from mscsql.types import Schema

log = logging.getLogger(__name__)

_ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")


@dataclass
class ColumnNotes:
    nl_name: str | None = None
    description: str | None = None
    value_description: str | None = None


@dataclass
class TableNotes:
    nl_name: str | None = None
    columns: dict[str, ColumnNotes] = field(default_factory=dict)


def _key(name: str) -> str:
    return name.strip().lower()


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text or None


@lru_cache(maxsize=8)
def _read_tables_json(path: str) -> dict[str, dict]:
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"tables file {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetError(f"tables file {path} is not valid JSON: {err}") from None
    if not isinstance(entries, list):
        raise DatasetError(f"tables file {path} must be a JSON list of database entries")
    return {e["db_id"]: e for e in entries if isinstance(e, dict) and "db_id" in e}


def notes_from_tables_json(path: str | Path, db_id: str) -> dict[str, TableNotes]:
    """Natural-language table and column names of ``db_id`` in a Spider/BIRD ``tables.json``."""
    entries = _read_tables_json(str(Path(path).resolve()))
    if db_id not in entries:
        raise DatasetError(f"database {db_id!r} is not described in {path}",
                           hint="check the database's id (--db-id on the command line), or give no tables.json "
                                "(--tables-json)")
    entry = entries[db_id]
    originals = entry.get("table_names_original") or entry.get("table_names") or []
    nl_tables = entry.get("table_names") or originals
    notes = {_key(t): TableNotes(nl_name=_clean(nl)) for t, nl in zip(originals, nl_tables, strict=False)}
    col_originals = entry.get("column_names_original") or entry.get("column_names") or []
    col_nl = entry.get("column_names") or col_originals
    for (t_index, original), (_i, nl) in zip(col_originals, col_nl, strict=False):
        if t_index < 0 or t_index >= len(originals):
            continue  # the "*" pseudo-column
        notes[_key(originals[t_index])].columns[_key(original)] = ColumnNotes(nl_name=_clean(nl))
    return notes


def _decode(data: bytes, path: Path) -> str:
    for encoding in _ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DatasetError(f"cannot decode {path}")  # unreachable: latin-1 decodes anything


def notes_from_bird_descriptions(folder: str | Path) -> dict[str, TableNotes]:
    """Column names, descriptions and value descriptions from BIRD ``database_description/*.csv``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"description folder {folder} does not exist")
    notes: dict[str, TableNotes] = {}
    for csv_path in sorted(folder.glob("*.csv")):
        table = notes.setdefault(_key(csv_path.stem), TableNotes())
        reader = csv.DictReader(io.StringIO(_decode(csv_path.read_bytes(), csv_path)))
        for row in reader:
            row = {_key(k or ""): v for k, v in row.items()}
            original = row.get("original_column_name")
            if not original or not original.strip():
                continue
            table.columns[_key(original)] = ColumnNotes(
                nl_name=_clean(row.get("column_name")), description=_clean(row.get("column_description")),
                value_description=_clean(row.get("value_description")))
    return notes


def apply_notes(schema: Schema, notes: dict[str, TableNotes]) -> Schema:
    """A copy of ``schema`` with the notes' names and descriptions filled in where it has none."""
    tables = []
    for table in schema.tables:
        tnotes = notes.get(_key(table.name)) or notes.get(_key(table.qualified_name))
        if tnotes is None:
            tables.append(table)
            continue
        columns = []
        for col in table.columns:
            cnotes = tnotes.columns.get(_key(col.name))
            if cnotes is None:
                columns.append(col)
                continue
            columns.append(replace(col, nl_name=col.nl_name or cnotes.nl_name,
                                   description=col.description or cnotes.description,
                                   value_description=col.value_description or cnotes.value_description))
        tables.append(replace(table, nl_name=table.nl_name or tnotes.nl_name, columns=tuple(columns)))
    return replace(schema, tables=tuple(tables))


def annotator(*, db_id: str | None, tables_json: str | Path | None,
              descriptions_dir: str | Path | None) -> Callable[[Schema], Schema] | None:
    """A function that annotates a schema from the given sources (checked now), or None without any."""
    sources: list[dict[str, TableNotes]] = []
    if descriptions_dir is not None:
        sources.append(notes_from_bird_descriptions(descriptions_dir))
    if tables_json is not None:
        if db_id is None:
            raise DatasetError("a db_id is needed to read names from tables_json")
        sources.append(notes_from_tables_json(tables_json, db_id))
    if not sources:
        return None

    def annotate(schema: Schema) -> Schema:
        for notes in sources:
            schema = apply_notes(schema, notes)
        return schema

    return annotate


def schema_from_tables_json(path: str | Path, db_id: str, *, dialect: str = "sqlite") -> Schema:
    """The schema of ``db_id`` as described by a Spider/BIRD ``tables.json`` (no database needed):
    tables, columns with types and natural-language names, primary and foreign keys. Row counts and
    example values are unknown."""
    from mscsql.types import Column, ForeignKey, Table

    entries = _read_tables_json(str(Path(path).resolve()))
    if db_id not in entries:
        raise DatasetError(f"database {db_id!r} is not described in {path}", hint="check the db_id")
    entry = entries[db_id]
    table_names = entry.get("table_names_original") or []
    nl_tables = entry.get("table_names") or table_names
    columns = entry.get("column_names_original") or []
    nl_columns = entry.get("column_names") or columns
    types = entry.get("column_types") or []
    pk_ids: set[int] = set()
    table_pk: dict[int, list[int]] = {}
    for key in entry.get("primary_keys") or []:
        ids = key if isinstance(key, list) else [key]
        pk_ids.update(ids)
        if ids and 0 <= ids[0] < len(columns):
            table_pk.setdefault(columns[ids[0]][0], []).extend(ids)
    fks: dict[int, list[ForeignKey]] = {}
    for source, target in entry.get("foreign_keys") or []:
        if not (0 <= source < len(columns) and 0 <= target < len(columns)):
            continue
        s_table, s_col = columns[source]
        t_table, t_col = columns[target]
        if s_table < 0 or t_table < 0:
            continue
        fks.setdefault(s_table, []).append(ForeignKey((s_col,), table_names[t_table], (t_col,)))
    tables = []
    for t_index, name in enumerate(table_names):
        cols = tuple(
            Column(name=col, type=str(types[i]).upper() if i < len(types) else "", primary_key=i in pk_ids,
                   nl_name=_clean(nl_columns[i][1]) if i < len(nl_columns) else None)
            for i, (owner, col) in enumerate(columns) if owner == t_index)
        primary_key = tuple(columns[i][1] for i in table_pk.get(t_index, []))
        tables.append(Table(name=name, columns=cols, primary_key=primary_key,
                            foreign_keys=tuple(fks.get(t_index, [])),
                            nl_name=_clean(nl_tables[t_index]) if t_index < len(nl_tables) else None))
    return Schema(dialect=dialect, tables=tuple(tables), db_id=db_id)
