"""The value index of one database: distinct text values, their embeddings, and a lexical matcher.

On disk an index is a folder holding ``meta.json`` (format version, database fingerprint, encoder
fingerprint, settings), ``values.json`` (columns and values) and ``embeddings.npy`` (float16, one row per
value). No pickle. :meth:`ValueIndex.open` loads a folder only when its fingerprints and settings match
the database and the configuration; anything stale is rebuilt, and the log says why.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mscsql.config import RetrievalSettings, default_cache_dir
from mscsql.db.base import Database
from mscsql.errors import ConfigError, DatasetError
from mscsql.retrieval.encoder import Encoder, get_encoder
from mscsql.retrieval.extract import ColumnValues, file_fingerprint, iter_column_values, values_fingerprint
from mscsql.retrieval.lexical import LexicalMatcher
from mscsql.retrieval.text import split_identifier, stems
from mscsql.types import ValueMatch

log = logging.getLogger(__name__)

#: bump when what goes into an index changes (text-like types, display cuts, normalisation, column texts)
FORMAT_VERSION = 2
_SETTINGS_THAT_SHAPE_THE_INDEX = ("max_values_per_column", "max_value_chars", "embed_values")


def database_location(db: Database) -> str:
    """Where ``db`` is: the SQLite file's absolute path, else its URL without the password."""
    path = getattr(db, "path", None)
    return str(Path(path).resolve()) if path is not None else db.display_url


def default_index_dir(db: Database) -> Path:
    """``<cache>/index/<db_id>-<hash of the database location>`` (see :func:`mscsql.config.default_cache_dir`)."""
    import hashlib

    root = default_cache_dir()
    location = database_location(db)
    digest = hashlib.blake2b(location.encode(), digest_size=6).hexdigest()
    name = getattr(db, "db_id", None) or "db"
    return root / "index" / f"{name}-{digest}"


