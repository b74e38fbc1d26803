"""The labelled answers ``mscsql eval calibrate`` fits a confidence model on, from the runs that record them.

- ``mscsql select`` folders: each question's choice by the selector asked for, with its confidence features and
  whether it was right (``selections.jsonl``);
- ``mscsql eval run`` folders: each answer of the pipeline as it ran (its generators and their samples, its
  selector, the generators' fixed reliabilities if configured) with the features its confidence read
  (``selections.jsonl``), and whether it was right from the run's scores (``score/results.jsonl``). Answers
  taken from a verified example (confidence 1) are left out: nothing was chosen.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mscsql.errors import ConfigError
from mscsql.records import read_records
from mscsql.stages import CONFIDENCE_FEATURES

log = logging.getLogger(__name__)

SELECTIONS = "selections.jsonl"
SCORES = Path("score") / "results.jsonl"


def labelled_answers(run: Path, selector: str = "vote") -> tuple[list[dict[str, float]], list[bool], str]:
    """(confidence features, right, what the run was) of every answer in ``run``, a folder written by
    ``mscsql select`` (the choices of ``selector``) or by ``mscsql eval run``; answers recorded before a feature
    existed read 0 for it, which is said (a model fitted on them learns nothing from it)."""
    rows, labels, kind = _labelled(run, selector)
    missing = sorted({name for row in rows for name in CONFIDENCE_FEATURES if name not in row})
    if missing:
        short = sum(any(name not in row for name in CONFIDENCE_FEATURES) for row in rows)
        log.warning("%d of the %d answers in %s were recorded without %s (an earlier mscsql): they read 0 for it; "
                    "run again with this version to fit on it", short, len(rows), run, ", ".join(missing))
    return rows, labels, kind


def _labelled(run: Path, selector: str) -> tuple[list[dict[str, float]], list[bool], str]:
    path = run / SELECTIONS
    if not path.is_file():
        raise ConfigError(f"{run} has no {SELECTIONS}", hint="give folders written by mscsql select or mscsql eval run")
    records = list(read_records(path))
    if records and "confidence_features" in records[0]:
        judged = pipeline_verdicts(run, records)
        return [r["confidence_features"] for r, _ok in judged], [ok for _r, ok in judged], "mscsql eval run"
    if records and "candidates" in records[0]:
        raise ConfigError(f"{path} was written by an mscsql eval run that did not record confidence features",
                          hint="run mscsql eval run again into a new folder with this version of mscsql")
    rows, labels = [], []
    for record in records:
        chosen = record.get(selector)
        if not isinstance(chosen, dict) or "features" not in chosen:
            raise ConfigError(f"{path} has no {selector!r} choices with confidence features",
                              hint="run mscsql select with that selector (a current mscsql writes the features), or "
                                   "give an mscsql eval run folder")
        rows.append(chosen["features"])
        labels.append(bool(chosen["correct"]))
    return rows, labels, "mscsql select"


def pipeline_verdicts(run: Path, records: list[dict[str, Any]]) -> list[tuple[dict[str, Any], bool]]:
    """An ``mscsql eval run``'s chosen answers (``records``, from its ``selections.jsonl``) with whether each was
    right. Its scorer numbered the answered questions 0..k-1 in benchmark order (the order of their indexes); a
    question the scorer skipped (no gold result) and an answer from a verified example are left out."""
    scores = run / SCORES
    if not scores.is_file():
        raise ConfigError(f"{run} has answers but no scores ({SCORES})",
                          hint="let mscsql eval run finish (run it again with the same arguments: it resumes)")
    verdicts = {r["index"]: r for r in read_records(scores)}
    ordered = sorted(records, key=lambda r: r["index"])
    if len(verdicts) != len(ordered):
        raise ConfigError(f"{run}: {len(ordered)} answers but {len(verdicts)} scores",
                          hint="run mscsql eval run again with the same arguments to bring the scores up to date")
    return [(record, bool(verdicts[position]["correct"])) for position, record in enumerate(ordered)
            if record.get("source") != "verified" and record.get("confidence_features") is not None
            and verdicts[position]["status"] != "skipped"]
