"""``mscsql eval compare``: two scored runs on the same questions, their accuracy difference with a paired
bootstrap interval and the exact McNemar test, overall and per difficulty (:mod:`mscsql.evaluation.significance`).

A run is a scoring output folder (``mscsql eval score``: ``results.jsonl``), the folder of a pipeline run
(``mscsql eval run``: ``score/results.jsonl``) or a ``results.jsonl`` itself; a run that scored several prediction
files needs the file's name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mscsql.errors import DatasetError
from mscsql.evaluation.significance import RESAMPLES, compare_by_level


@dataclass(frozen=True)
class Verdicts:
    """One prediction file's verdicts in a run: question index -> (right, difficulty)."""

    run: str
    file: str
    by_question: dict[int, tuple[bool, str | None]]


def _results_file(run: Path) -> Path:
    for candidate in (run, run / "results.jsonl", run / "score" / "results.jsonl"):
        if candidate.is_file():
            return candidate
    raise DatasetError(f"{run} holds no scored run (no results.jsonl there or in score/)",
                       hint="give the folder of mscsql eval score (or mscsql eval run), or its results.jsonl")


def read_verdicts(run: str | Path, file: str | None = None) -> Verdicts:
    """The verdicts of ``file`` (needed when the run scored several) in the run at ``run``."""
    path = _results_file(Path(run))
    rows: dict[str, dict[int, tuple[bool, str | None]]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            name, index, correct, status = row["prediction_file"], int(row["index"]), row["correct"], row["status"]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise DatasetError(f"{path}, line {number}, is not a scoring result",
                               hint="give a results.jsonl written by mscsql eval score") from None
        if status != "skipped":
            rows.setdefault(name, {})[index] = (bool(correct), row.get("difficulty"))
    if not rows:
        raise DatasetError(f"{path} has no scored question")
    if file is None:
        if len(rows) > 1:
            raise DatasetError(f"{path} scored {len(rows)} prediction files; say which to compare",
                               hint=f"--file-a/--file-b one of: {', '.join(sorted(rows))}")
        file = next(iter(rows))
    if file not in rows:
        raise DatasetError(f"{path} has no prediction file {file!r}", hint=f"it has: {', '.join(sorted(rows))}")
    return Verdicts(str(run), file, rows[file])


def compare_runs(a: Verdicts, b: Verdicts, *, resamples: int = RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """B against A on their shared questions (which must be all of each run's)."""
    shared = sorted(set(a.by_question) & set(b.by_question))
    only = len(set(a.by_question) ^ set(b.by_question))
    if only or not shared:
        raise DatasetError(f"the runs scored different questions ({len(a.by_question)} and {len(b.by_question)}, "
                           f"{len(shared)} in both): a paired comparison needs the same questions",
                           hint="score both on the same benchmark, databases and --limit")
    levels = [a.by_question[i][1] or b.by_question[i][1] for i in shared]
    result = compare_by_level([a.by_question[i][0] for i in shared], [b.by_question[i][0] for i in shared], levels,
                              resamples=resamples, seed=seed)
    return {"a": {"run": a.run, "file": a.file}, "b": {"run": b.run, "file": b.file}, "resamples": resamples,
            "seed": seed, **result}
