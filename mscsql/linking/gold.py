"""The tables, columns and string literals a (gold) query uses, qualified against a schema with sqlglot.

This is what recall is measured against: a linker is right for a question when it kept every table and
column the gold query touches.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope

from mscsql.db.guard import sqlglot_dialect
from mscsql.linking.graph import table_lookup
from mscsql.types import Schema

log = logging.getLogger(__name__)

_COMPARISONS = (exp.EQ, exp.NEQ, exp.Like, exp.ILike, exp.In, exp.GT, exp.GTE, exp.LT, exp.LTE)


@dataclass(frozen=True)
class GoldLiteral:
    table: str
    column: str
    text: str
    #: the literal was a LIKE pattern (its wildcards are stripped from ``text``)
    pattern: bool = False


@dataclass(frozen=True)
class GoldElements:
    tables: frozenset[str]  # lower-case qualified table names
    columns: frozenset[tuple[str, str]]  # (table, column), lower-case
    literals: tuple[GoldLiteral, ...] = ()
    #: False when the query could not be qualified (columns may then be incomplete)
    qualified: bool = True


def _mapping(schema: Schema) -> dict[str, dict[str, str]]:
    return {t.name: {c.name: "TEXT" for c in t.columns} for t in schema.tables if not t.schema}


def _reference(table: exp.Table) -> str:
    return f"{table.db}.{table.name}".lower() if table.db else table.name.lower()


def gold_elements(sql: str, schema: Schema, dialect: str = "sqlite") -> GoldElements:
    """Tables, columns and compared string literals of ``sql`` (``schema`` resolves unqualified names)."""
    lookup = table_lookup(schema)
    columns_of = {t.qualified_name.lower(): {c.name.lower() for c in t.columns} for t in schema.tables}
    try:
        tree = sqlglot.parse_one(sql, read=sqlglot_dialect(dialect))
    except SqlglotError as err:
        log.debug("gold query does not parse: %s", err)
        return GoldElements(frozenset(), frozenset(), qualified=False)
    tables = frozenset(lookup[_reference(t)] for t in tree.find_all(exp.Table) if _reference(t) in lookup)
    qualified_ok = True
    try:
        tree = qualify(tree, schema=_mapping(schema), dialect=sqlglot_dialect(dialect),
                       validate_qualify_columns=False, quote_identifiers=False, identify=False,
                       expand_stars=False)
    except (SqlglotError, KeyError, ValueError) as err:
        log.debug("gold query cannot be qualified: %s", err)
        qualified_ok = False
    columns: set[tuple[str, str]] = set()
    literals: list[GoldLiteral] = []
    owner_of: dict[int, tuple[str, str]] = {}
    try:
        scopes = list(traverse_scope(tree))
    except (SqlglotError, KeyError, ValueError):
        scopes = []
        qualified_ok = False
    for scope in scopes:
        for column in scope.columns:
            source = scope.sources.get(column.table)
            table_name = None
            if isinstance(source, exp.Table):
                table_name = lookup.get(_reference(source))
            elif not column.table:
                # unqualified: the one gold table that has such a column
                owners = [t for t in tables if column.name.lower() in columns_of.get(t, ())]
                table_name = owners[0] if len(owners) == 1 else None
            if table_name and column.name.lower() in columns_of.get(table_name, ()):
                columns.add((table_name, column.name.lower()))
                owner_of[id(column)] = (table_name, column.name.lower())
    for node in tree.find_all(*_COMPARISONS):
        operands = [node.this, *(node.expressions if isinstance(node, exp.In) else [node.expression])]
        owners = [owner_of[id(o)] for o in operands if isinstance(o, exp.Column) and id(o) in owner_of]
        if len(owners) != 1:
            continue
        table_name, column_name = owners[0]
        is_pattern = isinstance(node, (exp.Like, exp.ILike))
        for operand in operands:
            text = _string_value(operand, owner_of)
            if text is None:
                continue
            text = text.strip("%") if is_pattern else text
            if text:
                literals.append(GoldLiteral(table_name, column_name, text, is_pattern))
    return GoldElements(tables, frozenset(columns), tuple(literals), qualified_ok)


def _string_value(node: exp.Expression | None, resolved: dict[int, tuple[str, str]]) -> str | None:
    """The text of a string literal; SQLite also reads a double-quoted name that is no column as a string."""
    if isinstance(node, exp.Literal) and node.is_string:
        return node.this
    if isinstance(node, exp.Column) and id(node) not in resolved and not node.table:
        identifier = node.this
        if isinstance(identifier, exp.Identifier) and identifier.quoted:
            return identifier.this
    return None
