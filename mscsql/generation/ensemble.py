"""Run an ensemble of generators over one batch of prompts, reusing stored samples.

Each generator gets one ``generate`` call per batch with every prompt it has not answered yet (under the
same sampling parameters); its answers go into the sample store as soon as they come back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from mscsql.config import GeneratorConfig
from mscsql.generation.base import Generator, Sample
from mscsql.generation.registry import sampling_params
from mscsql.generation.store import SampleStore
from mscsql.prompts import RenderedPrompt

log = logging.getLogger(__name__)


@dataclass
class Member:
    config: GeneratorConfig
    generator: Generator


def run_ensemble(members: Sequence[Member], prompts: Sequence[RenderedPrompt],
                 store: SampleStore | None = None) -> list[dict[str, list[Sample]]]:
    """For each prompt, each generator's samples (``{generator name: [n samples]}``), in prompt order."""
    results: list[dict[str, list[Sample]]] = [{} for _ in prompts]
    for member in members:
        sampling = sampling_params(member.config)
        name = member.config.name
        todo = []
        for i, prompt in enumerate(prompts):
            stored = store.get(name, prompt.prompt_hash, sampling) if store is not None else None
            if stored is not None:
                results[i][name] = stored
            else:
                todo.append(i)
        if not todo:
            continue
        log.info("%s: generating for %d prompts (%d stored)", name, len(todo), len(prompts) - len(todo))
        answers = member.generator.generate([list(prompts[i].messages) for i in todo], sampling)
        for i, samples in zip(todo, answers, strict=True):
            results[i][name] = samples
            if store is not None:
                store.put(name, prompts[i].prompt_hash, sampling, samples, template=prompts[i].template)
    return results
