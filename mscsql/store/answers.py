"""Answers kept under an id, so a client can fetch one again (``GET /v1/answers/{id}``), and the feedback
people give on them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from mscsql.errors import NotFound, RejectedInput
from mscsql.store.engine import utc_iso
from mscsql.store.migrations import answers_table, feedback_table


class AnswerStore:
    """Answers as JSON by id, and feedback on them."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

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

    def with_feedback(self, database: str | None = None) -> list[dict[str, Any]]:
        """Every answer (of ``database``, when given) that has feedback, oldest first, each with its feedback."""
        query = sa.select(answers_table.c.answer).where(
            answers_table.c.id.in_(sa.select(feedback_table.c.answer_id))).order_by(answers_table.c.created_at)
        if database is not None:
            query = query.where(answers_table.c.database == database)
        with self.engine.connect() as conn:
            found = [json.loads(text) for text in conn.execute(query).scalars()]
        return [{**answer, "feedback": self.feedback(answer["id"])} for answer in found]

    def add_feedback(self, answer_id: str, correct: bool, sql: str | None = None) -> dict[str, Any]:
        """Record whether the answer ``answer_id`` was right (and, when it was not, the query that is); returns
        the feedback as stored. An unknown answer is a :class:`NotFound`; a confirmation with a query, a
        :class:`RejectedInput` (it would say the answer was right and keep another query for it)."""
        if correct and sql:
            raise RejectedInput("a confirmation takes no query: it says the answer's own query was right",
                                hint="to give the right query, mark the answer wrong with it (correct: false, sql; "
                                     "on the command line --wrong --sql)")
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
                 "created_at": utc_iso(r["created_at"])} for r in rows]

