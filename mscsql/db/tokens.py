"""sqlglot's dialect objects, tokenizers and parsers, made once: dialects are shared (they hold only settings),
tokenizers and parsers are kept per thread (each holds the state of the text it reads, so threads must not share
one; each resets itself for every text, and making one costs as much as reading a short text)."""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

from sqlglot.dialects.dialect import Dialect
from sqlglot.parser import Parser
from sqlglot.tokens import Token

_KEPT = threading.local()


@cache
def engine_dialect(read: str) -> Dialect:
    """sqlglot's dialect object for the sqlglot dialect name ``read``."""
    return Dialect.get_or_raise(read)


def tokenize(sql: str, read: str, rules: type | None = None) -> list[Token]:
    """The tokens of ``sql`` in the sqlglot dialect ``read``, read by the dialect's tokenizer or by ``rules`` (a
    subclass of it with other lexical rules), one instance of each kept by this thread."""
    kept: dict[Any, Any] = _KEPT.__dict__
    tokenizer = kept.get((read, rules))
    if tokenizer is None:
        engine = engine_dialect(read)
        tokenizer = kept[(read, rules)] = (rules or engine.tokenizer_class)(dialect=engine)
    return tokenizer.tokenize(sql)


def parser(read: str) -> Parser:
    """The sqlglot parser of dialect ``read`` kept by this thread (a parser resets itself for every statement)."""
    kept: dict[Any, Any] = _KEPT.__dict__
    found = kept.get(("parser", read))
    if found is None:
        found = kept[("parser", read)] = engine_dialect(read).parser()
    return found
