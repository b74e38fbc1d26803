"""Plain, frozen data types shared by every stage of mscsql (standard library only)."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field, replace
from typing import Any

#: A JSON-safe cell value: what :mod:`mscsql.db.values` turns every database value into.
Cell = None | bool | int | float | str


@dataclass(frozen=True)
class Question:
    """A natural-language question about one database, with optional evidence (BIRD's hint)."""

    text: str
    db_id: str | None = None
    evidence: str | None = None
    question_id: str | int | None = None
    #: the conversation this question continues (its id in the store), or None for a first question
    conversation: str | None = None


@dataclass(frozen=True)
class VerifiedExample:
    """A question with SQL that people checked, kept for one database: it goes into generator prompts as a
    few-shot example, and a question asked again is answered with its SQL."""

    question: str
    sql: str
    evidence: str | None = None
    #: the store's id (None for an example not stored)
    id: int | None = None


@dataclass(frozen=True)
class Turn:
    """An earlier question of a conversation with the SQL chosen for it and its result's columns."""

    question: str
    sql: str | None
    columns: tuple[str, ...] = ()
    evidence: str | None = None


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    primary_key: bool = False
    #: natural-language name (Spider/BIRD ``tables.json``)
    nl_name: str | None = None
    #: free-text description (BIRD ``database_description``)
    description: str | None = None
    #: what the values mean (BIRD's ``value_description``)
    value_description: str | None = None
    #: a few distinct non-null values, chosen deterministically (see ``Database.schema``)
    examples: tuple[Cell, ...] = ()


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    #: database schema (namespace) the table lives in; ``None`` for the default one
    schema: str | None = None
    kind: str = "table"  # "table" or "view"
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    row_count: int | None = None
    nl_name: str | None = None
    description: str | None = None

    @property
    def qualified_name(self) -> str:
        """``schema.name`` for tables outside the default schema, else ``name``."""
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def column(self, name: str) -> Column:
        """The column called ``name`` (exact match first, then case-insensitive)."""
        for col in self.columns:
            if col.name == name:
                return col
        lowered = name.lower()
        for col in self.columns:
            if col.name.lower() == lowered:
                return col
        raise KeyError(f"table {self.qualified_name!r} has no column {name!r}")


@dataclass(frozen=True)
class Schema:
    """What a database contains: tables and views with their columns and keys."""

    dialect: str
    tables: tuple[Table, ...]
    db_id: str | None = None

    def table(self, name: str) -> Table:
        """The table with this (optionally qualified) name; exact match first, then case-insensitive."""
        for tbl in self.tables:
            if name in (tbl.qualified_name, tbl.name):
                return tbl
        lowered = name.lower()
        for tbl in self.tables:
            if lowered in (tbl.qualified_name.lower(), tbl.name.lower()):
                return tbl
        raise KeyError(f"no table {name!r} in schema {self.db_id or ''}".strip())

    @property
    def table_names(self) -> list[str]:
        return [t.qualified_name for t in self.tables]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def without_values(self) -> Schema:
        """The same schema with no value read from the rows (no columns' example values; row counts stay)."""
        return replace(self, tables=tuple(
            replace(t, columns=tuple(replace(c, examples=()) if c.examples else c for c in t.columns))
            for t in self.tables))


class ExecutionStatus(enum.StrEnum):
    OK = "ok"
    ERROR = "error"  # the engine raised (syntax, missing column, read-only violation, ...)
    TIMEOUT = "timeout"  # cancelled in the engine after timeout_s
    REJECTED = "rejected"  # refused by the read-only guard; never sent to the engine
    TOO_LARGE = "too_large"  # a value was over the per-value byte budget, or the memory ran out; no rows kept


@dataclass(frozen=True)
class ResultBudget:
    """How many bytes one result may hold, enforced while rows are fetched (see :mod:`mscsql.db.collect`).

    A cell counts the length of its text (characters; a blob its bytes) plus a fixed overhead, so the total
    tracks the memory the result takes. Past ``max_result_bytes`` the result keeps the rows that fit and is
    marked ``truncated``; a single value longer than ``max_value_bytes`` makes the status ``too_large``.
    """

    max_result_bytes: int = 256 * 1024 * 1024
    max_value_bytes: int = 16 * 1024 * 1024

    def __post_init__(self) -> None:
        if not (1 <= self.max_value_bytes <= self.max_result_bytes):
            raise ValueError(f"a result budget needs 1 <= max_value_bytes ({self.max_value_bytes}) <= "
                             f"max_result_bytes ({self.max_result_bytes})")


@dataclass(frozen=True)
class TablePolicy:
    """Which tables generated SQL may read and the schema shows: names (``table`` or ``schema.table``) in
    ``allow`` (empty: every table) and not in ``deny``. The guard refuses a statement that names any other
    table, so the policy holds whatever a prompt says. Names compare case-insensitively, except that a quoted
    name in a dialect where quoting keeps case (PostgreSQL) must match an allowed name exactly; a denial
    always compares case-insensitively, so it refuses too much rather than too little."""

    allow: frozenset[str] = frozenset()
    deny: frozenset[str] = frozenset()

    @classmethod
    def of(cls, allow: tuple[str, ...] | list[str] = (), deny: tuple[str, ...] | list[str] = ()) -> TablePolicy:
        return cls(frozenset(n.strip() for n in allow if n.strip()), frozenset(n.strip() for n in deny if n.strip()))

    @property
    def restricts(self) -> bool:
        return bool(self.allow or self.deny)

    def permits(self, name: str, schema: str | None = None, *, exact: bool = False) -> bool:
        """Whether the table ``name`` (in ``schema``, None: the default one) may be read; ``exact``: the name
        was quoted where quoting keeps its case."""
        names = {name, f"{schema}.{name}"} if schema else {name}
        lowered = {n.lower() for n in names}
        if lowered & {d.lower() for d in self.deny}:
            return False
        if not self.allow:
            return True
        return bool(names & self.allow) if exact else bool(lowered & {a.lower() for a in self.allow})

    def visible(self, schema: Schema) -> Schema:
        """``schema`` with only the tables this policy permits (and the foreign keys among them)."""
        if not self.restricts:
            return schema
        kept = [t for t in schema.tables if self.permits(t.name, t.schema)]
        names = {t.qualified_name.lower() for t in kept} | {t.name.lower() for t in kept}
        tables = tuple(replace(t, foreign_keys=tuple(fk for fk in t.foreign_keys if fk.ref_table.lower() in names))
                       for t in kept)
        return replace(schema, tables=tables)


#: the budget of trusted statements (gold queries in the scorers): large, but still bounded
TRUSTED_BUDGET = ResultBudget(max_result_bytes=2 * 1024 * 1024 * 1024, max_value_bytes=256 * 1024 * 1024)


@dataclass(frozen=True)
class ExecutionResult:
    """The outcome of running one statement. Failures are data, not exceptions."""

    sql: str
    status: ExecutionStatus
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Cell, ...], ...] = ()
    #: rows returned, counted up to the cap; ``truncated`` says whether more existed (beyond the row cap or
    #: the byte budget)
    row_count: int = 0
    truncated: bool = False
    elapsed_s: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is ExecutionStatus.OK

    def to_dict(self) -> dict[str, Any]:
        return {"sql": self.sql, "status": self.status.value, "columns": list(self.columns),
                "rows": [list(r) for r in self.rows], "row_count": self.row_count, "truncated": self.truncated,
                "elapsed_s": self.elapsed_s, "error": self.error}


