"""The store's schema, as numbered migrations applied in order; the database records the last one applied, so
a store made by an older mscsql is brought up to date and one made by a newer mscsql is refused."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import sqlalchemy as sa

from mscsql.errors import ConfigError

log = logging.getLogger(__name__)

metadata = sa.MetaData()

version_table = sa.Table("mscsql_store_version", metadata, sa.Column("version", sa.Integer, nullable=False))

answers_table = sa.Table(
    "mscsql_answers", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("database", sa.String(200), nullable=False, index=True),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("answer", sa.Text, nullable=False),  # the answer's JSON, as the API returns it
)

feedback_table = sa.Table(
    "mscsql_feedback", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("answer_id", sa.String(32), sa.ForeignKey("mscsql_answers.id"), nullable=False, index=True),
    sa.Column("correct", sa.Boolean, nullable=False),
    sa.Column("sql", sa.Text, nullable=True),  # the corrected query, when one was given
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

examples_table = sa.Table(
    "mscsql_examples", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("database", sa.String(200), nullable=False, index=True),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("evidence", sa.Text, nullable=True),
    sa.Column("sql", sa.Text, nullable=False),
    sa.Column("source", sa.String(20), nullable=False),  # added, imported or promoted
    sa.Column("answer_id", sa.String(32), nullable=True),  # the answer it was promoted from
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,  # an id is never given again after a removal (caches key on the highest id)
)

conversations_table = sa.Table(
    "mscsql_conversations", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("database", sa.String(200), nullable=False, index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

turns_table = sa.Table(
    "mscsql_turns", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(32), sa.ForeignKey("mscsql_conversations.id"), nullable=False,
              index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("evidence", sa.Text, nullable=True),
    sa.Column("sql", sa.Text, nullable=True),  # the chosen query (None when nothing was proposed)
    sa.Column("columns", sa.Text, nullable=False),  # the result's column names, as a JSON list
    sa.Column("answer_id", sa.String(32), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("conversation_id", "position", name="mscsql_turns_one_per_position"),
)

notes_table = sa.Table(
    "mscsql_notes", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("database", sa.String(200), nullable=False, index=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,
)

#: version -> the tables it creates (later versions add tables or columns)
MIGRATIONS: dict[int, tuple[sa.Table, ...]] = {
    1: (answers_table,),
    2: (feedback_table,),
    3: (examples_table, conversations_table, turns_table, notes_table),  # what people teach, conversations
    4: (),  # the default name of a server database spells out the default port (see _name_default_ports)
}
LATEST = max(MIGRATIONS)

#: the port a server database's default name shows when its URL gives none
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}
_PORTLESS = re.compile(r"^(?P<backend>[a-z]+)://(?P<host>[^/:]*):/(?P<database>.*)$")


def _name_default_ports(conn: sa.Connection) -> None:
    """Version 4: names made from a URL without a port (``postgresql://host:/db``) get the default port, as
    names are made now, so a database reached with or without ``:5432`` keeps one name."""
    for table in (answers_table, examples_table, conversations_table, notes_table):
        names = conn.execute(sa.select(table.c.database).distinct()).scalars().all()
        for name in names:
            found = _PORTLESS.match(name)
            if found and found["backend"] in DEFAULT_PORTS:
                renamed = f"{found['backend']}://{found['host']}:{DEFAULT_PORTS[found['backend']]}/{found['database']}"
                conn.execute(table.update().where(table.c.database == name).values(database=renamed))


#: version -> what it changes in the rows already kept
DATA_STEPS: dict[int, Callable[[sa.Connection], None]] = {4: _name_default_ports}


def migrate(engine: sa.Engine) -> int:
    """Bring the store at ``engine`` to :data:`LATEST`; returns the version it found (0: a new store)."""
    with engine.begin() as conn:
        version_table.create(conn, checkfirst=True)
        found = conn.execute(sa.select(version_table.c.version)).scalar()
        current = int(found or 0)
        if current > LATEST:
            raise ConfigError(f"the store is at schema version {current}, newer than this mscsql knows ({LATEST})",
                              hint="upgrade mscsql, or give another store URL")
        for version in range(current + 1, LATEST + 1):
            for table in MIGRATIONS[version]:
                table.create(conn, checkfirst=True)
            if version in DATA_STEPS and current:  # a new store has no rows to change
                DATA_STEPS[version](conn)
            log.info("store: applied migration %d", version)
        if found is None:
            conn.execute(version_table.insert().values(version=LATEST))
        elif current != LATEST:
            conn.execute(version_table.update().values(version=LATEST))
    return current
