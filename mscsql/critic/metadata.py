"""Execution metadata of candidate groups, as text for the critic's prompt.

Each group becomes a labelled block: one representative SQL query, the status of its execution, the column
names, the first ``max_rows`` rows of the first ``max_columns`` columns (long cells cut), the true row count
with a truncation flag, and how many samples proposed it.

Everything in a block that comes from a model (the SQL) or from the database (column names, cells, error
messages) is untrusted text: it is written as a one-line JSON string, so it can neither end a line nor close
its quote; backticks are escaped (no code block can be opened), and so is every ``<`` that could start a chat
template's special token (``<|im_end|>``, ``</s>``); ``[INST]``-like shapes are bracketed differently.
Cells, column names and error messages go through :func:`mscsql.linking.render.quote_value`, which escapes
every ``<`` and ``>``; the SQL keeps comparison operators readable (``a < 3``, ``<=``, ``<>``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from mscsql.critic.grouping import ResultGroup
from mscsql.errors import ConfigError
from mscsql.linking.render import quote_value
from mscsql.prompts.generator import defuse_special_tokens
from mscsql.types import ExecutionResult, ExecutionStatus

#: a ``<`` that could open a tag or a special token: followed by anything but a space, a digit, ``=`` or ``>``
_OPENING_ANGLE = re.compile(r"<(?=[^\s\d=>])")
_LINE_SEPARATORS = ("\x85", "\u2028", "\u2029")


@dataclass(frozen=True)
class MetadataOptions:
    """How much of each group's execution result the critic sees."""

    max_rows: int = 5
    max_columns: int = 6
    max_cell_chars: int = 40
    max_sql_chars: int = 1200
    max_error_chars: int = 200

    def __post_init__(self) -> None:
        for name in ("max_rows", "max_columns", "max_cell_chars", "max_sql_chars", "max_error_chars"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == "max_rows" else 1):
                raise ConfigError(f"MetadataOptions.{name} must be a positive integer, not {value!r}")


def quote_sql(sql: str, max_chars: int) -> str:
    """Untrusted SQL as one line: a JSON string (newlines escaped, quotes escaped), cut to ``max_chars``,
    with backticks and tag-opening ``<`` escaped and special-token shapes defused."""
    text = sql.strip()
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    quoted = json.dumps(text, ensure_ascii=False).replace("`", "\\u0060")
    for separator in _LINE_SEPARATORS:  # line breaks to str.splitlines that JSON leaves as they are
        quoted = quoted.replace(separator, f"\\u{ord(separator):04x}")
    return defuse_special_tokens(_OPENING_ANGLE.sub("\\\\u003c", quoted))


def status_line(result: ExecutionResult, options: MetadataOptions) -> str:
    if result.status is ExecutionStatus.OK:
        return "ok" if result.rows or result.row_count else "empty (no rows)"
    words = {ExecutionStatus.ERROR: "error", ExecutionStatus.TIMEOUT: "timeout (cancelled)",
             ExecutionStatus.REJECTED: "rejected (not a read-only query; never run)",
             ExecutionStatus.TOO_LARGE: "too large (a value over the byte budget; no rows kept)"}
    line = words.get(result.status, result.status.value)
    if result.error:
        line += f", message: {quote_value(result.error, options.max_error_chars)}"
    return line


def row_count_line(result: ExecutionResult, shown: int) -> str:
    total = max(result.row_count, len(result.rows))
    if result.truncated:
        count = f"at least {total} (truncated: the result had more rows than were fetched)"
    else:
        count = f"{total} (truncated: no)"
    return f"  Row count: {count}; showing {shown}"


def render_group(group: ResultGroup, options: MetadataOptions, label: str) -> str:
    """One group's block (see the module's docstring)."""
    result = group.result
    sql = group.sql
    count = group.count
    lines = [f"Option {label} (proposed by {count} sample{'s' if count != 1 else ''}):",
             f"  SQL: {quote_sql(sql, options.max_sql_chars)}",
             f"  Status: {status_line(result, options)}"]
    if not result.ok:
        return "\n".join(lines)
    names, hidden, rows = shown_table(result, options)
    note = f" (+{hidden} more column{'s' if hidden != 1 else ''} not shown)" if hidden else ""
    lines.append(f"  Columns ({len(result.columns)}): [{names}]{note}")
    lines.append(row_count_line(result, len(rows)))
    lines += [f"    row {number}: [{cells}]" for number, cells in enumerate(rows, start=1)]
    return "\n".join(lines)


def shown_table(result: ExecutionResult, options: MetadataOptions) -> tuple[str, int, list[str]]:
    """What a reader sees of a result: the quoted names of the shown columns, how many columns are hidden,
    and each shown row's quoted cells (the first ``max_rows`` rows, the first ``max_columns`` columns)."""
    shown = min(len(result.columns), options.max_columns)
    names = ", ".join(quote_value(name, options.max_cell_chars) for name in result.columns[:shown])
    rows = [", ".join(quote_value(cell, options.max_cell_chars) for cell in row[:shown])
            for row in result.rows[: options.max_rows]]
    return names, len(result.columns) - shown, rows


def render_groups(groups: Sequence[ResultGroup], options: MetadataOptions | None = None,
                  labels: Sequence[str] = ()) -> str:
    """Blocks for ``groups``, labelled in order with ``labels`` ("A", "B", ...), separated by blank lines."""
    options = options or MetadataOptions()
    labels = list(labels) or [chr(ord("A") + i) for i in range(len(groups))]
    if len(labels) < len(groups):
        raise ConfigError(f"{len(groups)} groups need as many labels, got {len(labels)}")
    return "\n\n".join(render_group(group, options, label) for group, label in zip(groups, labels, strict=False))
