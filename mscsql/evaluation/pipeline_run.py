"""``mscsql eval run``: the whole pipeline over a benchmark, then the harness's scorer.

Stages, each kept in ``OUT`` and resumable:

1. ``OUT/generate/``: candidates for every question (:mod:`mscsql.evaluation.generate`: values, linking,
   prompts, every generator through the sample store);
2. ``OUT/selections.jsonl`` and ``OUT/predictions.jsonl``: every question's candidates run read-only on its
   database, grouped by result, and the configured selector's choice (the critic reads the question,
   the linked schema and the groups); written database by database;
3. ``OUT/score/``: the predictions scored like any prediction file (``summary.json``, ``report.md``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from itertools import groupby
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mscsql.config import PipelineConfig
from mscsql.critic.build import build_critic
from mscsql.critic.grouping import CandidateResult, group_by_result, sample_sources
from mscsql.critic.selectors import select
from mscsql.db import connect, execute_many
from mscsql.evaluation.benchmarks import Benchmark, sha256_file
from mscsql.evaluation.cache import GoldCache
from mscsql.evaluation.generate import CANDIDATES, GenerateRun
from mscsql.evaluation.predictions import PredictionFile
from mscsql.evaluation.report import write_reports
from mscsql.evaluation.runner import ScoreRun, score
from mscsql.evaluation.scorers import Scorer
from mscsql.fileio import output_folder
from mscsql.records import read_records, rewrite_records

log = logging.getLogger(__name__)

PREDICTIONS = "predictions.jsonl"
SELECTIONS = "selections.jsonl"


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
        GenerateRun(self.benchmark, self.data_dir, self.config, self.output / "generate", limit=self.limit,
                    progress=self.progress).run()
        self._select()
        benchmark, sqls = self._answered()
        predictions = PredictionFile(path=self.output / PREDICTIONS, name="pipeline", sql=sqls,
                                     sha256=sha256_file(self.output / PREDICTIONS))
        run = ScoreRun(benchmark=benchmark, files=[predictions], scorer=self.scorer, output=self.output / "score",
                       cache=self.cache, workers=self.workers, timeout_s=self.config.execution.timeout_s,
                       progress=self.progress)
        return write_reports(score(run), run)

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

    def _select(self) -> None:
        # what survived a kill: answers whose prediction was written (their selection record too)
        done = {r["index"] for r in rewrite_records(self.output / PREDICTIONS)}
        rewrite_records(self.output / SELECTIONS, done)
        records = [r for r in read_records(self.output / "generate" / CANDIDATES) if r["index"] not in done]
        by_index = {i.index: i for i in self.benchmark.items}
        priority = [g.name for g in self.config.generators]
        selector = self.config.selection.selector
        critic = build_critic(self.config.selection) if selector in ("critic", "encoder") else None
        with (self.output / PREDICTIONS).open("a", encoding="utf-8") as predictions, \
                (self.output / SELECTIONS).open("a", encoding="utf-8") as selections, \
                tqdm(total=len(records), desc=f"selecting ({selector})", unit="q", disable=not self.progress) as bar:
            ordered = sorted(records, key=lambda r: (r["db_id"], r["index"]))
            for _db, group in groupby(ordered, key=lambda r: r["db_id"]):
                batch = list(group)
                item = by_index[batch[0]["index"]]
                with connect(item.database or "", execution=self.config.execution) as db:
                    pairs = [(r["index"], c) for r in batch for c in r["candidates"]]
                    results = execute_many([(db, c["sql"]) for _i, c in pairs], workers=self.workers,
                                           timeout_s=self.config.execution.timeout_s,
                                           max_rows=self.config.selection.max_rows)
                executed: dict[int, list[CandidateResult]] = {r["index"]: [] for r in batch}
                for (index, c), result in zip(pairs, results, strict=True):
                    executed[index].append(CandidateResult(c["sql"], sample_sources(c["generators"], priority), result,
                                                           c.get("best_logprob")))
                for record in batch:
                    question = by_index[record["index"]]
                    candidates = executed[record["index"]]
                    if critic is not None:
                        chosen = critic.select(question.question, question.evidence, record.get("schema_text") or "",
                                               candidates, priority)
                    else:
                        chosen = select(selector, candidates, priority) if candidates else None
                    sql = chosen.sql if chosen is not None else ""
                    groups = group_by_result(candidates)
                    selections.write(json.dumps({"index": record["index"], "selector": selector, "sql": sql,
                                                 "groups": [{"count": g.count, "ok": g.ok} for g in groups],
                                                 "unanimous": len([g for g in groups if g.ok]) == 1},
                                                ensure_ascii=False) + "\n")
                    predictions.write(json.dumps({"index": record["index"], "sql": sql}, ensure_ascii=False) + "\n")
                predictions.flush()
                selections.flush()
                bar.update(len(batch))
        # in question order, so the same answers always make the same file (and the scores stay valid)
        rewrite_records(self.output / PREDICTIONS)
        rewrite_records(self.output / SELECTIONS)


