"""The loaded models of a pipeline (generators, the schema linker, the selector), held apart from any
database: one :class:`Models` serves every database a process answers on, with one copy of each model.

Models load on first use. Each one is used by one thread at a time (a lock per model), so several threads
may share a :class:`Models`. With ``keep_loaded=False`` a generator is closed once the sample stage is done
with it, so an ensemble of several models needs the memory of one at a time (benchmark runs).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from mscsql.config import GeneratorConfig, PipelineConfig
from mscsql.errors import ConfigError
from mscsql.generation.base import ChatPrompt, Generator, Sample, SamplingParams

log = logging.getLogger(__name__)


def close_model(model: Any) -> None:
    """Release what a model holds (not every backend holds anything)."""
    close = getattr(model, "close", None)
    if callable(close):
        close()


class Models:
    """The models ``config`` names, loaded when first asked for."""

    def __init__(self, config: PipelineConfig, *, keep_loaded: bool = True,
                 predictions: Mapping[str, Mapping[Any, str]] | None = None) -> None:
        """``predictions``: for replay members that replay a prediction file, the file as a benchmark run read
        it (member name -> question key -> SQL)."""
        self.config = config
        self.keep_loaded = keep_loaded
        self.predictions = dict(predictions or {})
        self._generators: dict[str, Generator] = {}
        self._locks: dict[str, threading.RLock] = {}
        self._guard = threading.Lock()
        self._linker: Any = None
        self._selector: Any = None
        self._confidence: Any = None
        self._weights: dict[str, float] | None = None

    def _lock(self, name: str) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(name, threading.RLock())

    # -- generators --------------------------------------------------------------------------------------

    def generator(self, member: GeneratorConfig) -> Generator:
        """The loaded generator of ``member`` (built now if it is not)."""
        from mscsql.generation.registry import build_generator

        with self._lock(f"generator:{member.name}"):
            if member.name not in self._generators:
                self._generators[member.name] = build_generator(member, predictions=self.predictions.get(member.name))
            return self._generators[member.name]

    def generate(self, member: GeneratorConfig, prompts: Sequence[ChatPrompt], sampling: SamplingParams
                 ) -> list[list[Sample]]:
        with self._lock(f"generator:{member.name}"):
            return self.generator(member).generate(prompts, sampling)

    def replay(self, member: GeneratorConfig, hashes: Sequence[str], keys: Sequence[Any]) -> list[list[Sample]]:
        with self._lock(f"generator:{member.name}"):
            replayer: Any = self.generator(member)
            return list(replayer.replay(hashes, keys))

    def done_with(self, member: GeneratorConfig) -> None:
        """The sample stage has finished with ``member``: closed now unless models are kept loaded."""
        if self.keep_loaded:
            return
        with self._lock(f"generator:{member.name}"):
            generator = self._generators.pop(member.name, None)
            if generator is not None:
                close_model(generator)

    # -- linker and selector -------------------------------------------------------------------------------

    def link(self, requests: Sequence[Any]) -> list[Any]:
        """The configured linker's links for ``requests`` (see :mod:`mscsql.linking`)."""
        with self._lock("linker"):
            return list(self.linker.link(requests))

    @property
    def linker(self) -> Any:
        with self._lock("linker"):
            if self._linker is None:
                from mscsql.linking.registry import linker_from_config

                self._linker = linker_from_config(self.config.linking)
            return self._linker

    @property
    def selector(self) -> Any:
        """The configured :class:`~mscsql.critic.base.Selector` (its models load on first use)."""
        with self._lock("selector"):
            if self._selector is None:
                from mscsql.critic.registry import build_selector

                self._selector = build_selector(self.config.selection)
            return self._selector

    @property
    def confidence(self) -> Any:
        """The configured :class:`~mscsql.critic.confidence.ConfidenceModel` (read on first use)."""
        with self._lock("confidence"):
            if self._confidence is None:
                from mscsql.critic.confidence import ConfidenceModel

                self._confidence = ConfidenceModel.load(self.config.selection.confidence)
            return self._confidence

    @property
    def generator_weights(self) -> dict[str, float]:
        """Each generator's weight in the confidence's reliable share, from the reliabilities
        ``selection.reliability`` names (read on first use); empty without them: every generator weighs the same."""
        with self._lock("confidence"):
            if self._weights is None:
                self._weights = self._read_weights()
            return self._weights

    def _read_weights(self) -> dict[str, float]:
        source = getattr(self.config, "selection", None) and self.config.selection.reliability
        if not source:
            return {}
        from mscsql.critic.reliability import MIN_QUESTIONS, Reliability

        found = Reliability.load(source)
        names = [g.name for g in self.config.generators]
        if found.questions < MIN_QUESTIONS:
            raise ConfigError(f"selection.reliability {source} was estimated on {found.questions} questions; at "
                              f"least {MIN_QUESTIONS} are needed for a stable estimate",
                              hint="write it with mscsql eval run (or mscsql select) over more questions")
        missing = [n for n in names if n not in found.judged]
        if missing:
            raise ConfigError(f"selection.reliability {source} has no estimate for the generator(s) "
                              f"{', '.join(missing)} (it has {', '.join(sorted(found.judged))})",
                              hint="estimate it with this config's generators (mscsql eval run --config ...), or "
                                   "leave selection.reliability out so that every generator weighs the same")
        return found.weights()

    def choose(self, items: Sequence[Any]) -> list[Any]:
        with self._lock("selector"):
            return list(self.selector.choose(items))

    def close(self) -> None:
        for name in list(self._generators):
            close_model(self._generators.pop(name))
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        if self._linker is not None:
            close_model(self._linker)
            self._linker = None
