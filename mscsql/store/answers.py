"""Answers kept under an id, so a client can fetch one again (``GET /v1/answers/{id}``) and later feedback can
point at it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from mscsql.errors import ConfigError, NotFound
from mscsql.store.migrations import answers_table, feedback_table, migrate


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
                created_at=datetime.now(UTC), answer=json.dumps({**answer, "database": database, "id": answer_id},
                                                                 ensure_ascii=False,
                                                                 default=str)))
        return answer_id

    def get(self, answer_id: str) -> dict[str, Any] | None:
        """The answer kept under ``answer_id``, or None."""
        with self.engine.connect() as conn:
            text = conn.execute(sa.select(answers_table.c.answer).where(answers_table.c.id == answer_id)).scalar()
        return json.loads(text) if text is not None else None

    def add_feedback(self, answer_id: str, correct: bool, sql: str | None = None) -> dict[str, Any]:
        """Record whether the answer ``answer_id`` was right (and, when it was not, the query that is); returns
        the feedback as stored. An unknown answer is a :class:`NotFound`."""
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            exists = conn.execute(sa.select(answers_table.c.id).where(answers_table.c.id == answer_id)).scalar()
            if exists is None:
                raise NotFound(f"no answer with id {answer_id!r}")
            number = conn.execute(feedback_table.insert().values(answer_id=answer_id, correct=correct, sql=sql,
                                                                  created_at=now)).inserted_primary_key[0]
        return {"id": int(number), "answer_id": answer_id, "correct": correct, "sql": sql,
                "created_at": now.isoformat()}

    def feedback(self, answer_id: str) -> list[dict[str, Any]]:
        """Every feedback on ``answer_id``, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(feedback_table).where(feedback_table.c.answer_id == answer_id)
                                .order_by(feedback_table.c.id)).mappings().all()
        return [{"id": r["id"], "answer_id": r["answer_id"], "correct": r["correct"], "sql": r["sql"],
                 "created_at": r["created_at"].isoformat()} for r in rows]

    def close(self) -> None:
        self.engine.dispose()