class ValueIndex:
    """Distinct values of a database's text-like columns, searchable by exact, near-exact and semantic
    matches. Build with :meth:`build`, persist with :meth:`save`, reopen with :meth:`open`."""

    def __init__(self, columns: Sequence[tuple[str, str]], values: Sequence[str], column_of: np.ndarray,
                 embeddings: np.ndarray | None, *, settings: RetrievalSettings, encoder: Encoder | None,
                 db_fingerprint: str, encoder_fingerprint: str | None,
                 column_embeddings: np.ndarray | None = None) -> None:
        self.columns = list(columns)
        self.values = list(values)
        self.column_of = np.asarray(column_of, dtype=np.int32)
        self.embeddings = embeddings
        self.settings = settings
        self.encoder = encoder
        self.db_fingerprint = db_fingerprint
        self.encoder_fingerprint = encoder_fingerprint
        self.column_embeddings = column_embeddings
        #: where the indexed database is (kept in the folder, so another database's index is never replaced)
        self.database: str | None = None
        self.lexical = LexicalMatcher(self.values)
        self.column_sizes = np.bincount(self.column_of, minlength=len(self.columns))
        # each column's values are stored together, in column order
        self._column_start = np.concatenate([[0], np.cumsum(self.column_sizes)]).astype(np.int64)
        self._column_compact = [split_identifier(c).replace(" ", "") for _t, c in self.columns]

    def __len__(self) -> int:
        return len(self.values)

    # -- building ---------------------------------------------------------------------------------
    @classmethod
    def build(cls, db: Database, settings: RetrievalSettings | None = None, *, encoder: Encoder | None = None,
              progress: bool = False) -> ValueIndex:
        settings = settings or RetrievalSettings()
        column_values = list(iter_column_values(db, cap=settings.max_values_per_column,
                                                max_chars=settings.max_value_chars, progress=progress))
        return cls.from_values(column_values, settings=settings, encoder=encoder,
                               db_fingerprint=database_fingerprint(db, column_values), progress=progress)

    @classmethod
    def from_values(cls, column_values: Sequence[ColumnValues], *, settings: RetrievalSettings | None = None,
                    encoder: Encoder | None = None, db_fingerprint: str = "", progress: bool = False) -> ValueIndex:
        settings = settings or RetrievalSettings()
        columns: list[tuple[str, str]] = []
        values: list[str] = []
        column_of: list[int] = []
        for cv in column_values:
            if not cv.values:
                continue
            columns.append((cv.table, cv.column))
            values.extend(cv.values)
            column_of.extend([len(columns) - 1] * len(cv.values))
        embeddings = None
        column_embeddings = None
        encoder_fingerprint = None
        if settings.embed_values:
            encoder = encoder or get_encoder(settings.encoder, settings.device, settings.batch_size)
            encoder_fingerprint = encoder.fingerprint
            embeddings = encoder.encode_bulk(values, progress=progress and len(values) > 1000)
            column_embeddings = encoder.encode_bulk([column_text(t, c) for t, c in columns])
        return cls(columns, values, np.asarray(column_of, dtype=np.int32), embeddings, settings=settings,
                   encoder=encoder, db_fingerprint=db_fingerprint, encoder_fingerprint=encoder_fingerprint,
                   column_embeddings=column_embeddings)

    # -- persistence --------------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, "db_fingerprint": self.db_fingerprint,
                "encoder": self.encoder_fingerprint,
                "settings": {k: getattr(self.settings, k) for k in _SETTINGS_THAT_SHAPE_THE_INDEX},
                "columns": len(self.columns), "values": len(self.values), "database": self.database}

    def save(self, folder: str | Path) -> Path:
        """Write the index to ``folder`` atomically: a half-written index is never left behind, and a
        folder that is not a value index is never replaced."""
        folder = Path(folder)
        if folder.exists() and not is_index_folder(folder):
            raise ConfigError(f"{folder} exists and is not a value index; mscsql will not replace it",
                              hint="choose an empty or new folder for the index")
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        except OSError as err:
            raise ConfigError(f"cannot write the value index to {folder}: {err}",
                              hint="choose a writable folder (--out), or set MSCSQL_CACHE_DIR") from None
        try:
            payload = {"columns": [list(c) for c in self.columns], "values": self.values,
                       "column_of": self.column_of.tolist()}
            (staging / "values.json").write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
            if self.embeddings is not None:
                np.save(staging / "embeddings.npy", self.embeddings.astype(np.float16), allow_pickle=False)
            if self.column_embeddings is not None:
                np.save(staging / "column_embeddings.npy", self.column_embeddings.astype(np.float16),
                        allow_pickle=False)
            (staging / "meta.json").write_text(json.dumps(self._meta(), indent=2), encoding="utf-8")
            retired = None
            if folder.exists():
                retired = folder.with_name(f".{folder.name}-old-{os.getpid()}")
                folder.rename(retired)
            staging.rename(folder)
            if retired is not None:
                shutil.rmtree(retired, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return folder

    @classmethod
    def load(cls, folder: str | Path, settings: RetrievalSettings | None = None, *,
             encoder: Encoder | None = None) -> ValueIndex:
        """Read an index folder as it is (no freshness check; :meth:`open` checks)."""
        folder = Path(folder)
        settings = settings or RetrievalSettings()
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            payload = json.loads((folder / "values.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DatasetError(f"{folder} is not a value index (meta.json or values.json is missing)",
                               hint="build one with: mscsql index build <database> --out DIR") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DatasetError(f"value index {folder} is damaged: {err}", hint="rebuild it") from None
        try:
            columns = [tuple(c) for c in payload["columns"]]
            values = payload["values"]
            column_of = np.asarray(payload["column_of"], dtype=np.int32)
            embeddings = _load_array(folder / "embeddings.npy")
            column_embeddings = _load_array(folder / "column_embeddings.npy")
        except (KeyError, TypeError, ValueError, OSError) as err:
            raise DatasetError(f"value index {folder} is damaged: {err}", hint="rebuild it") from None
        consistent = (len(values) == len(column_of)
                      and (embeddings is None or len(embeddings) == len(values))
                      and (column_embeddings is None or len(column_embeddings) == len(columns))
                      and (not len(column_of) or int(column_of.max()) < len(columns)))
        if not consistent:
            raise DatasetError(f"value index {folder} is damaged: its files disagree on sizes", hint="rebuild it")
        if embeddings is not None and settings.embed_values and encoder is None:
            encoder = get_encoder(settings.encoder, settings.device, settings.batch_size)
        index = cls(columns, values, column_of, embeddings, settings=settings, encoder=encoder,
                    db_fingerprint=meta.get("db_fingerprint", ""), encoder_fingerprint=meta.get("encoder"),
                    column_embeddings=column_embeddings)
        index.database = meta.get("database")
        return index

    @classmethod
    def open(cls, db: Database, folder: str | Path | None = None, settings: RetrievalSettings | None = None, *,
             encoder: Encoder | None = None, progress: bool = False, rebuild: bool = False) -> ValueIndex:
        """The index of ``db`` stored in ``folder``, rebuilt (and saved) when missing, stale or ``rebuild``."""
        settings = settings or RetrievalSettings()
        if folder is not None and not rebuild:
            _refuse_another_database(Path(folder), db)
        folder = Path(folder) if folder is not None else default_index_dir(db)
        reason = "a rebuild was asked for" if rebuild else stale_reason(folder, db, settings, encoder)
        if reason is None:
            log.debug("using the value index in %s", folder)
            try:
                return cls.load(folder, settings, encoder=encoder)
            except DatasetError as err:
                reason = str(err)
        log.info("building the value index of %s in %s (%s)", db.display_url, folder, reason)
        index = cls.build(db, settings, encoder=encoder, progress=progress)
        index.database = database_location(db)
        index.save(folder)
        return index

    # -- searching ----------------------------------------------------------------------------------
    def search(self, text: str, *, top_k: int | None = None, per_column: int | None = None,
               query_embedding: np.ndarray | None = None) -> list[ValueMatch]:
        """Values that ``text`` (a question, plus its evidence) mentions or means, best first.

        The text is embedded once (or ``query_embedding`` is used); exact mentions rank first, then
        near-exact ones, then semantic neighbours above ``settings.min_embedding``.
        """
        settings = self.settings
        top_k = top_k or settings.top_k
        per_column = per_column or settings.per_column
        scored: dict[int, tuple[float, str]] = self.lexical.search(text, min_score=settings.min_fuzzy)
        if self.embeddings is not None and len(self.values) and self.encoder is not None:
            if query_embedding is None:
                query_embedding = self.encoder.encode([text])[0]
            query = query_embedding.astype(np.float32)
            similarities = self.embeddings @ query
            k = min(len(similarities), top_k * 4)
            best = np.argpartition(-similarities, k - 1)[:k]
            for i in best.tolist():
                sim = float(similarities[i])
                if sim >= settings.min_embedding and (i not in scored or scored[i][0] < sim * 0.9):
                    # semantic matches rank below exact and near-exact mentions of similar strength
                    scored[i] = (sim * 0.9, "embedding")
        self._add_categories(text, query_embedding, scored)
        ranked = sorted(scored.items(), key=lambda item: (-item[1][0], item[0]))
        per_column_count: dict[int, int] = {}
        matches: list[ValueMatch] = []
        for i, (score, source) in ranked:
            col = int(self.column_of[i])
            if per_column_count.get(col, 0) >= per_column:
                continue
            per_column_count[col] = per_column_count.get(col, 0) + 1
            table, column = self.columns[col]
            matches.append(ValueMatch(table=table, column=column, value=self.values[i], score=round(score, 4),
                                      source=source))
            if len(matches) >= top_k:
                break
        return matches


    def _add_categories(self, text: str, query: np.ndarray | None, scored: dict[int, tuple[float, str]]) -> None:
        """All values of the few-valued columns the question talks about ("official" → 'T', 'F'): a
        question rarely quotes how a flag or a category is stored. A column is talked about when its name
        shares a word stem with the question (also inside a compound name: "official" in "IsOfficial"), or,
        with embeddings, when the question is close to the column's name."""
        if not len(self.columns):
            return
        cap = self.settings.category_max_values
        relevance = self.column_embeddings @ query if self.column_embeddings is not None and query is not None \
            else np.zeros(len(self.columns))
        question_stems = [s for s in stems(text) if len(s) >= 4]
        for col in np.flatnonzero(self.column_sizes <= cap).tolist():
            lexical = any(s in self._column_compact[col] for s in question_stems)
            strength = float(relevance[col]) + (0.4 if lexical else 0.0)
            if strength < self.settings.category_min_relevance:
                continue
            score = round(min(0.6, 0.3 + 0.5 * strength), 4)
            for i in range(int(self._column_start[col]), int(self._column_start[col + 1])):
                if i not in scored:
                    scored[i] = (score, "category")

    def column_values(self, table: str, column: str) -> list[str]:
        """The indexed values of one column, most frequent first."""
        for col, (t, c) in enumerate(self.columns):
            if t.lower() == table.lower() and c.lower() == column.lower():
                return self.values[int(self._column_start[col]):int(self._column_start[col + 1])]
        return []


def _load_array(path: Path) -> np.ndarray | None:
    return np.load(path, allow_pickle=False).astype(np.float32) if path.is_file() else None


def is_index_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a value index (and may therefore be replaced by a new one)."""
    try:
        return "format" in json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


def stored_settings(folder: str | Path) -> RetrievalSettings | None:
    """The settings an existing index folder was built with (None when there is none), so that searching it
    does not silently rebuild it with other settings."""
    try:
        meta = json.loads((Path(folder) / "meta.json").read_text(encoding="utf-8"))
        options = dict(meta["settings"])
        if meta.get("encoder"):
            options["encoder"] = str(meta["encoder"]).split("@", 1)[0]
        return RetrievalSettings(**options)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def column_text(table: str, column: str) -> str:
    """What the encoder reads for a column when deciding whether a question is about it."""
    return f"{split_identifier(column)} of {split_identifier(table.split('.')[-1])}"


def database_fingerprint(db: Database, column_values: Sequence[ColumnValues] | None = None) -> str:
    """SQLite: a hash of the file. Servers: a hash of the values the index holds."""
    path = getattr(db, "path", None)
    if isinstance(path, Path) and path.is_file():
        return "file:" + file_fingerprint(path)
    if column_values is None:
        return ""
    return "values:" + values_fingerprint(list(column_values))


def _refuse_another_database(folder: Path, db: Database) -> None:
    """A folder the user named that holds the index of another database is not rebuilt over."""
    try:
        owner = json.loads((folder / "meta.json").read_text(encoding="utf-8")).get("database")
    except (OSError, ValueError, AttributeError):
        return  # no index there (or a damaged one): building one is what was asked
    here = database_location(db)
    if owner and owner != here:
        raise ConfigError(f"{folder} holds the value index of {owner}, not of {here}; mscsql will not replace it",
                          hint=f"give another folder (or none: each database gets its own), or replace it: "
                               f"mscsql index build DATABASE --out {folder} --rebuild")


def stale_reason(folder: Path, db: Database, settings: RetrievalSettings, encoder: Encoder | None) -> str | None:
    """Why the index in ``folder`` cannot serve ``db`` with ``settings`` (None when it can)."""
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return "no index yet"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return "the stored index is damaged"
    if meta.get("format") != FORMAT_VERSION:
        return f"index format {meta.get('format')} is not the current {FORMAT_VERSION}"
    wanted = {k: getattr(settings, k) for k in _SETTINGS_THAT_SHAPE_THE_INDEX}
    if meta.get("settings") != wanted:
        return "the index was built with other settings"
    if settings.embed_values:
        encoder = encoder or get_encoder(settings.encoder, settings.device, settings.batch_size)
        if meta.get("encoder") != encoder.fingerprint:
            return f"the index was built with another encoder ({meta.get('encoder')})"
    stored = meta.get("db_fingerprint", "")
    if stored.startswith("file:"):
        current = database_fingerprint(db)
    else:
        started = time.perf_counter()
        current = database_fingerprint(db, list(iter_column_values(
            db, cap=settings.max_values_per_column, max_chars=settings.max_value_chars)))
        log.debug("fingerprinted the values of %s in %.2fs", db.display_url, time.perf_counter() - started)
    if current != stored:
        return "the database changed since the index was built"
    return None
