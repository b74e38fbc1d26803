"""Reading one extracted statement in the target dialect: parsed as exactly one statement, kept as written when
it is clean there, else transpiled from the first other dialect that reads it (step 5 of
:mod:`mscsql.generation.extract`); sqlglot's own warnings are silenced while it works on model output."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, SqlglotError, UnsupportedError
from sqlglot.tokens import Token, TokenType

logger = logging.getLogger(__name__)

ExtractionStatus = Literal["ok", "syntax_error", "empty"]

#: sqlglot dialects tried, in this order, when the statement does not parse in the target dialect.
#: MySQL comes first: back-quoted identifiers are the most common foreign syntax, and MySQL reads the
#: double-quoted strings that usually come with them as strings.
FALLBACK_DIALECTS: tuple[str, ...] = ("mysql", "postgres", "sqlite", "tsql", "bigquery", "snowflake", "duckdb",
                                      "oracle", "spark", "trino", "clickhouse")

#: parsed "statements" that hold nothing but a semicolon and its comments
_EMPTY_STATEMENTS: tuple[type[exp.Expr], ...] = tuple(
    getattr(exp, name) for name in ("Semicolon",) if hasattr(exp, name))

#: root node types of a complete statement; anything else (a bare name, literal or expression: sqlglot parses
#: "No" or "Hello world" as a column) is not one
_STATEMENT_ROOTS: tuple[type[exp.Expr], ...] = (
    exp.Query, exp.Selectable, exp.DML, exp.DDL,
    *(getattr(exp, name) for name in ("Pragma", "Describe", "Show", "Set", "Use", "Transaction", "Commit", "Rollback",
                                      "Grant", "Revoke", "Analyze", "Attach", "Detach", "Copy", "Kill", "Cache",
                                      "Uncache", "Refresh", "Comment", "TruncateTable", "Merge", "LoadData")
      if hasattr(exp, name)),
)

@dataclass(frozen=True)
class ExtractedSQL:
    """The candidate statement found in a model's output."""

    #: the statement to execute, in the target dialect (the extracted text itself for a syntax error)
    sql: str
    status: ExtractionStatus
    #: why the statement did not parse (or why nothing was found), else None
    error: str | None = None
    #: the sqlglot dialect the statement was read in when it had to be transpiled, else None
    source_dialect: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# --- quieting sqlglot -------------------------------------------------------------------------------------


class _QuietWhileExtracting(logging.Filter):
    """Drops sqlglot's warnings (raw-command fallbacks, unsupported constructs) raised while extracting."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_QUIETING, "active", False)


_QUIETING = threading.local()
logging.getLogger("sqlglot").addFilter(_QuietWhileExtracting())


@contextmanager
def quiet_sqlglot() -> Iterator[None]:
    """sqlglot's warnings on this thread are dropped inside the block."""
    _QUIETING.active = True
    try:
        yield
    finally:
        _QUIETING.active = False


# --- parsing and transpiling ------------------------------------------------------------------------------


def _foreign_construct(tree: exp.Expr, tokens: list[Token], read: str) -> str | None:
    """A construct sqlglot accepts in ``read`` but that dialect's engine does not, else None."""
    if read in ("sqlite", "mysql"):
        if any(token.token_type is TokenType.DCOLON for token in tokens):
            return "'::' casts"
        if tree.find(exp.ILike) is not None:
            return "ILIKE"
        if tree.find(exp.Fetch) is not None:
            return "FETCH FIRST"
    if read == "postgres":
        for i, token in enumerate(tokens[:-2]):
            if token.token_type is TokenType.LIMIT and tokens[i + 2].token_type is TokenType.COMMA:
                return "LIMIT offset, count"
    return None


@dataclass(frozen=True)
class ParsedStatement:
    tree: exp.Expr | None
    #: why ``tree`` is None, or the construct that makes the statement foreign to the dialect
    problem: str | None = None

    @property
    def clean(self) -> bool:
        return self.tree is not None and self.problem is None


def _first_line(err: BaseException) -> str:
    text = str(err)
    return text.splitlines()[0] if text else type(err).__name__