@dataclass(frozen=True)
class ExecutionItem:
    """One (database, sql) pair for :func:`mscsql.db.execute_many`."""

    database: Any  # a Database or anything ``mscsql.db.connect`` accepts
    sql: str
    #: this statement's byte budget (None: the database's own; trusted gold queries get a larger one)
    budget: ResultBudget | None = None
    #: tables this statement may read besides the database's own policy (None: the database's policy alone)
    tables: TablePolicy | None = None


@dataclass(frozen=True)
class ValueMatch:
    """A database value that a question seems to mention (see :mod:`mscsql.retrieval`)."""

    table: str
    column: str
    #: the stored value as display text (normalised whitespace, truncated); untrusted
    value: str
    #: 0..1, higher is closer
    score: float
    #: "exact", "fuzzy" or "embedding"
    source: str


@dataclass(frozen=True)
class LinkedSchema:
    """What a schema linker kept of a database for one question.

    ``schema`` is the reduced schema: the kept tables (in database order) with only their kept columns,
    and only the foreign keys among kept columns. ``scores`` maps ``table`` and ``table.column`` names to
    the linker's relevance (higher is more relevant); ``trace`` records decisions a user may want to see
    (unknown names an LLM produced, fallbacks, budget cuts).
    """

    schema: Schema
    full_schema: Schema
    linker: str
    values: tuple[ValueMatch, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
    trace: tuple[str, ...] = ()

    @property
    def table_names(self) -> list[str]:
        return self.schema.table_names

    def column_names(self) -> list[str]:
        """``table.column`` for every kept column."""
        return [f"{t.qualified_name}.{c.name}" for t in self.schema.tables for c in t.columns]
