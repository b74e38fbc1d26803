"""Score prediction files against a benchmark: parallel, cached, resumable.

Work goes in chunks of questions (grouped by database). For each chunk every distinct statement (gold
and predictions of every file) runs once through :func:`mscsql.db.execute_many`; gold results come from
the on-disk cache when they are there. Multi-database scorers (test-suite) first run everything on the
first database and only then run what still matches on the other variants (the official tool also stops
at the first database where a prediction fails; the verdict is the same). Each finished chunk is appended
to ``OUT/results.jsonl`` and flushed, so a killed run resumes where it stopped; at the end the file is
rewritten in (file, question) order, and the summary, report and plot are written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mscsql.benchmarks.loaders import Benchmark, BenchmarkItem
from mscsql.benchmarks.predictions import PredictionFile
from mscsql.db import connect, execute_many
from mscsql.db.base import Database
from mscsql.db.guard import NO_STATEMENT, check_sql, is_read_only
from mscsql.defaults import ExecutionLimits, checked_limits, default_workers
from mscsql.errors import ConfigError, DatasetError, UnsafeSQLError
from mscsql.evaluation.cache import GoldCache
from mscsql.evaluation.equivalence import holds_no_statement, textually_equivalent, token_key
from mscsql.evaluation.scorers import PreparedGold, Scorer
from mscsql.evaluation.workers import fork_context, results_in_workers
from mscsql.fileio import ChunkAppender, claim_run_folder, output_folder
from mscsql.progress import DeferredBar
from mscsql.types import TRUSTED_BUDGET, ExecutionItem, ExecutionResult, ExecutionStatus, ResultBudget

log = logging.getLogger(__name__)

RESULTS = "results.jsonl"
RUN = "run.json"


@dataclass
class ScoreRun:
    benchmark: Benchmark
    files: list[PredictionFile]
    scorer: Scorer
    output: Path
    cache: GoldCache
    workers: int = field(default_factory=default_workers)
    timeout_s: float = 30.0
    max_rows: int = 1_000_000
    chunk_size: int = 50
    command: str = ""
    progress: bool = True
    #: what this run executed: gold statements run / taken from the cache, prediction statements run
    stats: Counter[str] = field(default_factory=Counter)
    #: score chunks in worker processes when ``workers`` > 1 (threads share one core for the Python work)
    parallel_processes: bool = True
    #: processes that timed the right predictions (r-ves, ves), set by the timing
    timing_processes: int = 0
    #: the byte budget of each prediction's result; gold queries are trusted and get ``gold_budget``
    budget: ResultBudget = field(default_factory=ResultBudget)
    gold_budget: ResultBudget = TRUSTED_BUDGET

    def __post_init__(self) -> None:
        self.timeout_s, self.max_rows = checked_limits(self.timeout_s, self.max_rows, "scoring")
        if not isinstance(self.chunk_size, int) or self.chunk_size < 1:
            raise ConfigError(f"scoring: chunk size {self.chunk_size!r} is not usable", hint="give a whole number of "
                              "questions, at least 1")


def _identity(run: ScoreRun) -> dict[str, Any]:
    targets = sorted({item.database or "" for item in run.benchmark.items})
    return {"benchmark": run.benchmark.name, "scorer": run.scorer.name, "dataset_files": run.benchmark.files,
            "missing_databases": list(run.benchmark.missing_databases),
            "databases_sha256": hashlib.sha256("\n".join(targets).encode()).hexdigest(),
            "predictions": [{"name": f.name, "sha256": f.sha256} for f in run.files],
            "timeout_s": run.timeout_s, "max_rows": run.max_rows,
            "budget": {"predictions": asdict(run.budget), "gold": asdict(run.gold_budget)}}


def _check_output(run: ScoreRun) -> None:
    names = [f.name for f in run.files]
    if len(set(names)) != len(names):
        raise DatasetError("two prediction files have the same name in this run: " +
                           ", ".join(sorted({n for n in names if names.count(n) > 1})))
    output_folder(run.output)
    claim_run_folder(run.output, _identity(run), what="results of a different run (benchmark, scorer, prediction "
                     "files or limits differ)", has_results=(run.output / RESULTS).is_file())


def _read_done(path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """Rows already written; a line cut short by a kill is dropped (and removed from the file)."""
    done: dict[tuple[str, int], dict[str, Any]] = {}
    if not path.is_file():
        return done
    good_lines = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not line.endswith("\n"):
                continue
            done.setdefault((row["prediction_file"], row["index"]), row)
            good_lines.append(line)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(good_lines), encoding="utf-8")
    os.replace(tmp, path)
    return done


#: the fewest questions in a chunk when chunks shrink towards the end of a parallel run
MIN_CHUNK = 8


def _chunks(items: list[BenchmarkItem], size: int, workers: int = 1) -> Iterator[list[BenchmarkItem]]:
    """The questions in database order, in chunks of ``size``; with several workers the last chunks shrink (to a
    share of what is left, down to :data:`MIN_CHUNK` or ``size`` if smaller), so that no worker is left alone with
    a large chunk at the end while the others wait."""
    ordered = sorted(items, key=lambda i: (i.db_id, i.index))
    start = 0
    while start < len(ordered):
        step = size
        if workers > 1:
            step = min(size, max(MIN_CHUNK, -(-(len(ordered) - start) // (2 * workers))))
        yield ordered[start:start + step]
        start += step


class _Databases:
    """Read-only databases opened with the scorer's text decoding; files are closed after each chunk."""

    def __init__(self, decoding: str, workers: int) -> None:
        self._decoding = decoding
        self._execution = ExecutionLimits(workers=workers)
        self._open: dict[str, Database] = {}

    def get(self, target: str) -> Database:
        if target not in self._open:
            self._open[target] = connect(target, text_decoding=self._decoding, execution=self._execution)
        return self._open[target]

    def release_files(self) -> None:
        for target in [t for t in self._open if "://" not in t]:
            self._open.pop(target).close()

    def close(self) -> None:
        for db in self._open.values():
            db.close()
        self._open.clear()


