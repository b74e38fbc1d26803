"""BIRD mini-dev's Soft-F1, worked out by hand on small results."""

from __future__ import annotations

import pytest

from mscsql.evaluation.matching import soft_f1


@pytest.mark.parametrize(("gold", "pred", "expected"), [
    ([], [], 1.0),
    ([(1,)], [], 0.0),
    ([], [(1,)], 0.0),
    ([(1, "a"), (2, "b")], [(1, "a"), (2, "b")], 1.0),
    # duplicates are dropped first
    ([(1, "a"), (1, "a")], [(1, "a")], 1.0),
    # rows pair by position: the second gold row has one of its two values in the second predicted row
    # tp = 1 + 0.5, fp = 0.5, fn = 0.5: precision 0.75, recall 0.75
    ([(1, "a"), (2, "b")], [(1, "a"), (2, "c")], 0.75),
    # an extra predicted row is one whole false positive: tp 1, fp 1, fn 0 -> P 0.5, R 1, F1 2/3
    ([(1,)], [(1,), (2,)], 2 / 3),
    # a missing predicted row is one whole false negative: tp 1, fp 0, fn 1 -> 2/3
    ([(1,), (2,)], [(1,)], 2 / 3),
    # the same rows in another order pair differently: tp 0, fp 2, fn 2
    ([(1,), (2,)], [(2,), (1,)], 0.0),
    # 1 and 1.0 are equal values, as in Python
    ([(1,)], [(1.0,)], 1.0),
    # widths: a wider predicted row counts its extra values as false positives, in units of the gold width
    ([(1,)], [(1, 5)], 2 / 3),
])
def test_soft_f1_by_hand(gold: list[tuple], pred: list[tuple], expected: float) -> None:
    assert soft_f1(gold, pred) == pytest.approx(expected)
