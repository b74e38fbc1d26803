"""One store: answers and feedback, verified examples, conversations and notes, in one SQLAlchemy database."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from mscsql.errors import ConfigError, redact
from mscsql.store.answers import AnswerStore
from mscsql.store.conversations import ConversationStore
from mscsql.store.engine import open_engine, shown_url
from mscsql.store.examples import ExampleStore
from mscsql.store.migrations import migrate
from mscsql.store.notes import NoteStore


class Store:
    """What mscsql keeps, at ``url`` (a SQLAlchemy URL: ``sqlite:///file``, or ``postgresql://...`` for several
    replicas); brought to the current schema when opened. Without a URL, a throwaway store (a temporary file,
    deleted on :meth:`close`)."""

    def __init__(self, url: str | None = None) -> None:
        self._scratch = tempfile.TemporaryDirectory(prefix="mscsql-store-") if url is None else None
        if self._scratch is not None:
            url = f"sqlite:///{Path(self._scratch.name) / 'store.sqlite'}"
        assert url is not None
        self.url = url
        self.engine = open_engine(url)
        try:
            migrate(self.engine)
        except ConfigError:
            self.close()
            raise
        except Exception as error:  # the driver's or SQLAlchemy's own errors: a store that cannot be reached
            self.close()
            raise ConfigError(f"cannot open the store {shown_url(url)}: {redact(str(error)).splitlines()[0]}",
                              hint="check the store URL (sqlite:///path/file.sqlite, postgresql://user@host/db), "
                                   "that its folder exists and that the server is up") from None
        self.answers = AnswerStore(self.engine)
        self.examples = ExampleStore(self.engine)
        self.conversations = ConversationStore(self.engine)
        self.notes = NoteStore(self.engine)

    def add_feedback(self, answer_id: str, correct: bool, sql: str | None = None) -> dict[str, Any]:
        """Feedback on the stored answer ``answer_id`` (see :meth:`AnswerStore.add_feedback`). The answer's turn in
        its conversation continues with what the latest feedback says is right, so follow-up questions build on
        it: a corrected query, or the answer's own query once it is confirmed (after an earlier correction); a
        "wrong" without a query keeps the turn as it is."""
        saved = self.answers.add_feedback(answer_id, correct, sql)
        if sql:
            self.conversations.correct_turn(answer_id, sql)
        elif correct:
            answered = self.answers.get(answer_id) or {}
            if answered.get("sql"):
                self.conversations.correct_turn(answer_id, answered["sql"])
        return saved

    def close(self) -> None:
        self.engine.dispose()
        if self._scratch is not None:
            self._scratch.cleanup()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