def parse_statement(sql: str, read: str) -> ParsedStatement:
    """``sql`` parsed as exactly one statement of ``read``."""
    _QUIETING.active = True
    try:
        dialect = Dialect.get_or_raise(read)
        tokens = dialect.tokenize(sql)
        statements = [s for s in dialect.parser(error_level=ErrorLevel.RAISE).parse(tokens, sql) if s is not None]
    except SqlglotError as err:
        return ParsedStatement(None, _first_line(err))
    except Exception as err:  # pathological input, or a bug inside sqlglot: model output is arbitrary text
        logger.debug("sqlglot failed on a statement (%s)", read, exc_info=True)
        return ParsedStatement(None, f"cannot be parsed ({type(err).__name__})")
    finally:
        _QUIETING.active = False
    statements = [s for s in statements if not isinstance(s, _EMPTY_STATEMENTS)]
    if len(statements) != 1:
        return ParsedStatement(None, f"expected one statement, found {len(statements)}")
    tree = statements[0]
    if isinstance(tree, exp.Command):  # sqlglot's fallback for statements it does not understand
        return ParsedStatement(None, f"sqlglot does not understand this {tree.name.upper() or 'statement'} statement")
    if not isinstance(tree, _STATEMENT_ROOTS):
        return ParsedStatement(None, f"not a SQL statement (a bare {tree.key})")
    return ParsedStatement(tree, _foreign_construct(tree, tokens, read))


_EXPLICIT_NULL_ORDER = re.compile(r"\bNULLS\s+(?:FIRST|LAST)\b", re.IGNORECASE)


def _adopt_null_ordering(tree: exp.Expr, statement: str, target: str) -> exp.Expr:
    """``tree`` with the target's default NULL placement in every ORDER BY (unless the statement spells one out).

    sqlglot transpiles faithfully: ``ORDER BY age`` read as MySQL (NULLs sort first) becomes ``ORDER BY age
    NULLS FIRST`` in PostgreSQL. A model that slipped into another dialect's syntax still means the target's
    plain ``ORDER BY``, so the source dialect's NULL placement is dropped."""
    if _EXPLICIT_NULL_ORDER.search(statement):
        return tree
    null_ordering = Dialect.get_or_raise(target).NULL_ORDERING
    small = null_ordering == "nulls_are_small"
    try:
        adopted = tree.copy()
        for ordered in adopted.find_all(exp.Ordered):
            desc = bool(ordered.args.get("desc"))
            ordered.set("nulls_first", (desc != small) and null_ordering != "nulls_are_last")  # sqlglot's parser rule
    except RecursionError:  # a pathologically deep tree: keep the faithful reading
        return tree
    return adopted


def _generate(tree: exp.Expr, write: str, *, strict: bool) -> str | None:
    """``tree`` as ``write`` SQL; None when ``strict`` and the dialect cannot express part of it."""
    _QUIETING.active = True
    try:
        return tree.sql(dialect=write, unsupported_level=ErrorLevel.RAISE if strict else ErrorLevel.IGNORE)
    except UnsupportedError:
        return None
    except Exception:  # a bug inside sqlglot's generator; the caller falls back to another reading
        logger.debug("sqlglot could not write a statement as %s", write, exc_info=True)
        return None
    finally:
        _QUIETING.active = False


def resolve_statement(statement: str, target: str, hint: str = "") -> ExtractedSQL:
    """Classify one extracted statement: kept as written, transpiled into ``target``, or a syntax error."""
    if not statement:
        return ExtractedSQL("", "empty", "no SQL statement found")
    native = parse_statement(statement, target)
    if native.clean:
        return ExtractedSQL(statement, "ok")
    sources = [d for d in dict.fromkeys((hint, *FALLBACK_DIALECTS)) if d and d != target]
    unsupported: tuple[str, exp.Expr] | None = None
    for source in sources:
        parsed = parse_statement(statement, source)
        if parsed.tree is None or not parsed.clean:
            continue
        tree = _adopt_null_ordering(parsed.tree, statement, target)
        sql = _generate(tree, target, strict=True)
        if sql is not None:
            logger.debug("transpiled a statement from %s to %s", source, target)
            return ExtractedSQL(sql, "ok", source_dialect=source)
        unsupported = unsupported or (source, tree)
    if unsupported is not None:  # the best available reading, even if the target lacks part of it
        source, tree = unsupported
        return ExtractedSQL(_generate(tree, target, strict=False) or statement, "ok", source_dialect=source)
    if native.tree is not None:  # only a foreign construct: let sqlglot rewrite it for the target
        return ExtractedSQL(_generate(native.tree, target, strict=False) or statement, "ok", source_dialect=target)
    return ExtractedSQL(statement, "syntax_error", f"not valid {target} SQL: {native.problem}")
