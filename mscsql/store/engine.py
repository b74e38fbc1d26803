"""The store's database connection: SQLite (a file, or in memory for one process) or PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from mscsql.errors import ConfigError


def shown_url(url: str) -> str:
    """``url`` as messages show it: without its password."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return repr(url)


def open_engine(url: str) -> sa.Engine:
    """An engine for the store at ``url`` (a SQLite file or a PostgreSQL database)."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError("the store URL is not a database URL",
                          hint="e.g. sqlite:///mscsql-store.sqlite or postgresql://user@host/db") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"a store is a SQLite file or a PostgreSQL database, not {parsed.get_backend_name()}",
                          hint="e.g. sqlite:///mscsql-store.sqlite or postgresql://user@host/db")
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ConfigError("a store needs a SQLite file or a server database",
                              hint="e.g. sqlite:///mscsql-store.sqlite (Store() alone makes a throwaway one)")
        engine = sa.create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _wal(connection: Any, _record: Any) -> None:  # one writer, many readers; commits without a sync each
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        return sa.create_engine(parsed, pool_pre_ping=True)
    except ImportError as error:
        raise ConfigError(f"the store needs the {error.name} driver", hint="pip install 'mscsql[postgres]'") from None


def utc_iso(moment: datetime) -> str:
    """A stored time as ISO 8601 in UTC (SQLite gives times back without their zone)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()
