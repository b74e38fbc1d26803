"""Schema rendering for prompts: deterministic text of the linked tables and columns with their types,
keys, descriptions, example values and the values retrieved for the question.

Database content (example values, retrieved values, descriptions read from the database's files, odd
identifiers) is untrusted text: every value is cut to ``max_value_chars`` and written as a JSON string on
one line, with backticks and angle brackets escaped, so it can neither end a line, close a quote, open a
code block nor pass for a chat template's special token. When the text exceeds ``budget_tokens``, the
least relevant non-key columns are dropped first (then example values), and the result says what was
dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from mscsql.retrieval.text import display_value
from mscsql.types import Cell, Column, LinkedSchema, Schema, Table, ValueMatch

_TOKEN = re.compile(r"\w+|[^\w\s]")


def approximate_tokens(text: str) -> int:
    """Words and punctuation marks: close to (a little under) what subword tokenizers count."""
    return len(_TOKEN.findall(text))


_SAFE_NAME = re.compile(r"^[\w$.-]+$")


def _defuse(text: str) -> str:
    """Escape what could pass for markup or a chat template's special token (``<|im_end|>``, ``</s>``) or
    open a code block."""
    return text.replace("`", "\\u0060").replace("<", "\\u003c").replace(">", "\\u003e")


def quote_value(value: Cell | str, max_chars: int) -> str:
    """One untrusted value as a safe, one-line JSON literal (numbers and booleans stay bare)."""
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return _defuse(json.dumps(display_value(value, max_chars), ensure_ascii=False))


def one_line(text: str, max_chars: int) -> str:
    """Descriptive text from the database's files on one line, cut, with markup defused."""
    return _defuse(display_value(text.replace("`", "'"), max_chars))


def safe_name(name: str) -> str:
    """An identifier as written in the prompt: bare when it is plain, else a JSON string (a name with a
    newline or a quote in it cannot start a line of its own)."""
    return name if _SAFE_NAME.match(name) else _defuse(json.dumps(name, ensure_ascii=False))


@dataclass(frozen=True)
class RenderOptions:
    examples: int = 3
    max_value_chars: int = 60
    max_description_chars: int = 200
    values_per_column: int = 5
    budget_tokens: int | None = None


@dataclass(frozen=True)
class RenderedSchema:
    text: str
    tokens: int
    dropped_columns: tuple[str, ...] = ()
    dropped_examples: bool = False
    trace: tuple[str, ...] = ()


def _column_line(table: Table, column: Column, options: RenderOptions, show_examples: bool,
                 retrieved: Sequence[str]) -> str:
    parts = [f"  - {safe_name(column.name)} {one_line(column.type or 'ANY', 40)}".rstrip()]
    if _is_primary(table, column):
        parts.append("PRIMARY KEY")
    for fk in table.foreign_keys:
        lowered = [c.lower() for c in fk.columns]
        if column.name.lower() in lowered:
            position = lowered.index(column.name.lower())
            target = fk.ref_columns[position] if position < len(fk.ref_columns) else None
            parts.append(f"REFERENCES {safe_name(fk.ref_table)}" + (f"({safe_name(target)})" if target else ""))
    notes = []
    if column.nl_name and column.nl_name.lower() != column.name.lower().replace("_", " "):
        notes.append(one_line(column.nl_name, options.max_description_chars))
    if column.description:
        notes.append(one_line(column.description, options.max_description_chars))
    if column.value_description:
        notes.append("values: " + one_line(column.value_description, options.max_description_chars))
    if show_examples and column.examples and options.examples:
        shown = ", ".join(quote_value(v, options.max_value_chars) for v in column.examples[: options.examples])
        notes.append(f"examples: [{shown}]")
    if retrieved:
        shown = ", ".join(quote_value(v, options.max_value_chars) for v in retrieved[: options.values_per_column])
        notes.append(f"matching values: [{shown}]")
    line = " ".join(parts)
    if notes:
        line += " -- " + "; ".join(notes)
    return line


def _render(schema: Schema, values: Sequence[ValueMatch], options: RenderOptions, show_examples: bool) -> str:
    by_column: dict[tuple[str, str], list[str]] = {}
    for match in values:
        by_column.setdefault((match.table.lower(), match.column.lower()), []).append(match.value)
    lines = [f"Database: {safe_name(schema.db_id or 'database')} ({schema.dialect})"]
    for table in schema.tables:
        header = f"Table {safe_name(table.qualified_name)}"
        notes = [one_line(n, options.max_description_chars) for n in (table.nl_name, table.description)
                 if n and n.lower() != table.name.lower().replace("_", " ")]
        if notes:
            header += " -- " + "; ".join(notes)
        lines.append(header)
        for column in table.columns:
            retrieved = by_column.get((table.qualified_name.lower(), column.name.lower()), [])
            lines.append(_column_line(table, column, options, show_examples, retrieved))
    return "\n".join(lines)


def _is_primary(table: Table, column: Column) -> bool:
    return column.primary_key or column.name.lower() in {c.lower() for c in table.primary_key}


def _is_key(table: Table, column: Column) -> bool:
    return _is_primary(table, column) or any(column.name.lower() in {c.lower() for c in fk.columns}
                                             for fk in table.foreign_keys)


def render_schema(link: LinkedSchema, options: RenderOptions | None = None, *,
                  count_tokens: Callable[[str], int] = approximate_tokens) -> RenderedSchema:
    """The prompt text for a linked schema, within ``options.budget_tokens`` when one is set."""
    options = options or RenderOptions()
    schema = link.schema
    text = _render(schema, link.values, options, show_examples=True)
    tokens = count_tokens(text)
    if options.budget_tokens is None or tokens <= options.budget_tokens:
        return RenderedSchema(text, tokens)
    # least relevant first: the linker's score, then position (later columns go first on ties)
    droppable = sorted(((link.scores.get(f"{t.qualified_name}.{c.name}", 0.0), -ti, -ci, t.qualified_name, c.name)
                        for ti, t in enumerate(schema.tables) for ci, c in enumerate(t.columns)
                        if not _is_key(t, c)))
    dropped: list[str] = []
    show_examples = True
    while tokens > options.budget_tokens:
        if droppable:
            _score, _ti, _ci, table_name, column_name = droppable.pop(0)
            dropped.append(f"{table_name}.{column_name}")
            schema = _without(schema, table_name, column_name)
        elif show_examples:
            show_examples = False
        else:
            break
        text = _render(schema, link.values, options, show_examples)
        tokens = count_tokens(text)
    trace = []
    if dropped:
        trace.append(f"render: dropped {len(dropped)} least relevant columns to fit {options.budget_tokens} "
                     f"tokens: {', '.join(dropped)}")
    if not show_examples:
        trace.append("render: dropped example values to fit the token budget")
    if tokens > options.budget_tokens:
        trace.append(f"render: the schema still needs {tokens} tokens (budget {options.budget_tokens})")
    return RenderedSchema(text, tokens, tuple(dropped), not show_examples, tuple(trace))


def _without(schema: Schema, table_name: str, column_name: str) -> Schema:
    tables = tuple(replace(t, columns=tuple(c for c in t.columns if c.name != column_name))
                   if t.qualified_name == table_name else t for t in schema.tables)
    return replace(schema, tables=tables)
