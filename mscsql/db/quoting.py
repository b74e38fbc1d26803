"""Statements that read differently under another server's string rules are refused.

Where a string literal ends depends on server settings: PostgreSQL's ``standard_conforming_strings`` (off:
a backslash escapes the next character in every string) and MySQL's ``ANSI_QUOTES`` (on: ``"..."`` is an
identifier, in which a backslash escapes nothing). Every session mscsql opens pins the rules that the guard
tokenizes with (see :mod:`mscsql.db.postgres` and :mod:`mscsql.db.mysql`) and checks them before each
statement. As a second line, a statement that contains a backslash is tokenized again under the other rules;
when the tokens do not start and end at the same places, the text hides different code on a server where
the pin did not hold, and it is refused. (MySQL's ``NO_BACKSLASH_ESCAPES`` is covered by the pin alone:
generated MySQL often writes ``'O\\'Brien'``, which that variant would refuse.)
"""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar

from sqlglot.errors import SqlglotError

from mscsql.db.tokens import engine_dialect, tokenize


@cache
def _variants(read: str) -> tuple[tuple[str, type], ...]:
    """(rule, tokenizer class) pairs: the other lexical rules of the engine behind sqlglot dialect ``read``."""
    base = engine_dialect(read).tokenizer_class
    if read == "postgres":
        class NonStandardStrings(base):  # type: ignore[misc, valid-type]
            STRING_ESCAPES: ClassVar[list[str]] = ["'", "\\"]

        return (("standard_conforming_strings = off", NonStandardStrings),)
    if read == "mysql":
        class AnsiQuotes(base):  # type: ignore[misc, valid-type]
            QUOTES: ClassVar[list[str]] = ["'"]
            IDENTIFIERS: ClassVar[list[str]] = ["`", '"']

        return (("sql_mode ANSI_QUOTES", AnsiQuotes),)
    return ()


def ambiguous_quoting(sql: str, read: str, tokens: list[Any]) -> str | None:
    """Why ``sql`` (already split into ``tokens`` under the pinned rules) is ambiguous, else None."""
    if "\\" not in sql:
        return None  # without a backslash the rules above split every text the same way
    spans = [(t.start, t.end) for t in tokens]
    for rule, rules in _variants(read):
        try:  # each thread reads with its own tokenizer: one holds the state of the text it reads
            other = [(t.start, t.end) for t in tokenize(sql, read, rules)]
        except SqlglotError:
            other = None
        if other != spans:
            return (f"the statement's string literals end in other places under {rule}; write a quote inside "
                    f"a string as two quotes ('') instead of with a backslash")
    return None