def _empty_result(text: str) -> ExecutionResult:
    return ExecutionResult(sql=text, status=ExecutionStatus.OK)


@dataclass
class _Context:
    """What scoring a chunk needs; small and picklable, so a chunk can be scored in another process."""

    scorer: Scorer
    dialect: str
    file_names: list[str]
    timeout_s: float
    max_rows: int
    workers: int
    cache_dir: str | None
    budget: ResultBudget
    gold_budget: ResultBudget
    stats: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, run: ScoreRun, workers: int) -> _Context:
        return cls(scorer=run.scorer, dialect=run.benchmark.dialect, file_names=[f.name for f in run.files],
                   timeout_s=run.timeout_s, max_rows=run.max_rows, workers=workers,
                   cache_dir=str(run.cache.folder) if run.cache.folder is not None else None,
                   budget=run.budget, gold_budget=run.gold_budget)


class _Chunk:
    """One chunk of questions x pending prediction files."""

    def __init__(self, run: _Context, cache: GoldCache, databases: _Databases, items: list[BenchmarkItem],
                 pending: dict[int, list[int]], predictions: dict[tuple[int, int], str]) -> None:
        self.run = run
        self.cache = cache
        self.databases = databases
        self.items = items
        self.pending = pending
        self.predictions = predictions
        self.golds: dict[int, PreparedGold] = {}
        self.preds: dict[tuple[int, int], str] = {}
        self.results: dict[tuple[str, str], ExecutionResult] = {}
        #: (question, file) pairs whose prediction is textually equivalent to the gold query: not executed
        self.equivalent: set[tuple[int, int]] = set()

    def _execute(self, statements: set[tuple[str, str]], gold: set[tuple[str, str]]) -> None:
        """Fill ``self.results`` for (database, text) pairs; gold ones through the cache."""
        run, cache = self.run, self.cache
        todo = [s for s in statements if s not in self.results]
        keys: dict[tuple[str, str], str] = {}
        if cache.enabled:
            for pair in todo:
                if pair in gold:
                    key = cache.key(pair[0], pair[1], run.scorer.text_decoding, run.max_rows, run.gold_budget)
                    if key is not None:
                        keys[pair] = key
            cached = cache.get_many(list(keys.values()))
            for pair, key in keys.items():
                # a result that took longer than this run's timeout allows would have timed out here
                if key in cached and cached[key].elapsed_s < run.timeout_s:
                    self.results[pair] = cached[key]
        to_run = []
        for pair in todo:
            if pair in self.results:
                continue
            if run.scorer.blank_prediction_is_empty_result and pair not in gold and self._blank(pair):
                self.results[pair] = _empty_result(pair[1])
                continue
            to_run.append(pair)
        run.stats["gold_from_cache"] += sum(1 for pair in todo if pair in gold and pair in self.results)
        run.stats["gold_executed"] += sum(1 for pair in to_run if pair in gold)
        run.stats["predictions_executed"] += sum(1 for pair in to_run if pair not in gold)
        # gold queries are trusted and get the larger budget; predictions get the candidates' budget
        executed = execute_many([ExecutionItem(self.databases.get(db), text,
                                               run.gold_budget if (db, text) in gold else run.budget)
                                 for db, text in to_run], workers=run.workers, timeout_s=run.timeout_s,
                                max_rows=run.max_rows)
        fresh: dict[str, ExecutionResult] = {}
        for pair, result in zip(to_run, executed, strict=True):
            self.results[pair] = result
            if pair in keys and result.status is not ExecutionStatus.TIMEOUT:
                fresh[keys[pair]] = result
        cache.put_many(fresh)

    def _blank(self, pair: tuple[str, str]) -> bool:
        """Whether the prediction holds no statement (only spaces, comments or semicolons): read from its text or
        its tokens, without the guard's parse; text whose tokens cannot be trusted asks the guard."""
        dialect = self.databases.get(pair[0]).dialect
        blank = holds_no_statement(pair[1], dialect)
        if blank is not None:
            return blank
        try:
            check_sql(pair[1], dialect)
        except UnsafeSQLError as err:
            return err.reason == NO_STATEMENT
        return False

    def score(self) -> list[dict[str, Any]]:
        run = self.run
        rows: list[dict[str, Any]] = []
        live: list[tuple[BenchmarkItem, int]] = []
        for item in self.items:
            for f in self.pending[item.index]:
                if not run.scorer.databases(item):
                    rows.append(_row(item, run.file_names[f], correct=False, status="skipped",
                                     error=f"database {item.db_id} is missing"))
                else:
                    live.append((item, f))
        for item in {i.index: i for i, _f in live}.values():
            self.golds[item.index] = run.scorer.prepare_gold(item)
        representatives: dict[tuple[Any, ...], str] = {}
        several_files = len(run.file_names) > 1
        for item, f in live:
            pred = run.scorer.prepare_prediction(self.predictions[(item.index, f)])
            if textually_equivalent(pred, self.golds[item.index].text, run.dialect):
                self.equivalent.add((item.index, f))
            key = token_key(pred, run.dialect) if several_files else None
            # predictions of several files that differ only in keyword case, spacing or comments run once
            self.preds[(item.index, f)] = pred if key is None else representatives.setdefault(key, pred)

        verdicts: dict[tuple[int, int], dict[str, Any]] = {}
        remaining = live
        stage = 0
        while remaining:
            statements: set[tuple[str, str]] = set()
            gold: set[tuple[str, str]] = set()
            for item, f in remaining:
                for db in self._stage_databases(item, stage):
                    gold.add((db, self.golds[item.index].text))
                    statements.add((db, self.golds[item.index].text))
                    if (item.index, f) not in self.equivalent:
                        statements.add((db, self.preds[(item.index, f)]))
            self._execute(statements, gold)
            still: list[tuple[BenchmarkItem, int]] = []
            judged: dict[tuple[int, str], dict[str, Any] | None] = {}  # files with the same statement agree
            for item, f in remaining:
                equivalent = (item.index, f) in self.equivalent
                statement = self.golds[item.index].text if equivalent else self.preds[(item.index, f)]
                if (item.index, statement) not in judged:
                    judged[(item.index, statement)] = self._judge(item, f, self._stage_databases(item, stage))
                verdict = judged[(item.index, statement)]
                if verdict is None:
                    if stage == 0 and len(run.scorer.databases(item)) > 1:
                        still.append((item, f))
                    else:
                        verdicts[(item.index, f)] = {"correct": True, "status": "ok", "error": None}
                else:
                    verdicts[(item.index, f)] = dict(verdict)
                if run.scorer.graded and (item.index, f) in verdicts:
                    verdicts[(item.index, f)].setdefault("score", 1.0 if verdicts[(item.index, f)]["correct"] else 0.0)
            remaining = still
            stage += 1
        for item, f in live:
            rows.append(_row(item, run.file_names[f], **verdicts[(item.index, f)]))
        return rows

    def _stage_databases(self, item: BenchmarkItem, stage: int) -> tuple[str, ...]:
        databases = self.run.scorer.databases(item)
        return databases[:1] if stage == 0 else databases[1:]

    def _judge(self, item: BenchmarkItem, f: int, databases: Iterable[str]) -> dict[str, Any] | None:
        """None when the prediction matches on every given database, else the failing verdict."""
        gold = self.golds[item.index]
        pred_text = gold.text if (item.index, f) in self.equivalent else self.preds[(item.index, f)]
        for db in databases:
            gold_result = self.results[(db, gold.text)]
            pred_result = self.results[(db, pred_text)]
            if not gold_result.ok:  # the official tools score the question 0 (Spider's stops with an error)
                return {"correct": False, "status": _status(pred_result), "error": _error(pred_result),
                        "gold_status": _status(gold_result), "gold_error": f"{Path(db).name}: {_error(gold_result)}"}
            if not pred_result.ok:
                return {"correct": False, "status": _status(pred_result), "error": _error(pred_result)}
            if gold_result.truncated or pred_result.truncated:
                return {"correct": False, "status": "error",
                        "error": f"result larger than {self.run.max_rows} rows or its byte budget: not compared"}
            if self.run.scorer.graded:
                graded = self.run.scorer.score(gold, gold_result, pred_result)
                if graded != 1.0:
                    return {"correct": False, "status": "ok", "error": None, "score": graded}
            elif not self.run.scorer.matches(gold, gold_result, pred_result):
                return {"correct": False, "status": "ok", "error": None}
        return None


