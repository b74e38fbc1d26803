"""Candidate pools from a generation run (``mscsql generate``'s folder) for critic data.

A run's ``candidates.jsonl`` holds, per question, the distinct statements of all generators with how many
samples of each generator proposed them. To be labelled by the harness's scorer exactly as prediction files
are (same scorer, same cache), the k-th candidate of every question is written as the k-th prediction file of
the pool (``OUTPUT/generated/<run>/candidate-K.jsonl``, an empty statement where a question has fewer). After
execution, each candidate's sources become its samples (:func:`mscsql.critic.grouping.sample_sources`, in the
run's generator order), so a group's agreement is the number of samples behind it, as in the pipeline; the
verdict of a candidate is the verdict of its file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mscsql.benchmarks.loaders import Benchmark
from mscsql.critic.grouping import CandidateResult, sample_sources
from mscsql.errors import DatasetError
from mscsql.evaluation.generate import CANDIDATES
from mscsql.fileio import output_folder
from mscsql.records import read_records

FILE_PREFIX = "candidate-"


@dataclass
class GeneratedPool:
    """One generation run as a pool: its synthetic candidate files and, per question, each file's samples."""

    folder: Path
    #: the synthetic prediction files, the k-th candidates first to last
    files: list[Path]
    #: generator names in the run's configured order (the priority of their answers)
    priority: tuple[str, ...]
    #: question index -> k -> generator name -> samples
    samples: dict[int, dict[int, dict[str, int]]] = field(default_factory=dict)
    #: question index -> the linked schema its generator prompt showed (what the LLM critic reads in the pipeline)
    schema_texts: dict[int, str] = field(default_factory=dict)
    #: the files' display names once loaded (see :func:`mscsql.benchmarks.predictions.load_prediction_files`)
    names: list[str] = field(default_factory=list)

    def own(self, candidates: Sequence[CandidateResult], index: int) -> list[tuple[CandidateResult, str]]:
        """This run's candidates of question ``index`` among the executed ``candidates`` (whose sources are the
        display names of files), each with the samples that proposed it as its sources (in generator priority
        order) and with its file. The padding of questions with fewer candidates is left out."""
        mine = []
        for candidate in candidates:
            counts: dict[str, int] = {}
            files = [name for name in candidate.sources if name in self.names]
            for name in files:
                for generator, number in self.samples.get(index, {}).get(self.names.index(name), {}).items():
                    counts[generator] = counts.get(generator, 0) + number
            if counts:
                mine.append((CandidateResult(candidate.sql, sample_sources(counts, self.priority), candidate.result,
                                             candidate.logprob), files[0]))
        return mine


def read_generated_pool(folder: str | Path, benchmark: Benchmark, output: Path) -> GeneratedPool:
    """The run in ``folder`` as a pool, its candidate files written under ``output``."""
    run = Path(folder).expanduser()
    records = read_records(run / CANDIDATES)
    if not records:
        raise DatasetError(f"{str(run)!r} holds no generation run (no {CANDIDATES})",
                           hint="give a folder written by: mscsql generate ... --output FOLDER")
    identity_file = run / "run.json"
    generators: list[str] = []
    if identity_file.is_file():
        identity = json.loads(identity_file.read_text(encoding="utf-8"))
        if identity.get("benchmark") not in (None, benchmark.name):
            raise DatasetError(f"{str(run)!r} was generated for {identity.get('benchmark')!r}, not {benchmark.name!r}",
                               hint="give the benchmark the run was generated for")
        generators = [g["name"] for g in identity.get("config", {}).get("generators", [])]
    wanted = {item.index for item in benchmark.items}
    by_index = {r["index"]: r for r in records if r["index"] in wanted}
    if not by_index:
        raise DatasetError(f"{str(run)!r} has no candidates for the questions selected",
                           hint="check --dbs and the benchmark the run was generated for")
    for record in by_index.values():
        for candidate in record["candidates"]:
            generators += [g for g in candidate["generators"] if g not in generators]
    width = max(len(r["candidates"]) for r in by_index.values())
    target = output / "generated" / run.name
    output_folder(target)
    pool = GeneratedPool(run, [target / f"{FILE_PREFIX}{k + 1}.jsonl" for k in range(width)], tuple(generators))
    lines: list[list[str]] = [[] for _ in range(width)]
    for item in benchmark.items:
        candidates = by_index.get(item.index, {}).get("candidates", [])
        pool.samples[item.index] = {}
        if by_index.get(item.index, {}).get("schema_text"):
            pool.schema_texts[item.index] = by_index[item.index]["schema_text"]
        for k in range(width):
            sql = candidates[k]["sql"] if k < len(candidates) else ""
            lines[k].append(json.dumps({"index": item.index, "sql": sql}, ensure_ascii=False))
            if k < len(candidates):
                pool.samples[item.index][k] = dict(candidates[k]["generators"])
    for path, text in zip(pool.files, lines, strict=True):
        path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return pool
