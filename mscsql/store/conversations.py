"""Conversations: the questions asked one after the other about one database, each with the SQL chosen for it
and its result's columns, so a follow-up question ("and last year?") is read with what came before."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from mscsql.errors import NotFound, RejectedInput
from mscsql.store.engine import utc_iso
from mscsql.store.migrations import conversations_table, turns_table
from mscsql.types import Turn


class ConversationStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def start(self, database: str) -> str:
        """A new conversation about ``database``; returns its id."""
        conversation_id = uuid.uuid4().hex
        with self.engine.begin() as conn:
            conn.execute(conversations_table.insert().values(id=conversation_id, database=database,
                                                             created_at=datetime.now(UTC)))
        return conversation_id

    def database_of(self, conversation_id: str) -> str:
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(conversations_table.c.database)
                                 .where(conversations_table.c.id == conversation_id)).scalar()
        if found is None:
            raise NotFound(f"no conversation with id {conversation_id!r}",
                           hint="leave the conversation out to start a new one")
        return str(found)

    def require(self, conversation_id: str, database: str) -> None:
        """The conversation exists and is about ``database`` (else :class:`NotFound` or :class:`RejectedInput`)."""
        about = self.database_of(conversation_id)
        if about != database:
            raise RejectedInput(f"conversation {conversation_id!r} is about the database {about!r}, not {database!r}",
                                hint="continue it on its own database, or start a new conversation")

    def turns(self, conversation_id: str) -> tuple[Turn, ...]:
        """The conversation's turns, oldest first."""
        return tuple(Turn(r["question"], r["sql"], tuple(json.loads(r["columns"])), r["evidence"])
                     for r in self._rows(conversation_id))

    def add_turn(self, conversation_id: str, turn: Turn, answer_id: str | None = None) -> int:
        """Append ``turn``; returns its position (0 for the first). Two follow-ups added at once (threads, or
        replicas sharing the store) get distinct positions: the loser of a race takes the next one."""
        for _attempt in range(20):
            try:
                with self.engine.begin() as conn:
                    position = int(conn.execute(sa.select(sa.func.count()).where(
                        turns_table.c.conversation_id == conversation_id)).scalar() or 0)
                    conn.execute(turns_table.insert().values(
                        conversation_id=conversation_id, position=position, question=turn.question,
                        evidence=turn.evidence, sql=turn.sql, answer_id=answer_id, created_at=datetime.now(UTC),
                        columns=json.dumps(list(turn.columns), ensure_ascii=False)))
                return position
            except sa.exc.IntegrityError:
                continue
        raise RejectedInput(f"conversation {conversation_id!r} is taking too many turns at once")

    def correct_turn(self, answer_id: str, sql: str) -> None:
        """The turn of the stored answer ``answer_id`` continues with ``sql`` (its corrected query) from now on."""
        with self.engine.begin() as conn:
            conn.execute(turns_table.update().where(turns_table.c.answer_id == answer_id).values(sql=sql))

    def attach_answer(self, conversation_id: str, position: int, answer_id: str) -> None:
        """Note the stored answer of the turn at ``position``."""
        with self.engine.begin() as conn:
            conn.execute(turns_table.update().where(turns_table.c.conversation_id == conversation_id,
                                                    turns_table.c.position == position).values(answer_id=answer_id))

    def get(self, conversation_id: str) -> dict[str, Any]:
        """The conversation as the API shows it."""
        database = self.database_of(conversation_id)
        return {"id": conversation_id, "database": database,
                "turns": [{"position": r["position"], "question": r["question"], "evidence": r["evidence"],
                           "sql": r["sql"], "columns": json.loads(r["columns"]), "answer_id": r["answer_id"],
                           "created_at": utc_iso(r["created_at"])} for r in self._rows(conversation_id)]}

    def _rows(self, conversation_id: str) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(turns_table).where(turns_table.c.conversation_id == conversation_id)
                                     .order_by(turns_table.c.position)).mappings().all())
