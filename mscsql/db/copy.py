"""Copy a SQLite database (tables, keys, data) into a new, empty PostgreSQL or MySQL database.

An administrator's operation (``mscsql demo create --db URL``): the tables are read from the SQLite file with
SQLAlchemy's reflection and created on the server by SQLAlchemy for its dialect (so types, primary keys and
foreign keys are written the server's way), then the rows are inserted with bound parameters. Nothing else
runs, never a generated query, and a target database that already holds a table is refused.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mscsql.db.connect import parse_server_url
from mscsql.errors import DatabaseConnectionError, DatabaseError

log = logging.getLogger(__name__)
_BATCH = 1000


def _existing_tables(engine: Any, dialect: str) -> list[str]:
    import sqlalchemy

    inspector = sqlalchemy.inspect(engine)
    if dialect == "mysql":
        return inspector.get_table_names()
    schemas = [s for s in inspector.get_schema_names()
               if s not in ("information_schema", "pg_catalog", "pg_toast") and not s.startswith("pg_")]
    return [f"{s}.{t}" for s in schemas for t in inspector.get_table_names(schema=s)]


def copy_sqlite(source: str | Path, target_url: str, *, command: str = "mscsql demo create --db") -> dict[str, int]:
    """Copy every table of the SQLite file ``source`` into the empty server database ``target_url``; returns the
    rows copied per table."""
    import sqlalchemy

    url, dialect = parse_server_url(target_url, command)
    shown = url.render_as_string(hide_password=True)
    reader = sqlalchemy.create_engine(f"sqlite:///file:{Path(source).resolve()}?mode=ro&uri=true")
    writer = sqlalchemy.create_engine(url.set(drivername="postgresql+psycopg" if dialect == "postgresql"
                                              else "mysql+pymysql"))
    try:
        try:
            existing = _existing_tables(writer, dialect)
        except sqlalchemy.exc.OperationalError as err:
            first = str(err.orig).strip().splitlines() if err.orig else [type(err).__name__]
            raise DatabaseConnectionError(f"cannot connect to {shown}: {first[0]}",
                                          hint="create the empty database first, e.g. createdb NAME") from None
        if existing:
            raise DatabaseError(f"{shown} already has tables ({', '.join(sorted(existing)[:5])}); mscsql copies only "
                                "into an empty database", hint="create a new database for the copy")
        metadata = sqlalchemy.MetaData()
        metadata.reflect(reader)
        counts: dict[str, int] = {}
        with writer.begin() as target, reader.connect() as origin:
            metadata.create_all(target)
            for table in metadata.sorted_tables:  # parents before children, for the foreign keys
                rows = [dict(r._mapping) for r in origin.execute(table.select())]
                for start in range(0, len(rows), _BATCH):
                    target.execute(table.insert(), rows[start:start + _BATCH])
                counts[table.name] = len(rows)
                log.info("copied %d rows of %s", len(rows), table.name)
        return counts
    finally:
        reader.dispose()
        writer.dispose()