def _error(result: ExecutionResult) -> str | None:
    if result.status is ExecutionStatus.REJECTED:
        return f"refused by the read-only guard: {result.error}"
    return result.error


def _status(result: ExecutionResult) -> str:
    if result.status in (ExecutionStatus.TIMEOUT, ExecutionStatus.TOO_LARGE):
        return result.status.value
    return "ok" if result.ok else "error"


def _row(item: BenchmarkItem, file_name: str, *, correct: bool, status: str, error: str | None,
         gold_status: str = "ok", gold_error: str | None = None, score: float | None = None) -> dict[str, Any]:
    row = {"index": item.index, "question_id": item.question_id, "db_id": item.db_id,
           "prediction_file": file_name, "difficulty": item.difficulty, "correct": correct, "status": status,
           "error": error, "gold_status": gold_status, "gold_error": gold_error}
    if score is not None:  # graded scorers: the score beside the verdict
        row["score"] = score
    return row


def score(run: ScoreRun) -> list[dict[str, Any]]:
    """Score every prediction file; returns the rows of ``results.jsonl`` in (file, question) order."""
    if run.scorer.name == "test-suite":
        lacking = sorted({i.db_id for i in run.benchmark.items if i.database and not i.variants})
        if lacking:
            raise DatasetError(f"the test-suite scorer needs test_suite_database/<db_id>/ folders; none for: "
                               f"{', '.join(lacking)}", hint="download the test-suite databases, or use spider-exec")
    if run.scorer.executes and run.benchmark.items and not any(run.scorer.databases(i) for i in run.benchmark.items):
        missing = sorted({i.db_id for i in run.benchmark.items})
        raise DatasetError(f"none of the {len(run.benchmark.items)} questions of {run.benchmark.name} has its database "
                           f"here, so nothing can be scored (missing: {', '.join(missing[:5])}"
                           f"{', ...' if len(missing) > 5 else ''})",
                           hint="put the databases where the benchmark's layout expects them, or give --db-url")
    _check_output(run)
    results_path = run.output / RESULTS
    if not run.scorer.executes:  # compared as text: quick, so done in one pass
        from mscsql.evaluation.exact_match import match_rows

        rows = match_rows(run, _row)
        _rewrite(results_path, rows)
        return rows
    done = _read_done(results_path)
    pending: dict[int, list[int]] = {}
    for item in run.benchmark.items:
        todo = [f for f, file in enumerate(run.files) if (file.name, item.index) not in done]
        if todo:
            pending[item.index] = todo
    total = sum(len(v) for v in pending.values())
    if done:
        log.info("resuming: %d results already in %s, %d to go", len(done), results_path, total)
    items = [i for i in run.benchmark.items if i.index in pending]
    chunks = list(_chunks(items, run.chunk_size, run.workers if run.parallel_processes else 1))
    jobs = [(chunk, {i.index: pending[i.index] for i in chunk},
             {(i.index, f): run.files[f].sql[i.index] for i in chunk for f in pending[i.index]}) for chunk in chunks]
    with DeferredBar(total, f"scoring ({run.scorer.name})", "pred", enabled=run.progress) as bar, \
            ChunkAppender(results_path) as out, closing(_scored(run, jobs)) as scored:
        for rows, stats in scored:  # closed on any error here too, which stops the workers
            out.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
            run.stats.update(stats)
            bar.update(len(rows))
            done.update(((r["prediction_file"], r["index"]), r) for r in rows)
    rows = _finalize(done, results_path, run)
    if run.scorer.timed:  # right predictions timed against their gold queries, after every verdict is in
        from mscsql.evaluation.efficiency import add_timings

        rows = add_timings(rows, run)
        _rewrite(results_path, rows)
    return rows


