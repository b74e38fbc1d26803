"""Copy a SQLite database (tables, keys, data) into a new, empty PostgreSQL or MySQL database.

An administrator's operation (``mscsql db copy SRC URL``, ``mscsql demo create --db URL``): nothing but the copy
runs, never a generated query, and a target database that already holds a table is refused.

SQLite keeps any value in any column, so each column's type comes from its declared type *and* its values: a
column declared ``INT`` whose values are all whole numbers becomes a 64-bit integer, one with fractions a double,
one with any text becomes text (SQLite's ``varchar(20)`` holding 500 characters stays whole: text columns are
unbounded, but for MySQL keys, which need a length). Primary keys are kept when their values are unique and
present; foreign keys when they reference a kept primary key of the copy and every value has its parent (they
are added after the rows, so the tables' order does not matter). What is left out is said in
:attr:`CopyReport.notes`. On PostgreSQL, table and column names are written in lower case, so that SQL written
for SQLite, where names are case-insensitive, reads them unquoted in any case; MySQL keeps them as they are.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mscsql.db.comments import ddl_column_comments
from mscsql.db.connect import parse_server_url
from mscsql.errors import DatabaseConnectionError, DatabaseError

log = logging.getLogger(__name__)
_BATCH = 1000
#: the longest text a MySQL key column may hold here (VARCHAR(255) in utf8mb4 fits every index)
_MYSQL_KEY_CHARS = 255


@dataclass
class CopyReport:
    """Rows copied per table, and what the copy left out (keys that did not hold)."""

    rows: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Column:
    name: str
    target: str
    declared: str
    kind: str = "text"  # integer, real, text or blob
    longest: int = 0
    #: declared NOT NULL (and no NULL in the rows: SQLite files made by other tools may hold some)
    not_null: bool = False
    #: the comment written beside the column in the SQLite DDL (a server column comment; mscsql's description)
    comment: str | None = None


@dataclass
class _Table:
    name: str
    target: str
    columns: list[_Column]
    rows: list[tuple[Any, ...]]
    primary_key: list[str]
    foreign_keys: list[tuple[list[str], str, list[str]]]


def _existing_tables(engine: Any, dialect: str) -> list[str]:
    import sqlalchemy

    inspector = sqlalchemy.inspect(engine)
    if dialect == "mysql":
        return inspector.get_table_names()
    schemas = [s for s in inspector.get_schema_names()
               if s not in ("information_schema", "pg_catalog", "pg_toast") and not s.startswith("pg_")]
    return [f"{s}.{t}" for s in schemas for t in inspector.get_table_names(schema=s)]


def _affinity(declared: str) -> str:
    """SQLite's type affinity of a declared type."""
    text = declared.upper()
    if "INT" in text:
        return "integer"
    if any(word in text for word in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if "BLOB" in text or not text.strip():
        return "blob"
    if any(word in text for word in ("REAL", "FLOA", "DOUB")):
        return "real"
    return "numeric"


def _kind(declared: str, values: list[Any]) -> str:
    """The column's type in the copy: its affinity, as far as every value fits it."""
    present = [v for v in values if v is not None]
    if any(isinstance(v, bytes) for v in present):
        return "blob" if all(isinstance(v, bytes) for v in present) else "text"
    affinity = _affinity(declared)
    if affinity == "text" or any(isinstance(v, str) for v in present):
        return "text"
    if all(isinstance(v, int) and -2 ** 63 <= v < 2 ** 63 for v in present) and affinity != "real":
        return "integer"
    return "real" if present or affinity in ("real", "numeric") else ("integer" if affinity == "integer" else "text")


def _read(source: Path, lower: bool) -> list[_Table]:
    conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    conn.text_factory = lambda data: data.decode("utf-8", errors="replace")
    try:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                                            "'sqlite_%' ORDER BY name")]
        tables = []
        for name in names:
            info = conn.execute(f'PRAGMA table_info("{name}")').fetchall()
            rows = conn.execute(f'SELECT * FROM "{name}"').fetchall()
            ddl = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
            comments = ddl_column_comments(ddl[0] if ddl else None)
            columns = []
            for position, (_cid, column, declared, notnull, _default, _pk) in enumerate(info):
                values = [r[position] for r in rows]
                kind = _kind(declared or "", values)
                longest = max((len(str(v)) for v in values if v is not None), default=0)
                columns.append(_Column(column, column.lower() if lower else column, declared or "", kind, longest,
                                       not_null=bool(notnull) and None not in values,
                                       comment=comments.get(column.lower())))
            key = [row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5])]
            foreign: dict[int, tuple[list[str], str, list[str]]] = {}
            for _id, seq, ref, origin, target, *_rest in conn.execute(f'PRAGMA foreign_key_list("{name}")'):
                entry = foreign.setdefault(_id, ([], ref, []))
                entry[0].insert(seq, origin)
                entry[2].insert(seq, target)
            tables.append(_Table(name, name.lower() if lower else name, columns, rows, key, list(foreign.values())))
        return tables
    finally:
        conn.close()


