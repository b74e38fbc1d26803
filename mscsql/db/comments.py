"""Column comments written in SQLite's stored DDL (``name TEXT NOT NULL, -- company name``): SQLite keeps each
table's ``CREATE`` statement as written, comments included, and they are the schema's own descriptions."""

from __future__ import annotations

import logging

import sqlglot
from sqlglot import exp

log = logging.getLogger(__name__)

#: longer comments are cut (a description, not a document)
MAX_COMMENT_CHARS = 300


def ddl_column_comments(ddl: str | None) -> dict[str, str]:
    """Lower-cased column name -> the comment written beside its definition in ``ddl`` (a ``CREATE TABLE``)."""
    if not ddl or ("--" not in ddl and "/*" not in ddl):
        return {}
    try:
        tree = sqlglot.parse_one(ddl, read="sqlite")
    except Exception:  # a statement sqlglot does not read: no comments, the schema is still whole
        log.debug("cannot read the comments of a table's DDL", exc_info=True)
        return {}
    found = {}
    for column in tree.find_all(exp.ColumnDef):
        texts = [c.strip() for node in column.walk() for c in (node.comments or []) if c and c.strip()]
        if texts:
            text = " ".join(texts)
            found[column.name.lower()] = text if len(text) <= MAX_COMMENT_CHARS else text[: MAX_COMMENT_CHARS - 1] + "…"
    return found