_Job = tuple[list[BenchmarkItem], dict[int, list[int]], dict[tuple[int, int], str]]


def _scored(run: ScoreRun, jobs: list[_Job]) -> Iterator[tuple[list[dict[str, Any]], Counter[str]]]:
    """Score the chunks, yielding each one's rows as it finishes: in worker processes when there are several
    workers and chunks (the comparisons and result conversions are Python work the threads would share one
    core for), else here, with ``workers`` threads for the statements."""
    processes = fork_context() if run.workers > 1 and len(jobs) > 1 and run.parallel_processes else None
    if processes is not None:
        context = _Context.of(run, workers=1)
        _warm_up(run.benchmark.dialect)
        # chunks not finished when the run is interrupted are scored again on resume
        yield from results_in_workers(_score_in_worker, ((context, job) for job in jobs), run.workers, processes)
        return
    context = _Context.of(run, workers=run.workers)
    databases = _Databases(run.scorer.text_decoding, run.workers)
    try:
        for chunk, pending, predictions in jobs:
            context.stats = Counter()
            rows = _Chunk(context, run.cache, databases, chunk, pending, predictions).score()
            databases.release_files()
            yield rows, context.stats
    finally:
        databases.close()


def _warm_up(dialect: str) -> None:
    """Load once, before the workers are forked, what each of them would otherwise load for itself at the same
    time: the SQLite layer, sqlglot's dialect with the guard's tokenizer and parser (kept by this thread, which
    a forked worker continues)."""
    import mscsql.db.sqlite  # noqa: F401

    is_read_only("SELECT 1", dialect)


_WORKER_CACHES: dict[str | None, GoldCache] = {}


def _score_in_worker(context: _Context, job: _Job) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Runs in a worker process: one chunk, with this process's own connections and cache handle."""
    cache = _WORKER_CACHES.get(context.cache_dir)
    if cache is None:
        cache = _WORKER_CACHES[context.cache_dir] = GoldCache(context.cache_dir)
    databases = _Databases(context.scorer.text_decoding, context.workers)
    try:
        chunk, pending, predictions = job
        rows = _Chunk(context, cache, databases, chunk, pending, predictions).score()
        return rows, context.stats
    finally:
        databases.close()


def _finalize(done: dict[tuple[str, int], dict[str, Any]], path: Path, run: ScoreRun) -> list[dict[str, Any]]:
    """Every row of this run in (file, question) order, written over ``path`` in that order."""
    rows = list(done.values())
    order = {f.name: n for n, f in enumerate(run.files)}
    rows = [r for r in rows if r["prediction_file"] in order]
    rows.sort(key=lambda r: (order[r["prediction_file"]], r["index"]))
    _rewrite(path, rows)
    return rows


def _rewrite(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    os.replace(tmp, path)