def _column_type(column: _Column, dialect: str, keyed: bool) -> Any:
    import sqlalchemy

    if column.kind == "integer":
        return sqlalchemy.BigInteger()
    if column.kind == "real":
        return sqlalchemy.Float(precision=53) if dialect == "postgresql" else sqlalchemy.Double()
    if column.kind == "blob":
        return sqlalchemy.LargeBinary()
    if dialect == "mysql" and keyed:
        return sqlalchemy.String(max(1, column.longest))
    return sqlalchemy.Text()


def _convert(value: Any, kind: str) -> Any:
    if value is None or kind == "blob":
        return value
    if kind == "integer":
        return int(value)
    if kind == "real":
        return float(value)
    return value if isinstance(value, str) else str(value)


def _plan_keys(tables: list[_Table], dialect: str, report: CopyReport) -> None:
    """Keep the primary keys that hold in the data (and fit a MySQL key), then the foreign keys that reference a
    kept key of a copied table with every child value present there."""
    by_name = {t.name.lower(): t for t in tables}
    for table in tables:
        columns = {c.name: c for c in table.columns}
        if not table.primary_key:
            continue
        positions = [[c.name for c in table.columns].index(k) for k in table.primary_key]
        values = [tuple(r[p] for p in positions) for r in table.rows]
        too_long = dialect == "mysql" and any(columns[k].kind == "text" and columns[k].longest > _MYSQL_KEY_CHARS
                                              for k in table.primary_key)
        if len(set(values)) != len(values) or any(None in v for v in values) or too_long:
            report.notes.append(f"{table.name}: primary key ({', '.join(table.primary_key)}) left out: its values "
                                f"are {'too long for a MySQL key' if too_long else 'not unique and present'}")
            table.primary_key = []
    for table in tables:
        kept = []
        for origin, ref, targets in table.foreign_keys:
            parent = by_name.get(ref.lower())
            problem = _foreign_key_problem(table, origin, parent, targets)
            if problem:
                report.notes.append(f"{table.name}: foreign key ({', '.join(origin)}) -> {ref} left out: {problem}")
            else:
                assert parent is not None  # the names as the tables spell them (SQLite's are case-insensitive)
                kept.append(([_named(table, o) for o in origin], parent.name,
                             [_named(parent, t) for t in (targets or parent.primary_key)]))
        table.foreign_keys = kept


def _named(table: _Table, name: str) -> str:
    return next(c.name for c in table.columns if c.name.lower() == name.lower())


def _foreign_key_problem(table: _Table, origin: list[str], parent: _Table | None, targets: list[str]) -> str | None:
    if parent is None:
        return "the referenced table does not exist"
    targets = targets or parent.primary_key
    known = {c.name.lower() for c in table.columns}, {c.name.lower() for c in parent.columns}
    if any(o.lower() not in known[0] for o in origin) or any(t.lower() not in known[1] for t in targets):
        return "it names a column that does not exist"
    if not parent.primary_key or [t.lower() for t in targets] != [k.lower() for k in parent.primary_key]:
        return "it does not reference the referenced table's primary key"
    child = [[c.name.lower() for c in table.columns].index(o.lower()) for o in origin]
    keyed = [[c.name.lower() for c in parent.columns].index(t.lower()) for t in targets]
    kinds = [(table.columns[a].kind, parent.columns[b].kind) for a, b in zip(child, keyed, strict=True)]
    if any(a != b for a, b in kinds):
        return "the columns' types differ"
    present = {tuple(r[p] for p in keyed) for r in parent.rows}
    orphans = sum(1 for r in table.rows if None not in (key := tuple(r[p] for p in child)) and key not in present)
    return f"{orphans} rows reference no parent" if orphans else None


