"""Stage 2, sample: every generator of the ensemble answers every prepared prompt.

Generators run one after the other, each over the whole batch (one ``generate`` call per chunk of distinct
prompts). With a sample store, what is stored already is reused and what comes back is stored as soon as a
chunk returns, so a killed run resumes; replayed members' samples are stored too, so that every run's
``samples.jsonl`` can itself be replayed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from mscsql.config import GeneratorConfig
from mscsql.generation.base import Sample, SamplingParams
from mscsql.generation.registry import sampling_params
from mscsql.generation.store import SampleStore, generator_key
from mscsql.prompts import RenderedPrompt
from mscsql.stages.events import UNWATCHED, BatchControl
from mscsql.stages.models import Models
from mscsql.stages.prepare import Prepared

log = logging.getLogger(__name__)

#: prompts per generate call when a store keeps what each chunk returns
CHUNK_SIZE = 256

Samples = dict[str, list[Sample]]
#: given the prepared questions and the first generator's samples for each, the questions as the other
#: generators should see them (:meth:`Prepared.for_members`)
Refine = Callable[[Sequence[Prepared], Sequence[list[Sample]]], Sequence[Prepared]]


def sample(members: Sequence[GeneratorConfig], prepared: Sequence[Prepared], models: Models, *,
           store: SampleStore | None = None, control: BatchControl = UNWATCHED,
           positions: Sequence[int] | None = None, chunk_size: int = CHUNK_SIZE, refine: Refine | None = None
           ) -> list[Samples]:
    """Each question's samples, generator name -> samples (in the ensemble's order). ``positions``: the
    batch positions of ``prepared`` (for events and cancellation); a question cancelled before a generator's
    turn gets nothing more. ``refine``: called once the first generator has answered, it may give the other
    generators other prompts (each generator asks with :meth:`Prepared.prompt_for` its name)."""
    positions = list(range(len(prepared))) if positions is None else list(positions)
    out: list[Samples] = [{} for _ in prepared]
    for turn, member in enumerate(members):
        if turn == 1 and refine is not None:
            prepared = list(refine(prepared, [out[j].get(members[0].name, []) for j in range(len(prepared))]))
        wanted = set(control.live(positions))
        live = [j for j, p in enumerate(positions) if p in wanted]
        if not live:
            break
        with control.stage("generation", [positions[j] for j in live], member.name) as detail:
            try:
                answers = _member_samples(member, [prepared[j] for j in live], models, store, chunk_size)
            finally:
                models.done_with(member)
            for j, samples in zip(live, answers, strict=True):
                out[j][member.name] = samples
            detail["samples"] = sum(len(s) for s in answers)
    return out


def _member_samples(member: GeneratorConfig, prepared: Sequence[Prepared], models: Models,
                    store: SampleStore | None, chunk_size: int) -> list[list[Sample]]:
    sampling = sampling_params(member)
    key = generator_key(member)
    prompts = [p.prompt_for(member.name) for p in prepared]
    if member.backend == "replay":  # cheap: served by question (prediction files) or by prompt (samples)
        answers = models.replay(member, [p.prompt_hash for p in prompts], [p.key for p in prepared])
        if store is not None:
            fresh = {p.prompt_hash: (p, a) for p, a in zip(prompts, answers, strict=True)
                     if store.get(key, p.prompt_hash, sampling) is None}
            _keep({}, [p for p, _a in fresh.values()], [a for _p, a in fresh.values()], store, key, sampling)
        return answers
    distinct: dict[str, RenderedPrompt] = {}
    for prompt in prompts:
        distinct.setdefault(prompt.prompt_hash, prompt)
    found: dict[str, list[Sample]] = {}
    if store is not None:
        for digest in distinct:
            stored = store.get(key, digest, sampling)
            if stored is not None:
                found[digest] = stored
    todo = [item for digest, item in distinct.items() if digest not in found]
    if todo:
        log.info("%s: generating for %d prompts (%d stored)", member.name, len(todo), len(distinct) - len(todo))
    step = chunk_size if store is not None else max(1, len(todo))
    for start in range(0, len(todo), step):
        chunk = todo[start:start + step]
        generated = models.generate(member, [list(p.messages) for p in chunk], sampling)
        _keep(found, chunk, generated, store, key, sampling)
    return [list(found.get(p.prompt_hash, [])) for p in prompts]


def _keep(found: dict[str, list[Sample]], prompts: Sequence[RenderedPrompt], answers: Sequence[list[Sample]],
          store: SampleStore | None, key: str, sampling: SamplingParams) -> None:
    for prompt, samples in zip(prompts, answers, strict=True):
        found[prompt.prompt_hash] = list(samples)
        if store is not None:
            store.put(key, prompt.prompt_hash, sampling, list(samples), template=prompt.template)
