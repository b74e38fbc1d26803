"""Distinct values of a database's text-like columns: what the value index is built from."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from mscsql.db.base import Database
from mscsql.retrieval.text import display_value
from mscsql.types import Column, Table

log = logging.getLogger(__name__)

_TEXT_TYPES = ("char", "text", "clob", "string", "varchar", "enum", "set", "name", "citext", "uuid")


def is_text_like(column: Column, dialect: str) -> bool:
    """Columns whose values a question can quote: character types (and untyped SQLite columns)."""
    declared = (column.type or "").lower()
    if not declared:
        return dialect == "sqlite"
    return any(word in declared for word in _TEXT_TYPES)


@dataclass(frozen=True)
class ColumnValues:
    table: str
    column: str
    #: distinct display values, most frequent first (ties by value), at most the configured cap
    values: tuple[str, ...]


def distinct_values(db: Database, table: Table, column: Column, *, cap: int, max_chars: int) -> ColumnValues:
    """The ``cap`` most frequent distinct non-null values of one column (ties broken by value)."""
    col = db.quote(column.name)
    sql = (f"SELECT {col}, COUNT(*) AS mscsql_n FROM {db.quote_table(table)} WHERE {col} IS NOT NULL "
           f"GROUP BY {col} ORDER BY mscsql_n DESC, {col} LIMIT {cap}")
    result = db.execute(sql, max_rows=cap)
    if not result.ok:
        log.warning("no values indexed for %s.%s: %s", table.qualified_name, column.name, result.error)
        return ColumnValues(table.qualified_name, column.name, ())
    seen: dict[str, None] = {}
    for row in result.rows:
        if row[0] is None or isinstance(row[0], bool):
            continue
        text = display_value(row[0], max_chars)
        if text:
            seen.setdefault(text, None)
    return ColumnValues(table.qualified_name, column.name, tuple(seen))


def iter_column_values(db: Database, *, cap: int, max_chars: int, progress: bool = False) -> Iterator[ColumnValues]:
    """Values of every text-like column of every table and view, in schema order."""
    schema = db.schema()
    columns = [(t, c) for t in schema.tables for c in t.columns if is_text_like(c, schema.dialect)]
    for table, column in tqdm(columns, desc="reading values", unit="col", disable=not progress or len(columns) < 2):
        yield distinct_values(db, table, column, cap=cap, max_chars=max_chars)


def file_fingerprint(path: Path) -> str:
    """A hash of a SQLite file's bytes (and of its WAL file, when one exists)."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (path, path.with_name(path.name + "-wal")):
        if part.is_file():
            with part.open("rb") as handle:
                for block in iter(lambda h=handle: h.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def values_fingerprint(columns: list[ColumnValues]) -> str:
    """A hash of the extracted values: the content fingerprint of a server database's index."""
    digest = hashlib.blake2b(digest_size=16)
    for cv in columns:
        digest.update(f"\x00{cv.table}\x00{cv.column}\x00{len(cv.values)}".encode())
        for value in cv.values:
            digest.update(value.encode("utf-8", "surrogatepass"))
            digest.update(b"\x01")
    return digest.hexdigest()
