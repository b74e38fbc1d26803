"""Sentence embeddings kept on disk between runs, so that an evaluation run again (another miss budget, another
linker setting) embeds each question once, not once per run.

One SQLite file in mscsql's cache folder, keyed by the encoder's fingerprint (its id and, for a local model, its
files' sizes and times) and a digest of the text. A store that cannot be opened or read is left out with a
warning: the embeddings are then computed, never lost work and never a failed command.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FILE_NAME = "embeddings.sqlite"


def text_digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class EmbeddingStore:
    """Float32 embeddings by (model fingerprint, text) in ``folder/embeddings.sqlite``."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / FILE_NAME
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")  # several processes may read while one writes
            conn.execute("CREATE TABLE IF NOT EXISTS embeddings (model TEXT NOT NULL, text BLOB NOT NULL, "
                         "vector BLOB NOT NULL, PRIMARY KEY (model, text))")
            conn.commit()
            self._conn = conn
        except (OSError, sqlite3.Error) as err:
            log.warning("embeddings are not kept on disk (%s: %s)", self.path, err)

    @property
    def usable(self) -> bool:
        return self._conn is not None

    def get_many(self, model: str, texts: Iterable[str], dimension: int | None = None) -> dict[str, np.ndarray]:
        """The stored embeddings of those of ``texts`` that have one (of ``dimension`` values, when given)."""
        wanted = {text_digest(t): t for t in texts}
        if self._conn is None or not wanted:
            return {}
        found: dict[str, np.ndarray] = {}
        digests = list(wanted)
        try:
            with self._lock:
                for start in range(0, len(digests), 500):
                    batch = digests[start:start + 500]
                    marks = ",".join("?" * len(batch))
                    rows = self._conn.execute(f"SELECT text, vector FROM embeddings WHERE model = ? AND text IN "
                                              f"({marks})", (model, *batch)).fetchall()
                    for digest, blob in rows:
                        vector = np.frombuffer(blob, dtype=np.float32)
                        if dimension is None or vector.shape[0] == dimension:
                            found[wanted[digest]] = vector
        except sqlite3.Error as err:
            log.warning("the embedding store %s cannot be read (%s); computing the embeddings", self.path, err)
            return {}
        return found

    def put_many(self, model: str, vectors: Mapping[str, np.ndarray]) -> None:
        if self._conn is None or not vectors:
            return
        rows = [(model, text_digest(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in vectors.items()]
        try:
            with self._lock:
                self._conn.executemany("INSERT OR REPLACE INTO embeddings (model, text, vector) VALUES (?, ?, ?)",
                                       rows)
                self._conn.commit()
        except sqlite3.Error as err:
            log.warning("embeddings could not be kept in %s (%s)", self.path, err)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
