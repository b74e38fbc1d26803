"""Layer 1 of the read-only guarantee: a sqlglot allowlist applied before any SQL reaches an engine.

A statement passes only if it is exactly one query whose root is a SELECT, a set operation
(UNION / INTERSECT / EXCEPT), a parenthesised query or a VALUES list, and nothing anywhere in its tree
writes, locks, exports, loads, or calls a function with side effects. Whatever sqlglot cannot parse is
refused too. The guard is deliberately conservative: the engines' own read-only modes (layer 2) and
real cancellation (layer 3) stand behind it, so a refusal here never needs to be second-guessed.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from functools import lru_cache

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from mscsql.db.functions import function_allowed, has_allowlist
from mscsql.db.quoting import ambiguous_quoting
from mscsql.db.tokens import parser, tokenize
from mscsql.errors import UnsafeSQLError
from mscsql.types import TablePolicy

#: Node types whose presence anywhere in the tree means the statement is not a plain read.
_FORBIDDEN_NODES: dict[type[exp.Expression], str] = {
    exp.Insert: "INSERT",
    exp.Update: "UPDATE",
    exp.Delete: "DELETE",
    exp.Merge: "MERGE",
    exp.Create: "CREATE",
    exp.Drop: "DROP",
    exp.Alter: "ALTER",
    exp.TruncateTable: "TRUNCATE",
    exp.Into: "SELECT ... INTO",
    exp.Lock: "a locking clause (FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE)",
    exp.Command: "a statement sqlglot only knows as a raw command",
    exp.Pragma: "PRAGMA",
    exp.Attach: "ATTACH",
    exp.Detach: "DETACH",
    exp.Copy: "COPY",
    exp.Set: "SET",
    exp.Transaction: "a transaction statement",
    exp.Commit: "COMMIT",
    exp.Rollback: "ROLLBACK",
    exp.Grant: "GRANT",
    exp.Use: "USE",
    exp.PropertyEQ: "assigning a variable (:=)",
}
# Some node types exist only in some sqlglot versions; add them when present.
for _name, _label in (("Revoke", "REVOKE"), ("LoadData", "LOAD DATA"), ("Analyze", "ANALYZE"),
                      ("Cache", "CACHE"), ("Uncache", "UNCACHE"), ("Refresh", "REFRESH"),
                      ("Comment", "COMMENT ON"), ("Install", "INSTALL")):
    if hasattr(exp, _name):
        _FORBIDDEN_NODES[getattr(exp, _name)] = _label

#: Parsed "statements" that hold nothing but a semicolon and its comments.
_EMPTY_STATEMENTS: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name) for name in ("Semicolon",) if hasattr(exp, name))

#: Root node types a read-only statement may have.
_ALLOWED_ROOTS: tuple[type[exp.Expression], ...] = (exp.Select, exp.SetOperation, exp.Subquery, exp.Values)

# MySQL executes the text inside /*! ... */ and /*M! ... */ comments, and /*+ ... */ optimizer hints can
# change session variables; sqlglot sees them as comments, so they are refused outright. MySQL also starts
# a "--" comment only when an ASCII space or control character follows, while sqlglot accepts any Unicode
# space there: "--" followed by a non-ASCII character would hide code from the guard that MySQL runs.
MYSQL_HIDDEN_CODE = re.compile(r"/\*\s*(?:M?!|\+)|--[^\x00-\x7f]")

#: the refusal reason for text without any statement (blank, or only comments and semicolons)
NO_STATEMENT = "the text contains no SQL statement"


class _QuietWhileGuarding(logging.Filter):
    """Drops sqlglot's parser warnings raised inside ``check_sql`` (in this thread only)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_GUARDING, "active", False)


_GUARDING = threading.local()
logging.getLogger("sqlglot").addFilter(_QuietWhileGuarding())

_SQLGLOT_DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres", "postgres": "postgres",
                     "mysql": "mysql", "mariadb": "mysql"}


def sqlglot_dialect(dialect: str) -> str:
    """The sqlglot dialect name for an mscsql / SQLAlchemy dialect name."""
    try:
        return _SQLGLOT_DIALECTS[dialect.lower()]
    except KeyError:
        raise UnsafeSQLError(f"unknown SQL dialect {dialect!r}; expected one of "
                             f"{sorted(_SQLGLOT_DIALECTS)}") from None


