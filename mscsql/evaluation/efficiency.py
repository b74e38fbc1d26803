"""How fast a right prediction runs against its gold query: BIRD's VES and mini-dev's R-VES.

For every prediction the ``bird`` rule finds right, the prediction and the gold query run one after the other
``repeats`` times on the question's database; each round gives the ratio gold time / prediction time. Ratios
outside the mean ± 3 standard deviations are dropped (the official tools' ``clean_abnormal``), and the question's
time ratio is the mean of the rest. A wrong prediction has ratio 0.

- **VES** (BIRD): a question scores ``sqrt(ratio)``; the run's VES is the mean over its questions.
- **R-VES** (BIRD mini-dev): the ratio earns a reward: 1.25 from 2 up, 1 from 1, 0.75 from 0.5, 0.5 from 0.25,
  0.25 below, 0 for a wrong prediction; the run's R-VES is the mean of ``sqrt(reward)``.

The official tools report both ×100. Timings here are each statement's execution and fetch in an open
read-only session (the official tools also time opening and closing the connection), so ratios lean a little
further from 1 on queries of a few milliseconds. Each question's row keeps ``time_ratio``, its ``reward`` or
``ves``, the number of rounds kept, and the rounds' relative spread (standard deviation / mean of the kept
ratios): the timing noise. Timings go to ``OUT/timings.jsonl`` as they are measured, so a stopped run resumes.
Questions are timed in the run's worker processes, each timing one question at a time (the official tools time
in ``num_cpus`` processes); ``--workers 1`` leaves the other cores idle while a question is timed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mscsql.db import connect
from mscsql.evaluation.workers import fork_context, results_in_workers
from mscsql.fileio import ChunkAppender
from mscsql.progress import DeferredBar

TIMINGS = "timings.jsonl"
#: R-VES rewards: (lowest ratio, reward), the highest first
REWARDS = ((2.0, 1.25), (1.0, 1.0), (0.5, 0.75), (0.25, 0.5))


def cleaned(ratios: Sequence[float]) -> list[float]:
    """The ratios strictly within the mean ± 3 standard deviations (all of them when they are all equal)."""
    values = np.asarray(ratios, dtype=np.float64)
    mean, std = values.mean(), values.std()
    kept = [float(x) for x in values if mean - 3 * std < x < mean + 3 * std]
    return kept or [float(x) for x in values]


def reward(ratio: float) -> float:
    """The R-VES reward of a right prediction whose time ratio is ``ratio`` (0 means wrong)."""
    if ratio <= 0:
        return 0.0
    return next((value for lowest, value in REWARDS if ratio >= lowest), 0.25)


def time_ratios(db: Any, gold: str, prediction: str, repeats: int, timeout_s: float) -> list[float]:
    """``repeats`` rounds of the prediction, then the gold query, on ``db``: gold time / prediction time each."""
    ratios = []
    for _ in range(repeats):
        predicted = db.execute(prediction, timeout_s=timeout_s)
        expected = db.execute(gold, timeout_s=timeout_s)
        if not predicted.ok or not expected.ok:
            return []
        ratios.append(expected.elapsed_s / max(predicted.elapsed_s, 1e-9))
    return ratios


def add_timings(rows: list[dict[str, Any]], run: Any) -> list[dict[str, Any]]:
    """``rows`` (a scoring run's, in order) with each right prediction timed against its gold query: in
    ``run.workers`` processes, each timing its own questions one at a time, as the official tools' ``num_cpus``
    processes do (``--workers 1`` times one question at a time on the whole machine)."""
    scorer = run.scorer
    path = Path(run.output) / TIMINGS
    done = _read_timings(path)
    items = {i.index: i for i in run.benchmark.items}
    files = {f.name: f for f in run.files}
    jobs: list[_Job] = []
    for row in rows:
        key = f"{row['prediction_file']}\t{row['index']}"
        if row["status"] == "skipped" or not row["correct"] or key in done:
            continue
        item = items[row["index"]]
        jobs.append((key, item.database, item.gold_sql, files[row["prediction_file"]].sql[item.index]))
    settings = _Settings(scorer.text_decoding, scorer.repeats, run.timeout_s)
    run.timing_processes = _processes(jobs, run.workers if run.parallel_processes else 1)
    with DeferredBar(len(jobs), f"timing ({scorer.name})", "pred", enabled=run.progress) as bar, \
            ChunkAppender(path) as sink, closing(_timed(jobs, settings, run.timing_processes)) as chunks:
        for timed in chunks:  # closed on any error here too, which stops the workers
            done.update(timed)
            sink.write("".join(json.dumps({"key": key, **timing}) + "\n" for key, timing in timed))
            bar.update(len(timed))
    return [_with_timing(row, done.get(f"{row['prediction_file']}\t{row['index']}"), scorer.name) for row in rows]


#: (timings key, database, gold query, prediction)
_Job = tuple[str, str, str, str]
#: questions timed per chunk: a chunk's timings are written together
CHUNK = 16


@dataclass(frozen=True)
class _Settings:
    decoding: str
    repeats: int
    timeout_s: float


def _processes(jobs: list[_Job], workers: int) -> int:
    """How many processes time ``jobs``: ``workers`` when there are several chunks and fork, else this one."""
    return workers if workers > 1 and len(jobs) > CHUNK and fork_context() is not None else 1


def _timed(jobs: list[_Job], settings: _Settings, processes: int) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Each chunk's timings as it finishes: in ``processes`` forked worker processes (see :func:`_processes`), or
    here when that is 1."""
    chunks = [jobs[start:start + CHUNK] for start in range(0, len(jobs), CHUNK)]
    if processes == 1:
        yield from (_time_chunk(chunk, settings) for chunk in chunks)
        return
    # chunks not finished when the run is interrupted are timed again on resume
    yield from results_in_workers(_time_chunk, ((chunk, settings) for chunk in chunks), processes, fork_context())


def _time_chunk(chunk: list[_Job], settings: _Settings) -> list[tuple[str, dict[str, Any]]]:
    opened: dict[str, Any] = {}
    try:
        timed = []
        for key, database, gold, prediction in chunk:
            if database not in opened:
                opened[database] = connect(database, text_decoding=settings.decoding)
            ratios = time_ratios(opened[database], gold, prediction, settings.repeats, settings.timeout_s)
            timed.append((key, _timing(ratios)))
        return timed
    finally:
        for db in opened.values():
            db.close()


def _timing(ratios: list[float]) -> dict[str, Any]:
    if not ratios:
        return {"time_ratio": 0.0, "rounds": 0, "spread": None}
    kept = cleaned(ratios)
    mean = sum(kept) / len(kept)
    return {"time_ratio": mean, "rounds": len(kept), "spread": float(np.std(kept) / mean) if mean else None}


def _with_timing(row: dict[str, Any], timing: dict[str, Any] | None, scorer: str) -> dict[str, Any]:
    if row["status"] == "skipped":
        return row
    ratio = timing["time_ratio"] if timing and row["correct"] else 0.0
    out = {**row, "time_ratio": ratio, "rounds": timing["rounds"] if timing else 0,
           "spread": timing["spread"] if timing else None}
    if scorer == "r-ves":
        out["reward"] = reward(ratio)
    else:
        out["ves"] = math.sqrt(ratio)
    return out


def _read_timings(path: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a kill: measured again
            continue
        found[record.pop("key")] = record
    return found


def efficiency_summary(rows: list[dict[str, Any]], scorer: str) -> dict[str, Any]:
    """The run's VES or R-VES (as a fraction; the official tools print it ×100) and its timing noise."""
    scored = [r for r in rows if r["status"] != "skipped"]
    if not scored:
        return {}
    values = [math.sqrt(r["reward"]) if scorer == "r-ves" else r["ves"] for r in scored]
    spreads = sorted(r["spread"] for r in scored if r.get("spread") is not None)
    return {scorer: round(sum(values) / len(values), 6),
            "timing_noise": {"median_relative_spread": round(spreads[len(spreads) // 2], 4) if spreads else None,
                             "timed_questions": len(spreads)}}
