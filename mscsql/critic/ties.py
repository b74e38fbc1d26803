"""Whether a query's one top row is tied. A query that keeps the first row of an ordering (``ORDER BY ... LIMIT
1``: "the airline with the fewest flights") answers a question that may have several right answers when the
next row has the same ordering key: which one the database returns is chance, and which one the question meant
is not known (and when the two rows are the same, the ordering singled nothing out either: rows repeated by a
join). Such an answer is less certain however many samples agree on it: a confidence feature
(:mod:`mscsql.critic.confidence_features`).

:func:`top_tie_probe` rewrites the query to return its first two rows with their ordering keys (the same tables,
filters and grouping; the keys written out where the ordering names a column alias or a position), and
:func:`top_tied` runs that probe read-only, under the guard and a timeout, like any candidate: tied when the second
row has the same ordering keys as the first. Nothing here reads a label.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import sqlglot
from sqlglot import exp

from mscsql.db.guard import sqlglot_dialect
from mscsql.errors import MscSqlError
from mscsql.types import ExecutionItem, TablePolicy

log = logging.getLogger(__name__)

#: the prefix of the ordering keys' column names in a probe
KEY_PREFIX = "mscsql_key_"


def _one_row_limit(select: exp.Select) -> bool:
    limit = select.args.get("limit")
    if limit is None or select.args.get("offset") is not None or limit.args.get("offset") is not None:
        return False
    value = limit.expression
    return isinstance(value, exp.Literal) and value.is_int and int(value.this) == 1


def _keys(select: exp.Select) -> list[exp.Ordered] | None:
    """The ordering with every key written out (a column alias or a position replaced by what it names); None
    when a key is an expression over an alias (it cannot be selected where the alias is not defined)."""
    aliases = {e.alias.lower(): e.this for e in select.expressions if isinstance(e, exp.Alias)}
    keys = []
    for ordered in select.args["order"].expressions:
        key = ordered.this
        if isinstance(key, exp.Column) and not key.table and key.name.lower() in aliases:
            key = aliases[key.name.lower()]  # engines match an alias whatever its case
        elif any(not c.table and c.name.lower() in aliases for c in key.find_all(exp.Column)):
            return None
        elif isinstance(key, exp.Literal) and key.is_int:
            position = int(key.this)
            if not 1 <= position <= len(select.expressions):
                return None
            named = select.expressions[position - 1]
            key = named.this if isinstance(named, exp.Alias) else named
        if key.is_star:
            return None
        keys.append(exp.Ordered(this=key.copy(), desc=ordered.args.get("desc"),
                                nulls_first=ordered.args.get("nulls_first")))
    return keys or None


def top_tie_probe(sql: str, dialect: str) -> tuple[str, int] | None:
    """``(probe, keys)``: the query rewritten to return its first two rows with their ``keys`` ordering keys after
    its own columns; None when it does not keep exactly the first row of an ordering (or cannot be read)."""
    try:
        tree = sqlglot.parse_one(sql, read=sqlglot_dialect(dialect))
    except Exception:  # model output is arbitrary text: a query that cannot be read has no probe
        return None
    if not isinstance(tree, exp.Select) or tree.args.get("order") is None or not _one_row_limit(tree):
        return None
    keys = _keys(tree)
    if keys is None:
        return None
    probe = tree.copy()
    probe.set("expressions", [*probe.expressions,
                              *(k.this.copy().as_(f"{KEY_PREFIX}{i}") for i, k in enumerate(keys))])
    probe.set("order", exp.Order(expressions=keys))
    probe.set("limit", exp.Limit(expression=exp.Literal.number(2)))
    try:
        return probe.sql(dialect=sqlglot_dialect(dialect)), len(keys)
    except Exception:
        return None


def tied_rows(rows: Any, keys: int) -> bool:
    """Whether a probe's first two rows share their last ``keys`` values (the ordering keys)."""
    return len(rows) >= 2 and keys >= 1 and tuple(rows[0])[-keys:] == tuple(rows[1])[-keys:]


def probe_ties(db: Any, statements: Sequence[str], *, timeout_s: float, tables: TablePolicy | None = None,
               workers: int = 1) -> list[float]:
    """For each statement, 1 when its one top row on ``db`` is tied with the next (see the module), else 0 (also
    when it has no probe, or its probe does not run); the probes run together, read-only, under the guard,
    ``timeout_s`` and ``tables``. A probe that raises (a lost connection, say) reads 0: it only tunes a
    confidence."""
    from mscsql.db import execute_many

    out = [0.0] * len(statements)
    jobs = [(i, made) for i, sql in enumerate(statements) if (made := top_tie_probe(sql, db.dialect)) is not None]
    if not jobs:
        return out
    try:
        results = execute_many([ExecutionItem(db, probe, tables=tables) for _i, (probe, _keys) in jobs],
                               workers=workers, timeout_s=timeout_s, max_rows=2)
    except MscSqlError as error:
        log.warning("tie probes did not run: %s", error.message)
        return out
    for (i, (_probe, keys)), result in zip(jobs, results, strict=True):
        if not result.ok:
            log.debug("tie probe did not run (%s): %s", result.status.value, result.error)
        elif tied_rows(result.rows, keys):
            out[i] = 1.0
    return out


def top_tied(db: Any, sql: str, timeout_s: float) -> float:
    """:func:`probe_ties` of one statement."""
    return probe_ties(db, [sql], timeout_s=timeout_s)[0]
