"""``mscsql eval run``: the whole pipeline over a benchmark, then the harness's scorer.

The questions go through the stages of :mod:`mscsql.stages`, the same that ``TextToSQL.ask_batch`` runs;
this harness only feeds them benchmark questions and keeps what they return in ``OUT``, resumably:

1. ``OUT/generate/``: the prepare and sample stages for every question (:mod:`mscsql.evaluation.generate`:
   values, linking, prompts, every generator through the sample store ``samples.jsonl``), and each question's
   candidates in ``candidates.jsonl``;
2. ``OUT/selections.jsonl`` (every question's answer, as ``mscsql ask --json`` prints it, with its index and
   the features its confidence read, for ``mscsql eval calibrate``) and
   ``OUT/predictions.jsonl``: the execute, choose and answer stages, database by database; then
   ``OUT/reliability.json``: how often each generator agreed with the others (no label read), for
   ``selection.reliability``;
3. ``OUT/score/``: the predictions scored like any prediction file (``summary.json``, ``report.md``), and
   ``OUT/confidence.json``: how well the answers' confidence tells right from wrong.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from itertools import groupby
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mscsql.benchmarks.loaders import Benchmark, sha256_file
from mscsql.benchmarks.predictions import PredictionFile
from mscsql.config import PipelineConfig
from mscsql.db import connect
from mscsql.evaluation.cache import GoldCache
from mscsql.evaluation.calibration import SELECTIONS, pipeline_verdicts
from mscsql.evaluation.confidence import confidence_report
from mscsql.evaluation.generate import GenerateRun, Sampled
from mscsql.evaluation.report import write_reports
from mscsql.evaluation.runner import ScoreRun, score
from mscsql.evaluation.scorers import Scorer
from mscsql.fileio import output_folder, write_json_atomic
from mscsql.records import read_records, rewrite_records
from mscsql.stages import (
    Limits,
    Models,
    answers,
    answers_observed,
    candidate_pools,
    choose,
    estimate_reliability,
    execute,
    keep_reliability,
    top_ties,
)

log = logging.getLogger(__name__)

PREDICTIONS = "predictions.jsonl"


@dataclass
class PipelineRun:
    benchmark: Benchmark
    data_dir: Path
    config: PipelineConfig
    output: Path
    scorer: Scorer
    cache: GoldCache
    limit: int | None = None
    progress: bool = True
    workers: int = 2

    def run(self) -> dict[str, Any]:
        output_folder(self.output)
        # what survived a kill: answers whose prediction was written (their selection record too)
        done = {r["index"] for r in rewrite_records(self.output / PREDICTIONS)}
        rewrite_records(self.output / SELECTIONS, done)
        generation = GenerateRun(self.benchmark, self.data_dir, self.config, self.output / "generate",
                                 limit=self.limit, progress=self.progress)
        sampled = generation.sampled(skip=done)
        generation.write_candidates(sampled)
        self._answer(sampled)
        answered = list(read_records(self.output / SELECTIONS))
        reliability = self._write_reliability(answered)
        benchmark, sqls = self._answered()
        predictions = PredictionFile(path=self.output / PREDICTIONS, name="pipeline", sql=sqls,
                                     sha256=sha256_file(self.output / PREDICTIONS))
        run = ScoreRun(benchmark=benchmark, files=[predictions], scorer=self.scorer, output=self.output / "score",
                       cache=self.cache, workers=self.workers, timeout_s=self.config.execution.timeout_s,
                       progress=self.progress)
        summary = write_reports(score(run), run)
        summary["confidence"] = self._judge_confidence(answered)
        summary["reliability"] = reliability
        return summary

    def _judge_confidence(self, answered: list[dict[str, Any]]) -> dict[str, Any]:
        """``OUT/confidence.json``: how well the answers' confidence tells right from wrong (AUROC, accuracy at
        50/80/90 % coverage, calibration error), beside the plain share of samples in the chosen group."""
        judged = pipeline_verdicts(self.output, answered)
        labels = [ok for _r, ok in judged]
        found: dict[str, Any] = {"answers": len(judged)}
        if judged:
            found |= {
                "model": confidence_report([r["confidence"] or 0.0 for r, _ok in judged], labels),
                "share": confidence_report([r["confidence_features"]["share"] for r, _ok in judged], labels)}
        write_json_atomic(self.output / "confidence.json", found)
        return found

    def _write_reliability(self, answered: list[dict[str, Any]]) -> dict[str, Any] | None:
        """``OUT/reliability.json``: how often each generator agreed with the others over every answer of the
        run (``answered``), without labels (``selection.reliability`` of a pipeline with these generators can read
        it)."""
        priority = [g.name for g in self.config.generators]
        estimate = estimate_reliability(answers_observed(answered, priority), priority,
                                        estimated_on={"command": "mscsql eval run", "benchmark": self.benchmark.name,
                                                      "generators": priority})
        return keep_reliability(estimate, priority, self.output)

    def _answered(self) -> tuple[Benchmark, tuple[str, ...]]:
        """The questions that went through the pipeline and their chosen SQL. With ``limit`` (a subset), the
        questions are numbered 0..k-1 in benchmark order for the scorer; ``selections.jsonl`` keeps the
        benchmark's own indexes."""
        answered = {r["index"]: r["sql"] for r in read_records(self.output / PREDICTIONS)}
        chosen = [i for i in self.benchmark.items if i.index in answered]
        items = tuple(replace(item, index=position) for position, item in enumerate(chosen))
        benchmark = Benchmark(name=self.benchmark.name, dialect=self.benchmark.dialect, items=items,
                              difficulty_levels=self.benchmark.difficulty_levels, files=self.benchmark.files,
                              missing_databases=self.benchmark.missing_databases)
        return benchmark, tuple(answered[item.index] for item in chosen)

    def _answer(self, sampled: list[Sampled]) -> None:
        """The execute, choose and answer stages, database by database; each answer is written as it is made."""
        by_index = {i.index: i for i in self.benchmark.items}
        priority = [g.name for g in self.config.generators]
        selector = self.config.selection.selector
        limits = Limits(timeout_s=self.config.execution.timeout_s, max_rows=self.config.selection.max_rows)
        models = Models(self.config)
        try:
            with (self.output / PREDICTIONS).open("a", encoding="utf-8") as predictions, \
                    (self.output / SELECTIONS).open("a", encoding="utf-8") as selections, \
                    tqdm(total=len(sampled), desc=f"selecting ({selector})", unit="q",
                         disable=not self.progress) as bar:
                ordered = sorted(sampled, key=lambda s: (by_index[s.index].db_id, s.index))
                for _db, group in groupby(ordered, key=lambda s: by_index[s.index].db_id):
                    batch = list(group)
                    prepared = [s.prepared for s in batch]
                    pools = candidate_pools([s.samples for s in batch], self.benchmark.dialect)
                    with connect(by_index[batch[0].index].database or "", execution=self.config.execution) as db:
                        executed = execute(db, pools, priority, limits=limits, workers=self.workers)
                        choices = choose(models, [p.question for p in prepared], [p.schema_text for p in prepared],
                                         executed, priority)
                        ties = top_ties(db, choices, limits=limits, workers=self.workers)
                    made = answers(prepared, pools, executed, choices, selector=selector,
                                   confidence=models.confidence,
                                   min_confidence=self.config.selection.min_confidence,
                                   weights=models.generator_weights, ties=ties)
                    for item, answer in zip(batch, made, strict=True):
                        record = {"index": item.index, "db_id": by_index[item.index].db_id, **answer.to_dict(),
                                  "confidence_features": _rounded(answer.confidence_features)}
                        selections.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
                        predictions.write(json.dumps({"index": item.index, "sql": answer.sql or ""},
                                                     ensure_ascii=False) + "\n")
                    predictions.flush()
                    selections.flush()
                    bar.update(len(batch))
        finally:
            models.close()
        # in question order, so the same answers always make the same file (and the scores stay valid)
        rewrite_records(self.output / PREDICTIONS)
        rewrite_records(self.output / SELECTIONS)


def _rounded(features: dict[str, float] | None) -> dict[str, float] | None:
    return None if features is None else {name: round(value, 6) for name, value in features.items()}
