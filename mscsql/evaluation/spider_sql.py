"""The Spider evaluator's reading of SQL (``process_sql.py`` of the official tools), quirks included, for the
``exact-match`` scorer: the same tokens, the same parse tree, and the same failures.

Its reading, which exact-set-match depends on:

- single quotes become double quotes, and each quoted span becomes one value token (an odd number of quotes is
  a failure); the rest goes through nltk's Treebank word tokenizer and is lower-cased; ``!``, ``>``, ``<``
  before ``=`` merge into one operator (so ``a>=1`` written without spaces is not read as ``>=``);
- ``AS`` makes an alias of the next token for the previous one, for columns too, and an alias with a table's
  name is a failure;
- a column is ``alias.column`` or the first table of the FROM clause that has it; ``*`` is every column;
- a value is a subquery, a quoted string, a number (anything Python's ``float`` reads) or else a column unit;
- a LIMIT's count is always read as 1; only one set operation is read at each level; text after the query's
  end is ignored.

The tree is what the official tools build (dicts, lists and tuples of the same shape), so that comparing two
trees behaves exactly as there.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CLAUSE_KEYWORDS = ("select", "from", "where", "group", "order", "limit", "intersect", "union", "except")
JOIN_KEYWORDS = ("join", "on", "as")
WHERE_OPS = ("not", "between", "=", ">", "<", ">=", "<=", "!=", "in", "like", "is", "exists")
UNIT_OPS = ("none", "-", "+", "*", "/")
AGG_OPS = ("none", "max", "min", "count", "sum", "avg")
COND_OPS = ("and", "or")
SQL_OPS = ("intersect", "union", "except")
ORDER_OPS = ("desc", "asc")


class Unreadable(Exception):
    """The official reading fails here (where it would raise)."""


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise Unreadable(what)


class SpiderSchema:
    """Table name -> lower-case column names, and the ids the official tools give them."""

    def __init__(self, tables: dict[str, list[str]]) -> None:
        self.tables = tables
        self.ids = {"*": "__all__"}
        for table, columns in tables.items():
            for column in columns:
                self.ids[f"{table.lower()}.{column.lower()}"] = f"__{table.lower()}.{column.lower()}__"
        for table in tables:
            self.ids[table.lower()] = f"__{table.lower()}__"


@lru_cache(maxsize=256)
def schema_of(database: str) -> SpiderSchema:
    """The schema as the official tools read it from the SQLite file: every table of ``sqlite_master`` (its own
    bookkeeping tables included), names lower-cased."""
    conn = sqlite3.connect(f"file:{Path(database).resolve()}?mode=ro", uri=True)
    try:
        names = [str(n).lower() for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return SpiderSchema({n: [str(row[1]).lower() for row in conn.execute(f"PRAGMA table_info({n})")]
                             for n in names})
    finally:
        conn.close()


# nltk's package import pulls in scipy, scikit-learn and numpy when they are installed (about a second), for
# features the tokenizer never uses; nltk treats each as optional, so they are hidden while it loads.
_NLTK_OPTIONAL = ("numpy", "scipy", "sklearn")
#: the tokenizer's own modules, loaded without the packages' __init__ files (nltk's package import takes about
#: 0.15 s even with the optional libraries hidden, a quarter of scoring one file)
_NLTK_PACKAGES = ("nltk", "nltk.tokenize")
_LOADING = threading.Lock()


@lru_cache(maxsize=1)
def word_tokenizer() -> Any:
    """nltk's Treebank word tokenizer (``NLTKWordTokenizer``), the one the official evaluator reads SQL with."""
    if "nltk" not in sys.modules:
        try:
            with _LOADING:  # one thread at a time puts nltk's stand-in packages in sys.modules
                return _load_tokenizer_alone()()
        except Exception as error:  # a layout this loader does not know: nltk's own import below
            log.debug("loading nltk's tokenizer alone failed (%s); importing nltk", error)
    hidden = [name for name in _NLTK_OPTIONAL if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # an import of it now fails as if absent
    try:
        from nltk.tokenize import NLTKWordTokenizer
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return NLTKWordTokenizer()


def _load_tokenizer_alone() -> Any:
    """``NLTKWordTokenizer`` from nltk's files, its packages standing in as empty namespaces while its modules
    load; every nltk module is then taken out of ``sys.modules`` again, so a later ``import nltk`` (a user's, in
    the same process) loads the whole package as usual. The class keeps its modules alive through its globals."""
    import importlib
    import importlib.util
    import types

    spec = importlib.util.find_spec("nltk")  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("nltk is not installed")
    root = Path(next(iter(spec.submodule_search_locations)))
    for name in _NLTK_PACKAGES:
        package = types.ModuleType(name)
        package.__path__ = [str(root.joinpath(*name.split(".")[1:]))]
        sys.modules[name] = package
    try:
        return importlib.import_module("nltk.tokenize.destructive").NLTKWordTokenizer
    finally:
        for name in [n for n in sys.modules if n == "nltk" or n.startswith("nltk.")]:
            del sys.modules[name]


def tokenize(sql: str) -> list[str]:
    """The official tokens of ``sql``."""
    text = str(sql).replace("'", '"')
    quotes = [i for i, char in enumerate(text) if char == '"']
    _require(len(quotes) % 2 == 0, "an odd number of quotes")
    values = {}
    for end in range(len(quotes) - 1, -1, -2):  # from the last pair back, so earlier positions stay valid
        first, last = quotes[end - 1], quotes[end]
        key = f"__val_{first}_{last}__"
        values[key] = text[first:last + 1]
        text = text[:first] + key + text[last + 1:]
    tokens = [values.get(word.lower(), word.lower()) for word in word_tokenizer().tokenize(text)]
    for position in reversed([i for i, tok in enumerate(tokens) if tok == "="]):
        before = tokens[position - 1]  # at position 0 this is the last token, as there
        if before in ("!", ">", "<"):
            tokens = [*tokens[:position - 1], before + "=", *tokens[position + 1:]]
    return tokens


def _aliases(schema: SpiderSchema, tokens: list[str]) -> dict[str, str]:
    found = {}
    for i, tok in enumerate(tokens):
        if tok == "as":
            found[tokens[i + 1]] = tokens[i - 1]
    for table in schema.tables:
        _require(table not in found, f"the alias {table} is a table's name")
        found[table] = table
    return found


class _Reader:
    def __init__(self, tokens: list[str], schema: SpiderSchema) -> None:
        self.toks, self.schema = tokens, schema
        self.aliases = _aliases(schema, tokens)

    def column(self, toks: list[str], i: int, defaults: list[str] | None) -> tuple[int, str]:
        tok = toks[i]
        if tok == "*":
            return i + 1, self.schema.ids[tok]
        if "." in tok:
            alias, name = tok.split(".")
            return i + 1, self.schema.ids[self.aliases[alias] + "." + name]
        _require(bool(defaults), "a column without tables")
        for alias in defaults or []:
            table = self.aliases[alias]
            if tok in self.schema.tables[table]:
                return i + 1, self.schema.ids[table + "." + tok]
        raise Unreadable(f"unknown column {tok}")

    def column_unit(self, toks: list[str], i: int, defaults: list[str] | None) -> tuple[int, tuple[Any, ...]]:
        size, block, distinct = len(toks), False, False
        if toks[i] == "(":
            block, i = True, i + 1
        if toks[i] in AGG_OPS:
            agg = AGG_OPS.index(toks[i])
            i += 1
            _require(i < size and toks[i] == "(", "an aggregate without (")
            i += 1
            if toks[i] == "distinct":
                i, distinct = i + 1, True
            i, column = self.column(toks, i, defaults)
            _require(i < size and toks[i] == ")", "an aggregate without )")
            return i + 1, (agg, column, distinct)
        if toks[i] == "distinct":
            i, distinct = i + 1, True
        i, column = self.column(toks, i, defaults)
        if block:
            _require(toks[i] == ")", "a column without )")
            i += 1
        return i, (AGG_OPS.index("none"), column, distinct)

    def value_unit(self, i: int, defaults: list[str] | None) -> tuple[int, tuple[Any, ...]]:
        toks, block = self.toks, False
        if toks[i] == "(":
            block, i = True, i + 1
        op, second = UNIT_OPS.index("none"), None
        i, first = self.column_unit(toks, i, defaults)
        if i < len(toks) and toks[i] in UNIT_OPS:
            op = UNIT_OPS.index(toks[i])
            i, second = self.column_unit(toks, i + 1, defaults)
        if block:
            _require(toks[i] == ")", "a value unit without )")
            i += 1
        return i, (op, first, second)

    def table_unit(self, i: int) -> tuple[int, str, str]:
        key = self.aliases[self.toks[i]]
        i += 3 if i + 1 < len(self.toks) and self.toks[i + 1] == "as" else 1
        return i, self.schema.ids[key], key

    def value(self, i: int, defaults: list[str] | None) -> tuple[int, Any]:
        toks, start, block = self.toks, i, False
        if toks[i] == "(":
            block, i = True, i + 1
        if toks[i] == "select":
            i, found = self.query(i)
        elif '"' in toks[i]:
            found, i = toks[i], i + 1
        else:
            try:
                found, i = float(toks[i]), i + 1
            except ValueError:
                end = i
                while end < len(toks) and toks[end] not in (",", ")", "and") and toks[end] not in CLAUSE_KEYWORDS \
                        and toks[end] not in JOIN_KEYWORDS:
                    end += 1
                _i, found = self.column_unit(toks[start:end], 0, defaults)  # from the block's "(", as there
                i = end
        if block:
            _require(toks[i] == ")", "a value without )")
            i += 1
        return i, found

    def condition(self, i: int, defaults: list[str] | None) -> tuple[int, list[Any]]:
        toks, conds = self.toks, []
        while i < len(toks):
            i, unit = self.value_unit(i, defaults)
            negated = False
            if toks[i] == "not":
                negated, i = True, i + 1
            _require(i < len(toks) and toks[i] in WHERE_OPS, "a condition without an operator")
            op = WHERE_OPS.index(toks[i])
            i += 1
            second = None
            i, first = self.value(i, defaults)
            if op == WHERE_OPS.index("between"):
                _require(toks[i] == "and", "BETWEEN without AND")
                i, second = self.value(i + 1, defaults)
            conds.append((negated, op, unit, first, second))
            if i < len(toks) and (toks[i] in CLAUSE_KEYWORDS or toks[i] in (")", ";") or toks[i] in JOIN_KEYWORDS):
                break
            if i < len(toks) and toks[i] in COND_OPS:
                conds.append(toks[i])
                i += 1
        return i, conds

    def select(self, i: int, defaults: list[str]) -> tuple[int, tuple[bool, list[Any]]]:
        toks = self.toks
        _require(toks[i] == "select", "no SELECT")
        i += 1
        distinct = i < len(toks) and toks[i] == "distinct"
        i += int(distinct)
        units = []
        while i < len(toks) and toks[i] not in CLAUSE_KEYWORDS:
            agg = AGG_OPS.index("none")
            if toks[i] in AGG_OPS:
                agg, i = AGG_OPS.index(toks[i]), i + 1
            i, unit = self.value_unit(i, defaults)
            units.append((agg, unit))
            if i < len(toks) and toks[i] == ",":
                i += 1
        return i, (distinct, units)

    def from_clause(self, start: int) -> tuple[int, list[Any], list[Any], list[str]]:
        toks = self.toks
        _require("from" in toks[start:], "no FROM")
        i = toks.index("from", start) + 1
        defaults: list[str] = []
        units: list[Any] = []
        conds: list[Any] = []
        while i < len(toks):
            block = toks[i] == "("
            i += int(block)
            if toks[i] == "select":
                i, sub = self.query(i)
                units.append(("sql", sub))
            else:
                if i < len(toks) and toks[i] == "join":
                    i += 1
                i, unit, name = self.table_unit(i)
                units.append(("table_unit", unit))
                defaults.append(name)
            if i < len(toks) and toks[i] == "on":
                i, found = self.condition(i + 1, defaults)
                if conds:
                    conds.append("and")
                conds.extend(found)
            if block:
                _require(toks[i] == ")", "a FROM block without )")
                i += 1
            if i < len(toks) and (toks[i] in CLAUSE_KEYWORDS or toks[i] in (")", ";")):
                break
        return i, units, conds, defaults

    def clause_condition(self, i: int, keyword: str, defaults: list[str]) -> tuple[int, list[Any]]:
        if i >= len(self.toks) or self.toks[i] != keyword:
            return i, []
        return self.condition(i + 1, defaults)

    def group_by(self, i: int, defaults: list[str]) -> tuple[int, list[Any]]:
        toks, units = self.toks, []
        if i >= len(toks) or toks[i] != "group":
            return i, units
        _require(toks[i + 1] == "by", "GROUP without BY")
        i += 2
        while i < len(toks) and not (toks[i] in CLAUSE_KEYWORDS or toks[i] in (")", ";")):
            i, unit = self.column_unit(toks, i, defaults)
            units.append(unit)
            if i < len(toks) and toks[i] == ",":
                i += 1
            else:
                break
        return i, units

    def order_by(self, i: int, defaults: list[str]) -> tuple[int, Any]:
        toks, units, direction = self.toks, [], "asc"
        if i >= len(toks) or toks[i] != "order":
            return i, units
        _require(toks[i + 1] == "by", "ORDER without BY")
        i += 2
        while i < len(toks) and not (toks[i] in CLAUSE_KEYWORDS or toks[i] in (")", ";")):
            i, unit = self.value_unit(i, defaults)
            units.append(unit)
            if i < len(toks) and toks[i] in ORDER_OPS:
                direction, i = toks[i], i + 1
            if i < len(toks) and toks[i] == ",":
                i += 1
            else:
                break
        return i, (direction, units)

    def query(self, start: int) -> tuple[int, dict[str, Any]]:
        toks, i = self.toks, start
        block = toks[i] == "("
        i += int(block)
        end, units, conds, defaults = self.from_clause(start)
        sql: dict[str, Any] = {"from": {"table_units": units, "conds": conds}}
        _i, sql["select"] = self.select(i, defaults)
        i, sql["where"] = self.clause_condition(end, "where", defaults)
        i, sql["groupBy"] = self.group_by(i, defaults)
        i, sql["having"] = self.clause_condition(i, "having", defaults)
        i, sql["orderBy"] = self.order_by(i, defaults)
        sql["limit"] = None
        if i < len(toks) and toks[i] == "limit":  # the count is always read as 1 (but must be there)
            _count = toks[i + 1]
            i, sql["limit"] = i + 2, 1
        while i < len(toks) and toks[i] == ";":
            i += 1
        if block:
            _require(toks[i] == ")", "a query block without )")
            i += 1
        while i < len(toks) and toks[i] == ";":
            i += 1
        for op in SQL_OPS:
            sql[op] = None
        if i < len(toks) and toks[i] in SQL_OPS:
            op = toks[i]
            i, sql[op] = self.query(i + 1)
        return i, sql


def parse(sql: str, schema: SpiderSchema) -> dict[str, Any]:
    """The official parse tree of ``sql``; :class:`Unreadable` (or the lookup error the official reading would
    raise) when it cannot be read."""
    reader = _Reader(tokenize(sql), schema)
    return reader.query(0)[1]


def empty_tree() -> dict[str, Any]:
    """What an unreadable prediction is scored as."""
    return {"except": None, "from": {"conds": [], "table_units": []}, "groupBy": [], "having": [], "intersect": None,
            "limit": None, "orderBy": [], "select": [False, []], "union": None, "where": []}
