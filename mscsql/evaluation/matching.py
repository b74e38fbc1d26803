"""Result comparison rules, one function per scorer family. Each takes the gold and predicted rows
(lists of tuples of JSON-safe cells) and says whether they match.

- :func:`spider_match`: the Spider test-suite evaluator's denotation match (``exec_eval.result_eq``):
  two empty results match whatever their columns; otherwise the row counts and column counts must agree
  and some permutation of the prediction's columns must make the two results equal as multisets of rows
  (as lists, when order matters). Before that, the official tool rejects when the rows, each with its
  cells sorted by ``str(value) + str(type(value))``, differ as sets (as lists when order matters); that
  filter is kept as it is, quirk included (see ``_quick_reject``). The official tool then prunes candidate
  permutations with 20 randomly drawn rows; pruning only drops permutations that cannot match, so
  searching every permutation consistent with *all* rows, as done here, gives the same verdict,
  deterministically.
- :func:`bird_match`: BIRD's ``set(predicted) == set(gold)``: duplicates, row order and column count
  beyond the set of tuples do not matter.
- :func:`strict_match`: mscsql's own stricter check: same columns count, rows compared as multisets (as
  lists when order matters), columns in the order written.
- :func:`soft_f1`: BIRD mini-dev's Soft-F1 (``evaluation_f1.py``), a graded score in [0, 1].
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from itertools import chain
from typing import Any

Rows = Sequence[tuple[Any, ...]]


_TYPE_TEXT: dict[type, str] = {}


def _type_key(value: Any) -> str:
    kind = type(value)
    text = _TYPE_TEXT.get(kind)
    if text is None:
        text = _TYPE_TEXT[kind] = str(kind)
    return str(value) + text


def _identical(gold: Rows, pred: Rows) -> bool:
    """Equal rows in the same order with cells of the same types: every filter and permutation test passes."""
    return list(gold) == list(pred) and (list(map(type, chain.from_iterable(gold)))
                                         == list(map(type, chain.from_iterable(pred))))


def _unordered_rows(rows: Rows) -> list[tuple[Any, ...]]:
    """Each row's cells sorted by ``str(value) + str(type(value))``, exactly as the official tool does."""
    if rows and len(rows[0]) == 1:
        return list(rows)
    return [tuple(sorted(row, key=_type_key)) for row in rows]


def _quick_reject(gold: Rows, pred: Rows, order_matters: bool) -> bool:
    """The official tool's first filter. It is not a pure necessary condition: sorting by the text of the value
    and its type can order ``1970`` (int) and ``1970.0`` (float) differently against a third cell, so rows
    that are equal up to int/float are sometimes rejected here, and the verdict must keep that."""
    left, right = _unordered_rows(gold), _unordered_rows(pred)
    return left != right if order_matters else set(left) != set(right)


def _consistent_permutations(gold: Rows, pred: Rows, width: int) -> Iterator[tuple[int, ...]]:
    """Permutations ``perm`` (prediction column ``perm[i]`` becomes column ``i``) such that every value of
    each moved prediction column occurs in the gold column it moves to."""
    gold_columns = [{row[i] for row in gold} for i in range(width)]
    pred_columns = [{row[j] for row in pred} for j in range(width)]
    allowed = [[j for j in range(width) if pred_columns[j] <= gold_columns[i]] for i in range(width)]

    def extend(prefix: list[int], used: set[int]) -> Iterator[tuple[int, ...]]:
        i = len(prefix)
        if i == width:
            yield tuple(prefix)
            return
        for j in allowed[i]:
            if j not in used:
                prefix.append(j)
                used.add(j)
                yield from extend(prefix, used)
                prefix.pop()
                used.discard(j)

    return extend([], set())


def spider_match(gold: Rows, pred: Rows, order_matters: bool) -> bool:
    if not gold and not pred:
        return True
    if len(gold) != len(pred):
        return False
    width = len(gold[0])
    if len(pred[0]) != width:
        return False
    if _identical(gold, pred):
        return True
    if _quick_reject(gold, pred, order_matters):
        return False
    gold_list = list(gold)
    if gold_list == list(pred):  # the identity permutation, in order: a match either way
        return True
    gold_counts = Counter(gold_list)
    if not order_matters and Counter(pred) == gold_counts:
        return True
    gold_set = set(gold_list)
    for perm in _consistent_permutations(gold, pred, width):
        moved = list(pred) if width == 1 else [tuple(row[j] for j in perm) for row in pred]
        if order_matters:
            if moved == gold_list:
                return True
        elif set(moved) == gold_set and Counter(moved) == gold_counts:
            return True
    return False


def bird_match(gold: Rows, pred: Rows) -> bool:
    return set(pred) == set(gold)


def strict_match(gold: Rows, pred: Rows, order_matters: bool, gold_width: int, pred_width: int) -> bool:
    if gold_width != pred_width:
        return False
    if order_matters:
        return list(gold) == list(pred)
    return Counter(gold) == Counter(pred)


def soft_f1(gold: Rows, pred: Rows) -> float:
    """BIRD mini-dev's Soft-F1 of a prediction's rows against the gold rows.

    Both are first deduplicated, keeping each row's first place; then the i-th gold row is paired with the i-th
    predicted row. In a pair, each predicted value found among the gold row's values is a match and each other
    one a false positive, each gold value not found among the predicted row's values a false negative, all
    counted in units of the gold row's width. A gold row with no partner is one whole false negative, a
    predicted row with no partner one whole false positive. The score is the F1 of the summed counts; two empty
    results score 1, and a score with no match 0."""
    if not gold and not pred:
        return 1.0
    gold_rows = list(dict.fromkeys(gold))
    pred_rows = list(dict.fromkeys(pred))
    matched = false_positive = false_negative = 0.0
    for position, gold_row in enumerate(gold_rows):
        if position >= len(pred_rows):
            false_negative += 1
            continue
        pred_row, width = pred_rows[position], len(gold_row)
        found = sum(1 for value in pred_row if value in gold_row)
        matched += found / width
        false_positive += (len(pred_row) - found) / width
        false_negative += sum(1 for value in gold_row if value not in pred_row) / width
    false_positive += max(0, len(pred_rows) - len(gold_rows))
    precision = matched / (matched + false_positive) if matched + false_positive > 0 else 0.0
    recall = matched / (matched + false_negative) if matched + false_negative > 0 else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
