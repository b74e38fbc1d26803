"""``mscsql select``: choose among stored candidates (one prediction file per generator) and measure it.

Each file is scored once with the harness's scorer (results kept under ``OUT/scores/``), which gives every
candidate's verdict, each file's accuracy (``best_single`` is the best of them) and the ``oracle`` (a
question counts when any file is right). Every question's candidates then run read-only on its database,
are grouped by result (:mod:`mscsql.critic.grouping`), and each requested selector picks one; its verdict
is the verdict of the file the chosen SQL came from, and its confidence comes from the confidence model
(:mod:`mscsql.critic.confidence`; the files' reliabilities it reads are estimated over the whole run, without
labels, and kept in ``OUT/reliability.json``). ``OUT/selections.jsonl`` has every question's choices with their
verdicts, confidences and confidence features; ``OUT/summary.json`` the accuracies and, per selector, how well its
confidence (and, as the baseline, the plain share of samples in the chosen group) tells right from wrong
(:mod:`mscsql.evaluation.confidence`).
"""

from __future__ import annotations

import json
import logging
import pickle
import tempfile
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mscsql.benchmarks.loaders import Benchmark
from mscsql.benchmarks.predictions import PredictionFile
from mscsql.config import ExecutionSettings
from mscsql.db import connect
from mscsql.evaluation.cache import GoldCache
from mscsql.evaluation.confidence import confidence_report
from mscsql.evaluation.generate import benchmark_question
from mscsql.evaluation.runner import ScoreRun, score
from mscsql.evaluation.scorers import Scorer
from mscsql.evaluation.significance import compare_by_level
from mscsql.fileio import output_folder, write_json_atomic
from mscsql.stages import (
    Candidate,
    CandidateResult,
    ConfidenceModel,
    Limits,
    Selector,
    choose,
    confidence_features,
    estimate_reliability,
    execute,
    group_by_result,
    keep_reliability,
    observed,
    top_ties,
    whole_schema_text,
)

log = logging.getLogger(__name__)


def run_candidates(db: Any, indexes: list[int], files: list[PredictionFile], *, workers: int, timeout_s: float
                   ) -> dict[int, list[CandidateResult]]:
    """The candidates of each question (by index) on the open database ``db`` (the execute stage): each
    distinct statement of the files runs once (read-only, in parallel), with the names of the files that
    proposed it as its sources (in the files' order)."""
    pools = []
    for index in indexes:
        proposed: dict[str, dict[str, int]] = {}
        for file in files:
            proposed.setdefault(file.sql[index], {})[file.name] = 1
        pools.append([Candidate.stored(sql, who) for sql, who in proposed.items()])
    limits = Limits(timeout_s=timeout_s, max_rows=ExecutionSettings().max_rows)
    executed = execute(db, pools, [f.name for f in files], limits=limits, workers=workers)
    return dict(zip(indexes, executed, strict=True))


@dataclass
class _Ran:
    """One database's questions with every file's candidates run, each selector's choices and whether each chosen
    query's top row is tied (which the confidence reads)."""

    items: list[Any]
    schema: Any
    executed: list[list[CandidateResult]]
    chosen: dict[str, list[Any]]
    ties: dict[str, list[float]]


