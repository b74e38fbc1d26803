"""Notes people write about a database (what a code means, which table holds the current data), for what no
table or column comment says. They go into every generator prompt for that database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from mscsql.errors import NotFound, RejectedInput
from mscsql.store.engine import utc_iso
from mscsql.store.migrations import notes_table


class NoteStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def add(self, database: str, text: str) -> dict[str, Any]:
        text = text.strip()
        if not text:
            raise RejectedInput("the note is empty")
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            number = conn.execute(notes_table.insert().values(database=database, text=text,
                                                              created_at=now)).inserted_primary_key[0]
        return {"id": int(number), "database": database, "text": text, "created_at": now.isoformat()}

    def list(self, database: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(notes_table).where(notes_table.c.database == database)
                                .order_by(notes_table.c.id)).mappings().all()
        return [{"id": int(r["id"]), "database": r["database"], "text": r["text"],
                 "created_at": utc_iso(r["created_at"])} for r in rows]

    def texts(self, database: str) -> tuple[str, ...]:
        return tuple(n["text"] for n in self.list(database))

    def remove(self, database: str, note_id: int) -> None:
        with self.engine.begin() as conn:
            gone = conn.execute(notes_table.delete().where(notes_table.c.database == database,
                                                           notes_table.c.id == note_id)).rowcount
        if not gone:
            raise NotFound(f"database {database!r} has no note {note_id}")
