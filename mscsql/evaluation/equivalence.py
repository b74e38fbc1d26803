"""Statements that certainly return the same rows, recognised from their tokens without running them.

Two statements are *textually equivalent* when their token streams are equal after upper-casing keywords
and dropping whitespace, comments and trailing semicolons; in SQLite, whose identifiers and function names
are case-insensitive for ASCII letters, unquoted names are compared with ASCII letters folded too. Literals,
numbers and quoted identifiers are compared exactly as written (``1`` and ``1.0`` differ, ``"a"`` and ``'a'`` differ).
Equivalent statements produce the same rows on every database, so the runner does not execute a
prediction that is equivalent to its gold query: it takes the gold result for it.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from mscsql.db.guard import MYSQL_HIDDEN_CODE, sqlglot_dialect
from mscsql.db.tokens import engine_dialect, tokenize

_VERBATIM = frozenset(t for t in TokenType if t.name in {
    "STRING", "NUMBER", "NATIONAL_STRING", "RAW_STRING", "BIT_STRING", "HEX_STRING", "BYTE_STRING",
    "HEREDOC_STRING", "UNICODE_STRING", "IDENTIFIER", "PARAMETER", "SESSION_PARAMETER"})


#: a NUL, or a space other than the ones every engine agrees on (space, tab, CR, LF, form feed): sqlglot also
#: skips other Unicode spaces, which engines read as names (``\s`` in a str pattern is exactly ``str.isspace``)
_UNTRUSTED_CHARACTER = re.compile(r"\x00|[^\S \t\n\r\f]")


def _unkeyable(sql: str, read: str) -> bool:
    """Text where sqlglot's tokens may not be what the engine reads (then no key, so no shortcut): other Unicode
    spaces, a NUL anywhere (the guard refuses it, even inside a comment the tokens would drop), MySQL's hidden
    code."""
    if _UNTRUSTED_CHARACTER.search(sql) is not None:
        return True
    return read == "mysql" and MYSQL_HIDDEN_CODE.search(sql) is not None


#: SQLite folds the case of names for ASCII letters only ("Ä" and "ä" are two columns)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@lru_cache(maxsize=65536)
def token_key(sql: str, dialect: str) -> tuple[tuple[TokenType, str], ...] | None:
    """The comparison key of ``sql``: its tokens as (type, text) pairs (None when it cannot be tokenised
    safely)."""
    read = sqlglot_dialect(dialect)
    if _unkeyable(sql, read):
        return None
    try:
        tokens = tokenize(sql, read)
    except SqlglotError:
        return None
    fold_names = read == "sqlite"
    ascii_text = sql.isascii()
    commands = _commands(read)
    key = []
    for token in tokens:
        kind = token.token_type
        if kind is TokenType.SEMICOLON:
            continue
        if kind in commands:  # the rest of a command is one token whose span covers only its last word
            return None
        if kind in _VERBATIM:
            text = sql[token.start:token.end + 1]  # as written, quotes included
        elif kind is TokenType.VAR:
            text = token.text.translate(_ASCII_LOWER) if fold_names else token.text
        else:
            # sqlglot finds keywords by Unicode upper case ("ſELECT" is SELECT to it); engines by ASCII letters
            if not ascii_text and not sql[token.start:token.end + 1].isascii():
                return None
            text = token.text.upper()
        key.append((kind, text))
    return tuple(key)


@cache
def _commands(read: str) -> frozenset[TokenType]:
    """The token types that start a statement sqlglot reads as a raw command (SHOW, EXPLAIN, ...)."""
    return frozenset(engine_dialect(read).tokenizer_class.COMMANDS)


#: text that may start a comment in some dialect (then only the tokens say what a statement holds)
_COMMENT_MARKERS = ("--", "/*", "#")


def _squeezed(sql: str) -> str | None:
    """``sql`` lower-cased without spaces and semicolons; None when it may hold a comment. Two statements with the
    same token key have the same squeezed text (a token key keeps every other character as written, up to case),
    so different squeezed texts settle that two statements differ without tokenizing either."""
    if any(marker in sql for marker in _COMMENT_MARKERS):
        return None
    return "".join(sql.lower().split()).replace(";", "")


def textually_equivalent(a: str, b: str, dialect: str) -> bool:
    if a == b:
        return True
    squeezed_a, squeezed_b = _squeezed(a), _squeezed(b)
    if squeezed_a is not None and squeezed_b is not None and squeezed_a != squeezed_b:
        return False
    key = token_key(a, dialect)
    return key is not None and key == token_key(b, dialect)


def holds_no_statement(sql: str, dialect: str) -> bool | None:
    """Whether ``sql`` is only spaces, comments and semicolons (None when its tokens cannot be trusted: ask the
    guard)."""
    squeezed = _squeezed(sql) if _UNTRUSTED_CHARACTER.search(sql) is None else None  # Unicode spaces: names
    if squeezed is not None:
        return not squeezed
    key = token_key(sql, dialect)
    return None if key is None else not key