@dataclass
class SelectRun:
    benchmark: Benchmark
    files: list[PredictionFile]
    scorer: Scorer
    #: the selectors compared, by name (see :func:`mscsql.critic.registry.build_selector`)
    selectors: dict[str, Selector]
    output: Path
    cache: GoldCache
    workers: int = 2
    timeout_s: float = 30.0
    progress: bool = True
    #: the confidence model (None: the packaged one)
    confidence: ConfidenceModel | None = None

    def run(self) -> dict[str, Any]:
        if "vote" not in self.selectors:  # every selector is measured against the vote
            from mscsql.stages import VoteSelector

            self.selectors = {"vote": VoteSelector(), **self.selectors}
        output_folder(self.output)
        rows = score(ScoreRun(benchmark=self.benchmark, files=self.files, scorer=self.scorer,
                              output=self.output / "scores", cache=self.cache, workers=self.workers,
                              timeout_s=self.timeout_s, progress=self.progress))
        verdict = {(r["prediction_file"], r["index"]): bool(r["correct"]) for r in rows if r["status"] != "skipped"}
        names = [f.name for f in self.files]
        items = [i for i in self.benchmark.items if i.database and all((n, i.index) in verdict for n in names)]
        # each database's executed candidates and choices wait on disk (a run holds one database's results at a
        # time) until the generators' reliabilities, which the confidence reads, are estimated over the whole run
        # without labels (and written for a pipeline of the same generators to read: selection.reliability)
        with tempfile.TemporaryDirectory(prefix="candidates-", dir=self.output) as spill:
            waiting, seen = [], []
            with tqdm(total=len(items), desc="running and choosing", unit="q", disable=not self.progress) as bar:
                for _db, group in groupby(sorted(items, key=lambda i: (i.database, i.index)),
                                          key=lambda i: i.database):
                    ran = self._run_database(list(group))
                    seen += [observed(ex) for ex in ran.executed]
                    waiting.append(Path(spill) / f"{len(waiting)}.pickle")
                    with waiting[-1].open("wb") as sink:
                        pickle.dump(ran, sink, protocol=pickle.HIGHEST_PROTOCOL)
                    bar.update(len(ran.items))
            reliability = estimate_reliability(seen, names, estimated_on={
                "command": "mscsql select", "benchmark": self.benchmark.name, "files": names})
            kept = keep_reliability(reliability, names, self.output)
            weights = reliability.weights()
            records = []
            with tqdm(total=len(items), desc="confidence", unit="q", disable=not self.progress) as bar:
                for path in waiting:
                    with path.open("rb") as source:
                        ran = pickle.load(source)  # written by this run a moment ago
                    records += self._records(ran, names, verdict, weights)
                    bar.update(len(ran.items))
        records.sort(key=lambda r: r["index"])
        with (self.output / "selections.jsonl").open("w", encoding="utf-8") as sink:
            for record in records:
                sink.write(json.dumps(record, ensure_ascii=False) + "\n")
        summary = self._summary(records, names)
        summary["reliability"] = kept
        write_json_atomic(self.output / "summary.json", summary)
        return summary

    @property
    def model(self) -> ConfidenceModel:
        if self.confidence is None:
            self.confidence = ConfidenceModel.load()
        return self.confidence

    def _run_database(self, items: list[Any]) -> _Ran:
        """The execute and choose stages on one database (the selectors read no reliability: only the confidence
        does, later), and the tie probes of the chosen queries while the database is open."""
        names = [f.name for f in self.files]
        questions = [benchmark_question(item) for item in items]
        with connect(items[0].database) as db:
            schema = db.schema()
            by_question = run_candidates(db, [item.index for item in items], self.files, workers=self.workers,
                                         timeout_s=self.timeout_s)
            executed = [by_question[item.index] for item in items]
            texts = [whole_schema_text(schema)] * len(items)
            chosen = {name: choose(selector, questions, texts, executed, names)
                      for name, selector in self.selectors.items()}
            limits = Limits(timeout_s=self.timeout_s, max_rows=2)
            ties = {name: top_ties(db, chosen[name], limits=limits, workers=self.workers) for name in self.selectors}
        return _Ran(items, schema, executed, chosen, ties)

    def _records(self, ran: _Ran, names: list[str], verdict: dict[tuple[str, int], bool],
                         weights: dict[str, float]) -> list[dict[str, Any]]:
        items, schema, executed, chosen, ties = ran.items, ran.schema, ran.executed, ran.chosen, ran.ties
        questions = [benchmark_question(item) for item in items]
        records = []
        for position, item in enumerate(items):
            record: dict[str, Any] = {"index": item.index, "db_id": item.db_id, "difficulty": item.difficulty,
                                      "groups": [{"count": g.count, "ok": g.ok, "sources": sorted(
                                          {s for m in g.members for s in m.sources})}
                                          for g in group_by_result(executed[position])],
                                      "files": {n: verdict[(n, item.index)] for n in names}}
            for name in self.selectors:
                choice = chosen[name][position]
                candidate = choice.candidate
                found = confidence_features(questions[position].text, questions[position].evidence,
                                            executed[position], choice, schema, weights,
                                            top_tied=ties[name][position])
                record[name] = {"source": candidate.sources[0] if candidate else None,
                                "correct": bool(candidate and verdict[(candidate.sources[0], item.index)]),
                                "confidence": round(self.model.predict(found), 6), "share": round(found["share"], 6),
                                "features": {k: round(v, 6) for k, v in found.items()}}
            records.append(record)
        return records

    def _summary(self, records: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
        count = len(records)

        def accuracy(hits: int) -> float | None:
            return round(hits / count, 4) if count else None

        files = {n: accuracy(sum(r["files"][n] for r in records)) for n in names}
        best = max(names, key=lambda n: (files[n] or 0.0, -names.index(n)))
        def judged(selector: str, key: str) -> dict[str, Any]:
            return confidence_report([r[selector][key] for r in records], [r[selector]["correct"] for r in records])

        return {
            "benchmark": self.benchmark.name, "scorer": self.scorer.name, "questions": count,
            "selectors": {s: accuracy(sum(r[s]["correct"] for r in records)) for s in self.selectors},
            "confidence": {s: {"model": judged(s, "confidence"), "share": judged(s, "share")}
                           for s in self.selectors} if records else {},
            "confidence_model": self.model.fitted_on,
            "against_vote": {s: compare_by_level([r["vote"]["correct"] for r in records],
                                                 [r[s]["correct"] for r in records],
                                                 [r["difficulty"] for r in records])
                             for s in self.selectors if s != "vote"} if records else {},
            "best_single": {"name": best, "accuracy": files[best]},
            "oracle": accuracy(sum(any(r["files"].values()) for r in records)),
            "files": files,
        }
