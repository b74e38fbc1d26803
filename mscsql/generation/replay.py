"""The ``replay`` backend: serves stored samples or published prediction files as if a model had produced
them, so the rest of the pipeline and the evaluation run without a GPU.

A replay member of a config names its source in ``options``: ``samples`` (the ``samples.jsonl`` that every
run and every traced ``ask`` keeps; ``generator`` picks one generator's samples in it, by name) or
``predictions`` (a benchmark's prediction file, one SQL query per question; only a benchmark run can tell
which line answers which question). Each prompt gets what is stored for it, however many samples there are,
whatever ``n`` asks for: repeating one answer would fake agreement.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mscsql.errors import DatasetError, GenerationError
from mscsql.generation.base import ChatPrompt, Sample, SamplingParams
from mscsql.generation.store import SampleStore
from mscsql.prompts import prompt_hash

if TYPE_CHECKING:
    from mscsql.config import GeneratorConfig

log = logging.getLogger(__name__)


def messages_hash(prompt: ChatPrompt) -> str:
    """The key replay uses for a prompt registered by hand: a hash of its messages."""
    return prompt_hash(list(prompt), "replay")


class ReplayGenerator:
    """Answers prompts with stored texts: those registered for a prompt's messages (:meth:`register`), or,
    through :meth:`replay`, an earlier run's sample store (by prompt hash) or a prediction file (by question
    key)."""

    def __init__(self, name: str = "replay", *, samples: str | Path | None = None, generator: str | None = None,
                 predictions: Mapping[Any, str] | None = None) -> None:
        self.name = name
        self._answers: dict[str, list[str]] = {}
        self._generator = generator
        self._predictions = predictions
        self._store: SampleStore | None = None
        if samples is not None:
            path = Path(samples)
            if not path.is_file():
                raise DatasetError(f"replay generator {name!r}: no sample file {path}",
                                   hint="options.samples names the samples.jsonl of an earlier run or trace")
            self._store = SampleStore(path)
            known = self._store.generators()
            if generator is not None and generator not in known:
                raise DatasetError(f"replay generator {name!r}: {path} has no samples of a generator named "
                                   f"{generator!r}", hint=f"options.generator names one of: {', '.join(known)}"
                                   if known else "the file holds no samples yet")

    @classmethod
    def from_config(cls, config: GeneratorConfig, predictions: Mapping[Any, str] | None = None) -> ReplayGenerator:
        """The replay member ``config``; ``predictions``: its prediction file already read (question key ->
        SQL) by a benchmark run."""
        options = config.options
        if options.get("predictions") and predictions is None:
            raise DatasetError(f"replay generator {config.name!r} replays a prediction file, which only a benchmark "
                               "run can match to its questions",
                               hint="run it with mscsql eval run, or replay a run's samples.jsonl "
                                    "(options.samples)")
        if not options.get("predictions") and not options.get("samples"):
            raise DatasetError(f"replay generator {config.name!r} needs options.samples (the samples.jsonl of an "
                               "earlier run) or options.predictions (a benchmark prediction file)")
        samples = options.get("samples") if predictions is None else None
        generator = options.get("generator")
        return cls(config.name, samples=str(samples) if samples else None,
                   generator=str(generator) if generator else None, predictions=predictions)

    def register(self, prompt: ChatPrompt, texts: Sequence[str]) -> None:
        self._answers[messages_hash(prompt)] = list(texts)

    def replay(self, hashes: Sequence[str], keys: Sequence[Any]) -> list[list[Sample]]:
        """What the source holds for each prompt (by its prompt hash) or question (by its key); a prompt with
        nothing stored gets no samples, with a warning."""
        results = []
        missed = 0
        for digest, key in zip(hashes, keys, strict=True):
            if self._predictions is not None:
                sql = self._predictions.get(key)
                results.append([] if sql is None else [Sample(text=sql, finish_reason="stop")])
            elif self._store is not None:
                stored = self._store.find(digest, self._generator)
                if stored is None:
                    missed += 1
                    log.debug("replay %s: no stored samples for prompt %s", self.name, digest)
                results.append(list(stored or []))
            else:
                raise GenerationError(f"replay generator {self.name!r} has no source to replay",
                                      hint="give options.samples or options.predictions")
        if missed:
            why = (" (none of them: the prompts differ from the ones the samples were stored for; the replaying "
                   "config must build the same prompts, with the same linking, schema budget, use_values, examples "
                   "and notes)") if missed == len(hashes) else ""
            log.warning("replay %s: no stored samples for %d of %d prompts%s", self.name, missed, len(hashes), why)
        return results

    def generate(self, prompts: Sequence[ChatPrompt], sampling: SamplingParams) -> list[list[Sample]]:
        results = []
        for prompt in prompts:
            texts = self._answers.get(messages_hash(prompt))
            if texts is None:
                raise GenerationError(f"replay generator {self.name!r} has nothing stored for a prompt",
                                      hint="replay serves the questions of its prediction file or sample store")
            results.append([Sample(text=text, finish_reason="stop") for text in texts])
        return results

    def close(self) -> None:
        """Nothing to release."""
