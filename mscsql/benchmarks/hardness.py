"""Spider hardness (easy / medium / hard / extra) from the gold SQL, by the official evaluator's rules.

The official tool parses the gold query into its own structure and counts three things for the *first*
SELECT of the query (a set operation's right-hand queries are not looked into, and ORDER BY / LIMIT after
a set operation belong to its last query):

- component 1: one each for WHERE, GROUP BY, ORDER BY and LIMIT, one per table joined beyond the first,
  one per OR and one per LIKE among the conditions of ON, WHERE and HAVING;
- component 2: one per subquery used as a value in those conditions, plus one for a set operation;
- others: one if more than one "aggregate" is counted, one for more than one selected column, one for
  more than one WHERE condition, one for more than one GROUP BY column. The official count of aggregates
  has two quirks kept here: in WHERE it counts the conditions negated with NOT (``NOT IN``, ``NOT LIKE``,
  ``NOT BETWEEN``; not ``IS NOT``), and in HAVING it counts those plus every AND / OR connective, because
  it tests the first field of each element of the condition list.

The official parser also swallows conditions: when a condition's value is not a literal or a subquery
(``T2.Mar < T2.Jul``), it skips every token up to the next AND, comma, parenthesis or clause keyword,
so conditions joined to it by OR vanish from all counts. That is reproduced too.

Then: easy if c1 <= 1, others == 0 and c2 == 0; medium if (others <= 2, c1 <= 1, c2 == 0) or (c1 <= 2,
others < 2, c2 == 0); hard if (others > 2, c1 <= 2, c2 == 0) or (2 < c1 <= 3, others <= 2, c2 == 0) or
(c1 <= 1, others == 0, c2 <= 1); extra otherwise.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp

from mscsql.errors import DatasetError

HARDNESS_LEVELS = ("easy", "medium", "hard", "extra")
#: bump when the rules change: levels cached by an older version are not read
HARDNESS_VERSION = 1

log = logging.getLogger(__name__)
_AGGREGATES = (exp.Count, exp.Max, exp.Min, exp.Sum, exp.Avg)
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div)
_QUERY = (exp.Select, exp.SetOperation, exp.Subquery)


@dataclass(frozen=True)
class HardnessCounts:
    component1: int
    component2: int
    others: int

    @property
    def level(self) -> str:
        c1, c2, others = self.component1, self.component2, self.others
        if c1 <= 1 and others == 0 and c2 == 0:
            return "easy"
        if (others <= 2 and c1 <= 1 and c2 == 0) or (c1 <= 2 and others < 2 and c2 == 0):
            return "medium"
        if ((others > 2 and c1 <= 2 and c2 == 0) or (2 < c1 <= 3 and others <= 2 and c2 == 0)
                or (c1 <= 1 and others == 0 and c2 <= 1)):
            return "hard"
        return "extra"


def _maximal_queries(node: exp.Expression) -> int:
    """How many nested queries sit directly inside ``node`` (not counting queries inside those)."""
    count = 0
    stack = list(node.iter_expressions())
    while stack:
        current = stack.pop()
        if isinstance(current, _QUERY):
            count += 1
        else:
            stack.extend(current.iter_expressions())
    return count


def _first_select(tree: exp.Expression) -> tuple[exp.Select, bool]:
    node, set_operation = tree, False
    while isinstance(node, (exp.SetOperation, exp.Subquery)):
        set_operation = set_operation or isinstance(node, exp.SetOperation)
        node = node.this
    if not isinstance(node, exp.Select):
        raise DatasetError(f"cannot compute Spider hardness: not a SELECT query: {tree.sql()[:80]}")
    return node, set_operation


def _leftmost(node: exp.Expression) -> exp.Expression:
    while isinstance(node, _ARITHMETIC):
        node = node.this
    return node


def _is_aggregate(node: exp.Expression | None) -> bool:
    return isinstance(node, _AGGREGATES)


def _flatten(condition: exp.Expression | None) -> tuple[list[exp.Expression], list[str]]:
    """Conditions and the AND / OR between them, in textual order (the official parser's flat list)."""
    atoms: list[exp.Expression] = []
    connectors: list[str] = []

    def visit(node: exp.Expression) -> None:
        if isinstance(node, exp.Connector):
            visit(node.this)
            connectors.append("or" if isinstance(node, exp.Or) else "and")
            visit(node.expression)
        else:
            atoms.append(node)

    if condition is not None:
        visit(condition)
    return atoms, connectors


def _is_value(node: exp.Expression | None) -> bool:
    """A literal (the official tokenizer also takes any double-quoted token for a string) or a subquery."""
    while isinstance(node, exp.Neg):
        node = node.this
    if isinstance(node, (exp.Literal, exp.Subquery, exp.Select, exp.SetOperation, exp.Tuple)):
        return True
    if isinstance(node, exp.Column) and not node.table and isinstance(node.this, exp.Identifier):
        return bool(node.this.quoted)
    return False


def _swallows_what_follows(atom: exp.Expression) -> bool:
    node = atom.this if isinstance(atom, exp.Not) else atom
    if isinstance(node, exp.Between):
        return not _is_value(node.args.get("high"))
    if isinstance(node, exp.In):
        return node.args.get("query") is None and not node.expressions
    if isinstance(node, (exp.Binary, exp.Is)):
        return not _is_value(node.expression)
    return False


def _conditions(condition: exp.Expression | None) -> tuple[list[exp.Expression], list[str]]:
    """The conditions the official parser keeps, and the connectives between them."""
    atoms, connectors = _flatten(condition)
    kept: list[exp.Expression] = []
    kept_connectors: list[str] = []
    i = 0
    while i < len(atoms):
        kept.append(atoms[i])
        j = i + 1
        if _swallows_what_follows(atoms[i]):
            while j < len(atoms) and connectors[j - 1] == "or":
                j += 1
        if j < len(atoms):
            kept_connectors.append(connectors[j - 1])
        i = j
    return kept, kept_connectors


def _is_negated(atom: exp.Expression) -> bool:
    return isinstance(atom, exp.Not) and isinstance(atom.this, (exp.In, exp.Like, exp.Between))


def hardness_counts(sql: str, dialect: str = "sqlite") -> HardnessCounts:
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except sqlglot.errors.SqlglotError as err:
        raise DatasetError(f"cannot compute Spider hardness: the gold SQL does not parse: {err}") from None
    select, set_operation = _first_select(tree)
    joins = select.args.get("joins") or []
    where = select.args.get("where")
    having = select.args.get("having")
    group = select.args.get("group")
    order = select.args.get("order")
    where_atoms, where_connectors = _conditions(where.this if where else None)
    having_atoms, having_connectors = _conditions(having.this if having else None)
    on_parts = [_conditions(j.args.get("on")) for j in joins]
    all_atoms = where_atoms + having_atoms + [a for atoms, _c in on_parts for a in atoms]
    all_connectors = where_connectors + having_connectors + [c for _a, conns in on_parts for c in conns]

    c1 = sum(1 for clause in (where, group, order, select.args.get("limit")) if clause is not None)
    c1 += len(joins)
    c1 += all_connectors.count("or")
    c1 += sum(1 for a in all_atoms if isinstance(a.this if isinstance(a, exp.Not) else a, exp.Like))

    c2 = (1 if set_operation else 0) + sum(_maximal_queries(a) for a in all_atoms)

    aggregates = sum(1 for e in select.expressions if _is_aggregate(_leftmost(e.unalias())))
    aggregates += sum(1 for a in where_atoms if _is_negated(a))
    group_items = list(group.expressions) if group else []
    aggregates += sum(1 for g in group_items if _is_aggregate(g))
    for ordered in (order.expressions if order else []):
        term = ordered.this
        if isinstance(term, _ARITHMETIC):
            aggregates += _is_aggregate(term.this) + _is_aggregate(term.expression)
        else:
            aggregates += _is_aggregate(term)
    aggregates += sum(1 for a in having_atoms if _is_negated(a)) + len(having_connectors)
    others = int(aggregates > 1) + int(len(select.expressions) > 1)
    others += int(len(where_atoms) > 1) + int(len(group_items) > 1)
    return HardnessCounts(component1=c1, component2=c2, others=others)


def spider_hardness(sql: str) -> str:
    """easy / medium / hard / extra for a Spider gold query."""
    return hardness_counts(sql).level


def spider_hardness_levels(sqls: Sequence[str], cache_dir: Path | None = None, *, keep: bool = True) -> list[str]:
    """:func:`spider_hardness` of every query, kept in ``cache_dir`` (default: mscsql's cache folder) under a digest
    of the queries and the rules' version, so a benchmark is parsed once, not at every load (``keep=False``:
    neither read nor written)."""
    from mscsql.defaults import default_cache_dir
    from mscsql.fileio import write_json_atomic

    if not keep:
        return [spider_hardness(sql) for sql in sqls]

    key = [HARDNESS_VERSION, sqlglot.__version__, list(sqls)]  # the parser's version too: it reads the queries
    digest = hashlib.sha256(json.dumps(key).encode("utf-8")).hexdigest()[:32]
    path = (cache_dir or default_cache_dir()) / "hardness" / f"{digest}.json"
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(cached, list) and len(cached) == len(sqls) and all(c in HARDNESS_LEVELS for c in cached):
            return cached
    except (OSError, ValueError):
        pass
    levels = [spider_hardness(sql) for sql in sqls]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, levels)
    except OSError as err:  # a read-only cache folder: the levels are still right, only not kept
        log.debug("hardness levels not cached in %s: %s", path, err)
    return levels