@dataclass(frozen=True)
class CheckedStatement:
    """A statement the guard accepted."""

    sql: str
    #: ``sql`` without trailing semicolons and comments: the text the engines receive
    executable: str
    #: the statement from its first to its last token: equal for statements that differ only in surrounding
    #: whitespace, comments and trailing semicolons (anything else, even keyword case, can change a result's
    #: column names, so it is kept)
    normalized: str
    dialect: str


def _forbidden_label(node_type: type[exp.Expression]) -> str | None:
    """The label of the forbidden node type ``node_type`` is (or derives from), else None; cached per type."""
    try:
        return _LABEL_BY_TYPE[node_type]
    except KeyError:
        label = next((lbl for kind, lbl in _FORBIDDEN_NODES.items() if issubclass(node_type, kind)), None)
        _LABEL_BY_TYPE[node_type] = label
        return label


_LABEL_BY_TYPE: dict[type[exp.Expression], str | None] = {}

#: typed sqlglot nodes that are never built from a call written by name and still must not run
_FORBIDDEN_CONSTRUCTS: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name) for name in ("NextValueFor", "ReadCSV", "ReadParquet", "ToFile") if hasattr(exp, name))


def _called_name(node: exp.Func, sql: str) -> str | None:
    """The function name as the statement writes it (lower case), or None for a node that sqlglot builds from
    the grammar's own syntax (``CAST(x AS t)``, ``EXTRACT(...)``, ``CURRENT_DATE``, ``x::int``, the
    normalised arguments of another call) rather than from a call by name."""
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    meta = node._meta  # the position of the name token, kept by sqlglot for calls written ``name(...)``
    if meta and "start" in meta and "end" in meta:
        return sql[meta["start"]: meta["end"] + 1].lower()
    return None


def _qualifier(node: exp.Func) -> str | None:
    """``schema`` for a call written ``schema.name(...)`` (lower case), else None."""
    parent = node.parent
    if isinstance(parent, exp.Dot) and parent.expression is node:
        return parent.this.sql().lower()
    return None


#: the widest field a SQLite printf() may pad to: SQLite builds a padded field one character at a time, inside
#: one function call that no interrupt can stop, so ``printf('%.*c', 1e9, 'x')`` would outlast any timeout
MAX_PRINTF_WIDTH = 100_000
_PRINTF_FIELD = re.compile(r"%[-+ 0#,!]*(\*|\d*)(?:\.(\*|\d*))?")


def _check_printf(node: exp.Func, name: str) -> str | None:
    """SQLite ``printf``/``format``: a literal format whose fields have literal widths of at most
    :data:`MAX_PRINTF_WIDTH` characters."""
    fmt = node.this if isinstance(node, exp.Format) else (node.expressions[0] if node.expressions else None)
    if not (isinstance(fmt, exp.Literal) and fmt.is_string):
        return f"{name}() needs a literal format string here"
    for width, precision in _PRINTF_FIELD.findall(fmt.this):
        for part in (width, precision):
            if part == "*" or (part and int(part) > MAX_PRINTF_WIDTH):
                return (f"{name}() fields may not be wider than {MAX_PRINTF_WIDTH} characters or take their width "
                        "from an argument (*)")
    return None


def _check_function(node: exp.Func, sql: str, read: str, allowed: frozenset[str]) -> str | None:
    """Why the call ``node`` may not run (None when it may)."""
    if isinstance(node, exp.Anonymous) and isinstance(node.this, exp.Identifier) and node.this.quoted:
        return f"quoted function names are not allowed ({node.this.sql(dialect=read)})"
    name = _called_name(node, sql)
    if name is None:
        if isinstance(node, _FORBIDDEN_CONSTRUCTS):
            return f"{node.key.upper()} is not allowed in a read-only query"
        return None
    if not has_allowlist(read):
        if not function_allowed(name, read):
            return f"function {name}() has side effects or reads outside the database"
        if name in ("printf", "format"):
            return _check_printf(node, name)
        return None
    qualifier = _qualifier(node)
    if qualifier is not None:
        if f"{qualifier}.{name}" in allowed:
            return None
        if read == "postgres" and qualifier == "pg_catalog" and function_allowed(name, read):
            return None
        return (f"function {qualifier}.{name}() is not on the allowlist of read-only functions; name it in "
                f"execution.allowed_functions to allow it")
    if function_allowed(name, read, allowed):
        return None
    return (f"function {name}() is not on the allowlist of read-only {read} functions (if it is a read-only "
            f"function of this database, name it in execution.allowed_functions)")


