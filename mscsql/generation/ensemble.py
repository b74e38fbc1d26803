"""Run an ensemble of generators over a set of prompts, one generator at a time, through the sample store.

Each generator is loaded only when some prompt lacks its samples, answers the missing prompts in chunks
(one ``generate`` call per chunk; its samples are stored as soon as the chunk returns), and is closed
before the next one loads: an ensemble of several models needs the memory of one at a time. Stored
samples are keyed by the generator's name *and* a fingerprint of its backend, model, adapter and options,
so changing the model under the same name never reuses the old samples.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence

from mscsql.config import GeneratorConfig
from mscsql.generation.base import Generator, Sample
from mscsql.generation.registry import build_generator, sampling_params
from mscsql.generation.store import SampleStore
from mscsql.prompts import RenderedPrompt

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


def run_generator(config: GeneratorConfig, prompts: Sequence[RenderedPrompt], store: SampleStore, *,
                  chunk_size: int = 256, build: Callable[[GeneratorConfig], Generator] = build_generator) -> int:
    """Make sure ``store`` holds this generator's samples for every prompt; returns how many it generated."""
    sampling = sampling_params(config)
    key = generator_key(config)
    todo = [i for i, p in enumerate(prompts) if store.get(key, p.prompt_hash, sampling) is None]
    todo = list({prompts[i].prompt_hash: i for i in reversed(todo)}.values())[::-1]  # each distinct prompt once
    if not todo:
        return 0
    log.info("%s: generating for %d prompts (%d stored)", config.name, len(todo), len(prompts) - len(todo))
    generator = build(config)
    try:
        for start in range(0, len(todo), chunk_size):
            part = todo[start:start + chunk_size]
            answers = generator.generate([list(prompts[i].messages) for i in part], sampling)
            for i, samples in zip(part, answers, strict=True):
                store.put(key, prompts[i].prompt_hash, sampling, samples, template=prompts[i].template)
    finally:
        close = getattr(generator, "close", None)
        if callable(close):
            close()
    return len(todo)


def stored_samples(config: GeneratorConfig, prompt: RenderedPrompt, store: SampleStore) -> list[Sample]:
    return store.get(generator_key(config), prompt.prompt_hash, sampling_params(config)) or []
