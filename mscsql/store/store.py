"""One store: answers and feedback, verified examples, conversations and notes, in one SQLAlchemy database."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mscsql.store.answers import AnswerStore
from mscsql.store.conversations import ConversationStore
from mscsql.store.engine import open_engine
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
        migrate(self.engine)
        self.answers = AnswerStore(self.engine)
        self.examples = ExampleStore(self.engine)
        self.conversations = ConversationStore(self.engine)
        self.notes = NoteStore(self.engine)

    def close(self) -> None:
        self.engine.dispose()
        if self._scratch is not None:
            self._scratch.cleanup()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
