"""Answers kept under an id, so a client can fetch one again (``GET /v1/answers/{id}``) and later feedback can
point at it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from mscsql.errors import ConfigError
from mscsql.store.migrations import answers_table, migrate


def _engine(url: str) -> sa.Engine:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(f"store {url!r} is not a database URL",
                          hint="e.g. sqlite:///mscsql-store.sqlite or postgresql://user@host/db") from None
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed, connect_args={"check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _wal(connection: Any, _record: Any) -> None:  # one writer, many readers; commits without a sync each
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return sa.create_engine(parsed, pool_pre_ping=True)


class AnswerStore:
    """Answers as JSON by id, in the database at ``url``."""

    def __init__(self, url: str) -> None:
        self.engine = _engine(url)
        migrate(self.engine)

    def put(self, database: str, answer: dict[str, Any]) -> str:
        """Keep ``answer`` (a JSON-able dict); returns its new id."""
        answer_id = uuid.uuid4().hex
        with self.engine.begin() as conn:
            conn.execute(answers_table.insert().values(
                id=answer_id, database=database, question=str(answer.get("question", "")),
                created_at=datetime.now(UTC), answer=json.dumps({**answer, "id": answer_id}, ensure_ascii=False,
                                                                 default=str)))
        return answer_id

    def get(self, answer_id: str) -> dict[str, Any] | None:
        """The answer kept under ``answer_id``, or None."""
        with self.engine.connect() as conn:
            text = conn.execute(sa.select(answers_table.c.answer).where(answers_table.c.id == answer_id)).scalar()
        return json.loads(text) if text is not None else None

    def close(self) -> None:
        self.engine.dispose()
