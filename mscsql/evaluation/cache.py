"""On-disk cache of gold-query results, so a second scoring run does not execute gold queries again.

An entry is keyed by the sha256 of the database file's content, the exact text that runs, the text
decoding, the row cap and the SQLite version; a result that took longer than a run's timeout is not
used by that run; so a changed database or a different rule can never reuse a stale result.
File hashes are themselves cached by path, size, modification and change times and inode. The cache is one SQLite file
(written only by this module; never a user's database).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

from mscsql.benchmarks.loaders import sha256_file
from mscsql.fileio import output_folder
from mscsql.types import ExecutionResult, ExecutionStatus, ResultBudget

CACHE_VERSION = "1"


class GoldCache:
    def __init__(self, folder: str | Path | None) -> None:
        self.enabled = folder is not None
        self.folder = Path(folder) if folder is not None else None
        self._lock = threading.Lock()
        self._hashes: dict[str, str | None] = {}
        self._conn: sqlite3.Connection | None = None
        if folder is not None:
            output_folder(folder, "--cache-dir")
            # several worker processes share the file: WAL lets them read while one writes
            self._conn = sqlite3.connect(Path(folder) / "gold-results.sqlite", check_same_thread=False, timeout=60)
            self._conn.execute("PRAGMA journal_mode=WAL")
            # a cache: a power cut may lose the last entries (they are computed again), never corrupt the file
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, result TEXT NOT NULL)")
            self._conn.execute("CREATE TABLE IF NOT EXISTS file_hashes (path TEXT PRIMARY KEY, stat TEXT, sha256 TEXT)")
            self._conn.commit()

    def database_hash(self, database: str) -> str | None:
        """The content hash of a SQLite file (None for server databases, which are not cached)."""
        if "://" in database or self._conn is None:
            return None
        if database in self._hashes:
            return self._hashes[database]
        path = Path(database).resolve()
        st = path.stat()
        # the change time cannot be set back by copying tools (cp -p, rsync -t), unlike the modification time
        stat = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}:{st.st_dev}"
        with self._lock:
            row = self._conn.execute("SELECT stat, sha256 FROM file_hashes WHERE path = ?", (str(path),)).fetchone()
        if row is not None and row[0] == stat:
            digest = row[1]
        else:
            digest = sha256_file(path)
            with self._lock:
                self._conn.execute("INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?)", (str(path), stat, digest))
                self._conn.commit()
        self._hashes[database] = digest
        return digest

    def key(self, database: str, text: str, decoding: str, max_rows: int,
            budget: ResultBudget | None = None) -> str | None:
        digest = self.database_hash(database)
        if digest is None:
            return None
        limits = str(max_rows) if budget is None else f"{max_rows}:{budget.max_result_bytes}:{budget.max_value_bytes}"
        material = "\0".join((CACHE_VERSION, sqlite3.sqlite_version, digest, decoding, limits, text))
        return hashlib.sha256(material.encode("utf-8", errors="surrogatepass")).hexdigest()

    def get_many(self, keys: list[str]) -> dict[str, ExecutionResult]:
        if self._conn is None or not keys:
            return {}
        found: dict[str, ExecutionResult] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for key, payload in self._conn.execute(f"SELECT key, result FROM results WHERE key IN ({marks})",
                                                       chunk):
                    found[key] = _decode(payload)
        return found

    def put_many(self, entries: dict[str, ExecutionResult]) -> None:
        if self._conn is None or not entries:
            return
        with self._lock:
            self._conn.executemany("INSERT OR REPLACE INTO results VALUES (?, ?)",
                                   [(k, json.dumps(r.to_dict(), ensure_ascii=False)) for k, r in entries.items()])
            self._conn.commit()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _decode(payload: str) -> ExecutionResult:
    data = json.loads(payload)
    # the cells were made JSON-safe before they were stored, and JSON gives each back as it was
    return ExecutionResult(sql=data["sql"], status=ExecutionStatus(data["status"]), columns=tuple(data["columns"]),
                           rows=tuple(map(tuple, data["rows"])), row_count=data["row_count"],
                           truncated=data["truncated"], elapsed_s=data["elapsed_s"], error=data["error"])
