"""The schema-linker protocol and the helpers every linker shares."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from mscsql.linking.graph import table_lookup
from mscsql.types import LinkedSchema, Question, Schema, Table, ValueMatch


@dataclass(frozen=True)
class LinkRequest:
    """One question to link: its database's full schema and the values retrieved for it."""

    question: Question
    schema: Schema
    values: tuple[ValueMatch, ...] = ()


@runtime_checkable
class SchemaLinker(Protocol):
    """Chooses, for each request of a batch, the tables and columns the query is likely to need."""

    name: str

    def link(self, requests: Sequence[LinkRequest]) -> list[LinkedSchema]: ...


def reduce_schema(schema: Schema, keep: Mapping[str, Iterable[str] | None]) -> Schema:
    """The part of ``schema`` named by ``keep``: table name → column names (``None`` keeps every column).

    Tables stay in database order, columns in table order; foreign keys survive only where their columns
    and the referenced table and columns are all kept.
    """
    wanted_tables = {name.lower(): cols for name, cols in keep.items()}
    kept: list[Table] = []
    for table in schema.tables:
        key = table.qualified_name.lower()
        if key not in wanted_tables:
            continue
        cols = wanted_tables[key]
        if cols is None:
            kept.append(table)
            continue
        wanted_cols = {c.lower() for c in cols}
        columns = tuple(c for c in table.columns if c.name.lower() in wanted_cols)
        kept.append(replace(table, columns=columns))
    lookup = table_lookup(schema)
    kept_columns = {(t.qualified_name.lower(), c.name.lower()) for t in kept for c in t.columns}
    final: list[Table] = []
    for table in kept:
        names = {c.name.lower() for c in table.columns}
        fks = tuple(fk for fk in table.foreign_keys
                    if all(c.lower() in names for c in fk.columns)
                    and all((lookup.get(fk.ref_table.lower(), ""), rc.lower()) in kept_columns
                            for rc in fk.ref_columns))
        pk = tuple(c for c in table.primary_key if c.lower() in names)
        final.append(replace(table, foreign_keys=fks, primary_key=pk))
    return replace(schema, tables=tuple(final))


def linked(schema: Schema, keep: Mapping[str, Iterable[str] | None], *, linker: str,
           values: Sequence[ValueMatch] = (), scores: Mapping[str, float] | None = None,
           trace: Sequence[str] = ()) -> LinkedSchema:
    """A :class:`LinkedSchema` keeping ``keep`` of ``schema``; values of dropped columns are dropped too."""
    reduced = reduce_schema(schema, keep)
    kept = {(t.qualified_name.lower(), c.name.lower()) for t in reduced.tables for c in t.columns}
    kept_values = tuple(v for v in values if (v.table.lower(), v.column.lower()) in kept)
    return LinkedSchema(schema=reduced, full_schema=schema, linker=linker, values=kept_values,
                        scores=dict(scores or {}), trace=tuple(trace))


def with_tables(link: LinkedSchema, names: Iterable[str], reason: str) -> LinkedSchema:
    """``link`` with the tables ``names`` (of its full schema) kept whole besides what it kept; ``reason`` goes
    into its trace. Names the full schema does not have are passed over."""
    lookup = table_lookup(link.full_schema)
    present = {t.qualified_name.lower() for t in link.schema.tables}
    added = [lookup[n.lower()] for n in names if n.lower() in lookup and lookup[n.lower()].lower() not in present]
    if not added:
        return link
    keep: dict[str, Iterable[str] | None] = {t.qualified_name: [c.name for c in t.columns] for t in link.schema.tables}
    keep.update({name: None for name in added})
    return linked(link.full_schema, keep, linker=link.linker, values=link.values, scores=link.scores,
                  trace=(*link.trace, f"{reason}: kept {', '.join(added)}"))


class KeepAllLinker:
    """Keeps the whole schema (the baseline, and the right choice for small databases)."""

    name = "keep-all"

    def link(self, requests: Sequence[LinkRequest]) -> list[LinkedSchema]:
        return [linked(r.schema, {t.qualified_name: None for t in r.schema.tables}, linker=self.name,
                       values=r.values) for r in requests]