def _refuse(reason: str, sql: str) -> UnsafeSQLError:
    return UnsafeSQLError(reason, sql=sql)


def _check_tables(tree: exp.Expr, tables: TablePolicy, read: str) -> str | None:
    """Why ``tree`` reads a table ``tables`` does not permit, else None (names of the query's own CTEs are
    not tables)."""
    own = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for node in tree.find_all(exp.Table):
        name, schema = node.name, node.db or None
        if not name or (schema is None and name.lower() in own):
            continue  # a table function (checked as a function) or a CTE
        identifier = node.this
        exact = read == "postgres" and isinstance(identifier, exp.Identifier) and bool(identifier.quoted)
        if not tables.permits(name, schema, exact=exact):
            shown = f"{schema}.{name}" if schema else name
            return (f"table {shown!r} is not one this pipeline may query (execution.allowed_tables / "
                    "execution.denied_tables)")
    return None


@lru_cache(maxsize=65536)
def check_sql(sql: str, dialect: str, allowed_functions: frozenset[str] = frozenset(),
              tables: TablePolicy | None = None) -> CheckedStatement:
    """Accept ``sql`` as one read-only query in ``dialect`` or raise :class:`UnsafeSQLError` saying why.

    ``allowed_functions`` names functions (lower case, ``name`` or ``schema.name``) that PostgreSQL and MySQL
    statements may call besides the built-in allowlist (:mod:`mscsql.db.functions`); ``tables``: the tables
    the statement may read (None: any).
    """
    if not isinstance(sql, str):
        raise _refuse(f"expected SQL text, got {type(sql).__name__}", str(sql))
    read = sqlglot_dialect(dialect)
    if "\x00" in sql:
        raise _refuse("the statement contains a NUL character", sql)
    if read == "mysql" and MYSQL_HIDDEN_CODE.search(sql):
        raise _refuse("MySQL executable comments (/*! ... */), optimizer hints (/*+ ... */) and '--' followed by "
                      "a non-ASCII character are not allowed", sql)
    _GUARDING.active = True  # sqlglot warns when it falls back to a raw Command; those are refused anyway
    try:
        tokens = tokenize(sql, read)
        ambiguous = ambiguous_quoting(sql, read, tokens)
        if ambiguous:
            raise _refuse(ambiguous, sql)
        statements = [s for s in parser(read).parse(tokens, sql)
                      if s is not None and not isinstance(s, _EMPTY_STATEMENTS)]
    except SqlglotError as err:
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise _refuse(f"the statement cannot be parsed as {read} SQL ({first_line})", sql) from None
    except (RecursionError, ValueError, TypeError) as err:  # pathological input
        raise _refuse(f"the statement cannot be parsed ({type(err).__name__})", sql) from None
    finally:
        _GUARDING.active = False
    if not statements:
        raise _refuse(NO_STATEMENT, sql)
    if len(statements) > 1:
        raise _refuse(f"exactly one statement is allowed, found {len(statements)}", sql)
    tree = statements[0]
    if not isinstance(tree, _ALLOWED_ROOTS):
        first_word = sql.split(None, 1)[0].upper() if sql.split() else tree.key.upper()
        raise _refuse(f"only SELECT queries are allowed; this statement is {first_word}", sql)
    for node in tree.walk():
        label = _forbidden_label(type(node))
        if label is not None:
            raise _refuse(f"{label} is not allowed in a read-only query", sql)
        if isinstance(node, exp.Func):
            reason = _check_function(node, sql, read, allowed_functions)
            if reason is not None:
                raise _refuse(reason, sql)
    if tables is not None and tables.restricts:
        reason = _check_tables(tree, tables, read)
        if reason is not None:
            raise _refuse(reason, sql)
    # what the engine runs: the text up to its last token, without trailing semicolons or comments
    last = max(t.end for t in tokens if t.token_type is not TokenType.SEMICOLON)
    first = min(t.start for t in tokens)
    return CheckedStatement(sql=sql, executable=sql[: last + 1], normalized=sql[first : last + 1], dialect=read)


def is_read_only(sql: str, dialect: str, allowed_functions: frozenset[str] = frozenset()) -> bool:
    """True when the guard accepts ``sql``."""
    try:
        check_sql(sql, dialect, allowed_functions)
    except UnsafeSQLError:
        return False
    return True
