"""Reading SQL text that may not be valid: the tokens or the syntax tree of a statement in a database's dialect,
or None when sqlglot cannot read it (callers decide what an unreadable statement means for them)."""

from __future__ import annotations

from typing import Any

from mscsql.db.guard import sqlglot_dialect


def read_dialect(dialect: str) -> str:
    """sqlglot's name for an mscsql dialect name (an unknown one reads as SQLite)."""
    try:
        return sqlglot_dialect(dialect)
    except Exception:  # UnsafeSQLError for a dialect the guard does not know
        return "sqlite"


def tokens(sql: str, dialect: str = "sqlite") -> list[Any] | None:
    """``sql``'s sqlglot tokens, or None when it does not tokenize."""
    import sqlglot

    try:
        return list(sqlglot.tokenize(sql, read=read_dialect(dialect)))
    except Exception:  # sqlglot raises several kinds of error for text it cannot read
        return None


def tree(sql: str, dialect: str = "sqlite") -> Any | None:
    """``sql``'s syntax tree (the first statement), or None when it does not parse."""
    import sqlglot

    try:
        return sqlglot.parse_one(sql, read=read_dialect(dialect))
    except Exception:  # sqlglot raises several kinds of error for text it cannot read
        return None


def literals(sql: str, dialect: str = "sqlite") -> tuple[str, ...]:
    """The string and number literals of ``sql`` (lower-cased), or () when it does not tokenize."""
    from sqlglot.tokens import TokenType

    found = tokens(sql, dialect) or []
    return tuple(t.text.lower() for t in found if t.token_type in (TokenType.STRING, TokenType.NUMBER))


def tables_read(sql: str, dialect: str = "sqlite") -> tuple[str, ...]:
    """The tables ``sql`` reads (its own CTEs aside), in order of appearance; () when it does not parse."""
    from sqlglot import exp

    parsed = tree(sql, dialect)
    if parsed is None:
        return ()
    own = {cte.alias_or_name.lower() for cte in parsed.find_all(exp.CTE)}
    return tuple(dict.fromkeys(t.name for t in parsed.find_all(exp.Table) if t.name and t.name.lower() not in own))


#: keywords after which a number is a position or a count, not a value
_COUNTING = {"LIMIT", "OFFSET", "ORDER BY", "GROUP BY", "FETCH", "TOP"}


def without_values(sql: str, dialect: str, names: frozenset[str]) -> str | None:
    """``sql`` with every value written as ``?``: string, number and binary literals (a number right after
    LIMIT, OFFSET, ORDER BY or GROUP BY aside) and quoted text that is not one of ``names`` (lower-case table and
    column names; SQLite reads an unknown double-quoted name as a string). None when ``sql`` does not tokenize:
    a statement that cannot be read cannot be shown safely."""
    from sqlglot.tokens import TokenType

    found = tokens(sql, dialect)
    if found is None:
        return None
    values = {TokenType.STRING, TokenType.NUMBER, TokenType.HEX_STRING, TokenType.BIT_STRING,
              TokenType.BYTE_STRING, TokenType.NATIONAL_STRING, TokenType.RAW_STRING, TokenType.HEREDOC_STRING}
    out, cursor, counting = [], 0, False
    for token in found:
        kind = token.token_type
        if kind == TokenType.NUMBER and counting:
            hide = False  # LIMIT 5, ORDER BY 1, 2: a count or a position
        else:
            hide = kind in values or (kind == TokenType.IDENTIFIER and token.text.lower() not in names)
        if hide:  # the token spans its quotes and prefix (x'..', E'..')
            out += [sql[cursor:token.start], "?"]
            cursor = token.end + 1
        if token.text.upper() in _COUNTING:
            counting = True
        elif not (kind == TokenType.COMMA or (kind == TokenType.NUMBER and counting)):
            counting = False
    out.append(sql[cursor:])
    return "".join(out)
