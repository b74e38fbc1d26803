"""The sample store: every sample, appended to JSONL as soon as a generator returns it, keyed by generator,
prompt hash and sampling parameters, so a re-run (or a run resumed after a kill) reuses what is stored and
later stages can be re-run on CPU."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from mscsql.generation.base import Sample, SamplingParams

if TYPE_CHECKING:
    from mscsql.config import GeneratorConfig

log = logging.getLogger(__name__)


#: options that change how a backend runs, not what it generates
_RUNTIME_OPTIONS = frozenset({"concurrency", "timeout_s", "max_retries", "backoff_s", "batch_size", "api_key",
                              "progress", "gpu_memory_utilization"})


def generator_key(config: GeneratorConfig) -> str:
    """``name@fingerprint``: the store's name for what this generator produces."""
    identity = {"backend": config.backend, "model": config.model, "adapter": config.adapter,
                "options": {k: v for k, v in sorted(config.options.items()) if k not in _RUNTIME_OPTIONS}}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{config.name}@{digest}"


def sampling_key(sampling: SamplingParams) -> str:
    """A stable hash of the sampling parameters (n included: n=4 samples are not n=8 samples' prefix)."""
    payload = json.dumps(asdict(sampling), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class SampleStore:
    """Samples in ``path`` (JSONL, one record per prompt and generator). Appends are flushed at once; a line
    cut short by a kill is ignored on the next start."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._records: dict[tuple[str, str, str], list[Sample]] = {}
        if self.path.is_file():
            for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
                try:
                    record = json.loads(line)
                    key = (record["generator"], record["prompt_hash"], record["sampling"])
                    self._records[key] = [Sample(**s) for s in record["samples"]]
                except (json.JSONDecodeError, KeyError, TypeError):
                    log.warning("%s: line %d is incomplete and is ignored", self.path, number)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return len(self._records)

    def generators(self) -> list[str]:
        """The names of the generators that have samples here (without their ``@`` fingerprints)."""
        return sorted({name.split("@")[0] for name, _hash, _sampling in self._records})

    def get(self, generator: str, prompt_hash: str, sampling: SamplingParams) -> list[Sample] | None:
        return self._records.get((generator, prompt_hash, sampling_key(sampling)))

    def find(self, prompt_hash: str, generator: str | None = None) -> list[Sample] | None:
        """Samples stored for a prompt (by any generator unless one is named, with or without its ``@``
        fingerprint; the first record found)."""
        for (name, stored_hash, _sampling), samples in self._records.items():
            if stored_hash == prompt_hash and (generator is None or generator in (name, name.split("@")[0])):
                return samples
        return None

    def put(self, generator: str, prompt_hash: str, sampling: SamplingParams, samples: list[Sample],
            **extra: object) -> None:
        key = (generator, prompt_hash, sampling_key(sampling))
        record = {"generator": generator, "prompt_hash": prompt_hash, "sampling": key[2],
                  "sampling_params": asdict(sampling), **extra, "samples": [asdict(s) for s in samples]}
        with self._lock:
            self._records[key] = samples
            with self.path.open("a", encoding="utf-8") as sink:
                sink.write(json.dumps(record, ensure_ascii=False) + "\n")
                sink.flush()
