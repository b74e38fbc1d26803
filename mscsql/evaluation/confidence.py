"""How well a confidence separates right answers from wrong ones: AUROC, accuracy at a coverage, and the expected
calibration error.

Accuracy at coverage c keeps the c·N most confident answers. Answers of equal confidence cannot be told apart,
so when the cut falls inside a run of equal confidences, that run is shared out by expectation: each of its
answers counts with the fraction of the run that fits, and its accuracy is the run's accuracy. Ties can then
neither help nor hurt (a confidence that is the same for every answer scores the overall accuracy at every
coverage).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import Any

COVERAGES = (0.5, 0.8, 0.9)


def accuracy_at_coverage(confidence: Sequence[float], correct: Sequence[bool], coverage: float) -> float:
    """The accuracy of the ``coverage`` share of answers with the highest confidence (ties shared out)."""
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage {coverage} is not in (0, 1]")
    if len(confidence) != len(correct):
        raise ValueError("as many confidences as verdicts are needed")
    if len(confidence) == 0:
        return 0.0
    wanted = coverage * len(confidence)
    taken = hits = 0.0
    ranked = sorted(zip(confidence, correct, strict=True), key=lambda pair: -pair[0])
    for _value, run in groupby(ranked, key=lambda pair: pair[0]):
        members = list(run)
        share = min(1.0, (wanted - taken) / len(members))
        taken += share * len(members)
        hits += share * sum(ok for _c, ok in members)
        if taken >= wanted - 1e-12:
            break
    return hits / taken


def auroc(confidence: Sequence[float], correct: Sequence[bool]) -> float | None:
    """The probability that a right answer is more confident than a wrong one (ties count half); None when
    every answer is right or every answer is wrong."""
    right = sum(1 for ok in correct if ok)
    wrong = len(correct) - right
    if not right or not wrong:
        return None
    ranked = sorted(zip(confidence, correct, strict=True), key=lambda pair: pair[0])
    rank_sum = 0.0
    position = 1
    for _value, run in groupby(ranked, key=lambda pair: pair[0]):
        members = list(run)
        average = position + (len(members) - 1) / 2  # tied answers share their ranks
        rank_sum += average * sum(1 for _c, ok in members if ok)
        position += len(members)
    return (rank_sum - right * (right + 1) / 2) / (right * wrong)


def calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """The expected calibration error: over ``bins`` equal-width bins of confidence, the mean gap between
    accuracy and confidence, weighted by how many answers fall in each."""
    if len(confidence) == 0:
        return 0.0
    totals: list[list[float]] = [[0, 0.0, 0.0] for _ in range(bins)]
    for value, ok in zip(confidence, correct, strict=True):
        slot = totals[min(bins - 1, max(0, int(value * bins)))]
        slot[0] += 1
        slot[1] += value
        slot[2] += float(ok)
    return sum(abs(hits - summed) for _n, summed, hits in totals) / len(confidence)


def confidence_report(confidence: Sequence[float], correct: Sequence[bool]) -> dict[str, Any]:
    """AUROC, accuracy at 50/80/90 % coverage (and at 100 %), and the expected calibration error."""
    area = auroc(confidence, correct)
    return {"auroc": round(area, 4) if area is not None else None,
            "accuracy_at_coverage": {f"{c:g}": round(accuracy_at_coverage(confidence, correct, c), 4)
                                     for c in (*COVERAGES, 1.0)},
            "ece": round(calibration_error(confidence, correct), 4)}
