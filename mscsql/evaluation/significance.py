"""Is a difference in accuracy between two systems (or selectors) on the same questions real?

- The **paired bootstrap**: the questions are drawn with replacement ``resamples`` times (numpy's
  ``default_rng(seed).integers(0, n, size=(resamples, n))``, so a seed gives the same interval on any machine),
  and the accuracy difference of each draw is kept; the 95 % interval is their 2.5th and 97.5th percentiles
  (numpy's linear interpolation).
- The **exact McNemar test**: of the questions the two disagree on, ``b`` only A gets right and ``c`` only B;
  under no difference each is a fair coin, so the two-sided p-value is ``min(1, 2 * P(X <= min(b, c)))`` for
  ``X ~ Binomial(b + c, 1/2)`` (1 when they never disagree), computed exactly with integers.

Both are reported overall and per difficulty (Spider hardness, BIRD difficulty).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

RESAMPLES = 10_000


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """The two-sided exact McNemar p-value for ``only_a`` questions right only in A and ``only_b`` only in B."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2 ** n)))


def paired_bootstrap(a: Sequence[bool], b: Sequence[bool], *, resamples: int = RESAMPLES, seed: int = 0
                     ) -> tuple[float, float]:
    """The 95 % interval of accuracy(B) - accuracy(A) over ``resamples`` paired resamplings of the questions."""
    if len(a) != len(b) or not a:
        raise ValueError("the paired bootstrap needs two equally long, non-empty lists of verdicts")
    difference = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    draws = np.random.default_rng(seed).integers(0, len(a), size=(resamples, len(a)))
    means = difference[draws].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def compare_verdicts(a: Sequence[bool], b: Sequence[bool], *, resamples: int = RESAMPLES, seed: int = 0
                     ) -> dict[str, Any]:
    """Accuracies, their difference (B - A) with its paired-bootstrap 95 % interval, and the McNemar test."""
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    low, high = paired_bootstrap(a, b, resamples=resamples, seed=seed)
    n = len(a)
    return {"questions": n, "accuracy_a": round(sum(a) / n, 6), "accuracy_b": round(sum(b) / n, 6),
            "difference": round((sum(b) - sum(a)) / n, 6), "interval_95": [round(low, 6), round(high, 6)],
            "only_a": only_a, "only_b": only_b, "mcnemar_p": mcnemar_exact(only_a, only_b)}


def compare_by_level(a: Sequence[bool], b: Sequence[bool], levels: Sequence[str | None], *,
                     resamples: int = RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """:func:`compare_verdicts` overall and for each difficulty level (in the order levels first appear)."""
    out = {"overall": compare_verdicts(a, b, resamples=resamples, seed=seed)}
    for level in dict.fromkeys(level for level in levels if level):
        picked = [i for i, found in enumerate(levels) if found == level]
        out[level] = compare_verdicts([a[i] for i in picked], [b[i] for i in picked], resamples=resamples, seed=seed)
    return out