def copy_sqlite(source: str | Path, target_url: str, *, command: str = "mscsql db copy") -> CopyReport:
    """Copy every table of the SQLite file ``source`` into the empty server database ``target_url``."""
    import sqlalchemy

    url, dialect = parse_server_url(target_url, command)
    shown = url.render_as_string(hide_password=True)
    path = Path(source).expanduser()
    if not path.is_file():
        raise DatabaseError(f"no SQLite database at {path}", hint="give the path of an existing .sqlite file")
    writer = sqlalchemy.create_engine(url.set(drivername="postgresql+psycopg" if dialect == "postgresql"
                                              else "mysql+pymysql"))
    try:
        try:
            existing = _existing_tables(writer, dialect)
        except sqlalchemy.exc.OperationalError as err:
            first = str(err.orig).strip().splitlines() if err.orig else [type(err).__name__]
            create = "createdb NAME" if dialect == "postgresql" else "mariadb -e 'CREATE DATABASE NAME'"
            raise DatabaseConnectionError(f"cannot connect to {shown}: {first[0]}",
                                          hint=f"create the empty database first, e.g. {create}") from None
        if existing:
            raise DatabaseError(f"{shown} already has tables ({', '.join(sorted(existing)[:5])}); {command} writes "
                                "only into an empty database", hint="create a new, empty database for it")
        tables = _read(path.resolve(), lower=dialect == "postgresql")
        report = CopyReport()
        _plan_keys(tables, dialect, report)
        try:
            _write(writer, dialect, tables, report)
        except sqlalchemy.exc.DBAPIError as err:  # the server refused: no right to create tables, read-only, ...
            first = (str(err.orig).strip().splitlines() if err.orig else []) or [type(err).__name__]
            kept = "" if dialect == "postgresql" else \
                " (MySQL keeps the tables made before the refusal: drop them before trying again)"
            raise DatabaseError(f"the server refused to write the copy into {shown}: {first[0]}{kept}",
                                hint="give a login that may create tables in that database (its owner)") from None
        return report
    finally:
        writer.dispose()


def _write(writer: Any, dialect: str, tables: list[_Table], report: CopyReport) -> None:
    import sqlalchemy

    metadata = sqlalchemy.MetaData()
    created: dict[str, Any] = {}
    keyed = {(t.name, k) for t in tables for k in t.primary_key}
    keyed |= {(t.name, o) for t in tables for origin, _r, _t in t.foreign_keys for o in origin}
    keyed |= {(ref, k) for t in tables for _o, ref, targets in t.foreign_keys for k in targets}
    for table in tables:
        columns = [sqlalchemy.Column(c.target, _column_type(c, dialect, (table.name, c.name) in keyed),
                                     primary_key=c.name in table.primary_key, autoincrement=False,
                                     nullable=c.name in table.primary_key or not c.not_null, comment=c.comment)
                   for c in table.columns]
        created[table.name] = sqlalchemy.Table(table.target, metadata, *columns)
    with writer.begin() as target:
        metadata.create_all(target)
        for table in tables:
            kinds = [c.kind for c in table.columns]
            rows = [{c.target: _convert(v, k) for c, v, k in zip(table.columns, row, kinds, strict=True)}
                    for row in table.rows]
            for start in range(0, len(rows), _BATCH):
                target.execute(created[table.name].insert(), rows[start:start + _BATCH])
            report.rows[table.target] = len(rows)
            log.info("copied %d rows of %s", len(rows), table.name)
        by_name = {t.name: t for t in tables}
        for table in tables:
            for origin, ref, refs in table.foreign_keys:
                constraint = sqlalchemy.ForeignKeyConstraint(
                    [_target(table, o) for o in origin], [created[ref].c[_target(by_name[ref], r)] for r in refs])
                created[table.name].append_constraint(constraint)
                target.execute(sqlalchemy.schema.AddConstraint(constraint))


def _target(table: _Table, name: str) -> str:
    """The copy's name of ``table``'s column ``name``."""
    return next(c.target for c in table.columns if c.name == name)
