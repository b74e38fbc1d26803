"""Confidence: the features of a choice, the logistic model (fit, save, load), and the measures of how well a
confidence tells right answers from wrong ones, checked against values worked out by hand."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path

import pytest

from mscsql.critic.base import SelectionItem
from mscsql.critic.confidence import FEATURES, ConfidenceModel, features, fit
from mscsql.critic.grouping import CandidateResult
from mscsql.critic.selectors import VoteSelector
from mscsql.errors import ConfigError
from mscsql.evaluation.confidence import accuracy_at_coverage, auroc, calibration_error, confidence_report
from mscsql.types import Column, ExecutionResult, ExecutionStatus, Schema, Table


def _ok(sql: str, rows: list[tuple]) -> ExecutionResult:
    return ExecutionResult(sql, ExecutionStatus.OK, ("n",), tuple(rows), len(rows))


def test_accuracy_at_coverage_shares_out_ties_by_expectation() -> None:
    confidence = [0.9, 0.9, 0.5, 0.5, 0.5, 0.5, 0.1, 0.1, 0.1, 0.1]
    correct = [True, True, True, True, False, False, True, False, False, False]
    assert accuracy_at_coverage(confidence, correct, 0.2) == 1.0
    # 0.5 of 10 = the two at 0.9 and three of the four at 0.5, which are right half the time: (2 + 1.5) / 5
    assert accuracy_at_coverage(confidence, correct, 0.5) == pytest.approx(3.5 / 5)
    assert accuracy_at_coverage(confidence, correct, 1.0) == pytest.approx(0.5)
    # one confidence for all: ties can neither help nor hurt, every coverage gives the overall accuracy
    for coverage in (0.1, 0.35, 0.8, 0.9):
        assert accuracy_at_coverage([0.7] * 10, correct, coverage) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        accuracy_at_coverage(confidence, correct, 0.0)


def test_auroc_is_the_share_of_right_wrong_pairs_ordered_right() -> None:
    rng = random.Random(3)
    confidence = [rng.choice([0.1, 0.3, 0.3, 0.6, 0.9]) for _ in range(60)]
    correct = [rng.random() < c for c in confidence]
    pairs = [(a, b) for (a, ra), (b, rb) in itertools.product(zip(confidence, correct, strict=True), repeat=2)
             if ra and not rb]
    expected = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs) / len(pairs)
    assert auroc(confidence, correct) == pytest.approx(expected)
    assert auroc([0.2, 0.8], [False, True]) == 1.0 and auroc([0.5, 0.5], [False, True]) == 0.5
    assert auroc([0.1, 0.2], [True, True]) is None


def test_calibration_error_by_hand() -> None:
    # bin [0.9, 1.0): confidence 0.95 twice, one right -> |0.5 - 0.95| for 2 of 4; bin [0.1, 0.2): 0.15 twice,
    # none right -> |0 - 0.15| for the other 2
    assert calibration_error([0.95, 0.95, 0.15, 0.15], [True, False, False, False]) == pytest.approx(
        (2 * 0.45 + 2 * 0.15) / 4)
    assert calibration_error([1.0], [True]) == 0.0
    report = confidence_report([0.9, 0.2], [True, False])
    assert report["auroc"] == 1.0 and report["accuracy_at_coverage"]["0.5"] == 1.0


def test_the_features_of_a_split_choice() -> None:
    schema = Schema("sqlite", (Table("orders", (Column("status", "TEXT"), Column("quantity", "INTEGER"))),))
    five = _ok("SELECT count(*) FROM orders", [(5,)])
    candidates = (CandidateResult("SELECT count(*) FROM orders", ("a", "a", "b"), five),
                  CandidateResult("SELECT COUNT(*) FROM orders o", ("b",), five),
                  CandidateResult("SELECT quantity FROM orders", ("c",), _ok("SELECT quantity FROM orders", [(1,)])),
                  CandidateResult("SELECT nope", ("c",), ExecutionResult("SELECT nope", ExecutionStatus.ERROR)))
    item = SelectionItem("How many orders were cancelled?", None, "", candidates, ("a", "b", "c"))
    [choice] = VoteSelector().choose([item])
    found = features(item.question, None, candidates, choice, schema)
    assert set(found) == set(FEATURES)
    # graded agreement: the count of 1 is a fifth as close to 5 as 5 is (1 - 4/5); the failure agrees with nothing
    assert found["graded_share"] == pytest.approx((4 + 0.2 * 1) / 6)
    assert found["share_x_log_samples"] == pytest.approx(4 / 6 * math.log(6))
    assert found["share"] == pytest.approx(4 / 6) and found["margin"] == pytest.approx(3 / 6)
    assert found["generators"] == pytest.approx(2 / 3) and found["failed"] == pytest.approx(1 / 6)
    assert found["sql_variety"] == pytest.approx(2 / 4) and found["candidates_per_sample"] == pytest.approx(4 / 6)
    assert found["chosen_failed"] == 0 and found["asks_count"] == 1
    assert found["aggregate"] == 1 and found["count_without_aggregate"] == 0
    # "cancelled" is not a table or column word here; "orders" is, and the query uses it
    assert found["schema_words_unused"] == 0


def test_a_model_fits_saves_loads_and_orders_by_what_it_learnt(tmp_path: Path) -> None:
    rng = random.Random(0)
    rows = [{"share": rng.random(), "no_answer": float(rng.random() < 0.2)} for _ in range(400)]
    labels = [rng.random() < (0.1 + 0.8 * r["share"]) * (0.3 if r["no_answer"] else 1.0) for r in rows]
    model = fit(rows, labels, names=("share", "no_answer"), fitted_on={"what": "a test"})
    assert model.coef[0] > 0 > model.coef[1]
    assert model.predict({"share": 0.9}) > model.predict({"share": 0.2})
    assert model.predict({"share": 0.9, "no_answer": 1.0}) < model.predict({"share": 0.9, "no_answer": 0.0})
    model.save(tmp_path / "m.json")
    again = ConfidenceModel.load(tmp_path / "m.json")
    assert again == model and 0 <= again.predict({}) <= 1
    (tmp_path / "bad.json").write_text(json.dumps({**model.to_dict(), "features": ["share", "magic"]}))
    with pytest.raises(ConfigError, match="unknown features: magic"):
        ConfidenceModel.load(tmp_path / "bad.json")
    (tmp_path / "nan.json").write_text(json.dumps({**model.to_dict(), "scale": [0.0, 1.0]}))
    with pytest.raises(ConfigError, match="not finite, or a scale that is not above 0"):
        ConfidenceModel.load(tmp_path / "nan.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ConfigError, match="not JSON"):
        ConfidenceModel.load(tmp_path / "broken.json")
    with pytest.raises(ConfigError, match="cannot read"):
        ConfidenceModel.load(tmp_path / "missing.json")


def test_the_packaged_model_is_more_confident_when_the_samples_agree() -> None:
    model = ConfidenceModel.load()
    assert model.features == FEATURES and model.fitted_on.get("answers", 0) > 10_000
    five = _ok("SELECT count(*) FROM orders", [(5,)])
    other = _ok("SELECT count(*) FROM orders WHERE 0", [(3,)])

    def confidence(agreeing: int, others: int) -> float:
        candidates = (CandidateResult("SELECT count(*) FROM orders", ("g",) * agreeing, five),
                      *((CandidateResult("SELECT count(*) FROM orders WHERE 0", ("g",) * others, other),)
                        if others else ()))
        item = SelectionItem("How many orders are there?", None, "", candidates, ("g",))
        [choice] = VoteSelector().choose([item])
        return model.predict(features(item.question, None, candidates, choice))

    assert 0 < confidence(5, 4) < confidence(8, 1) < confidence(9, 0) < 1


def test_an_answer_whose_query_failed_has_no_confidence() -> None:
    model = ConfidenceModel.load()
    failed = ExecutionResult(sql="SELECT nope FROM orders", status=ExecutionStatus.ERROR, error="no such column: nope")
    candidates = (CandidateResult("SELECT nope FROM orders", ("g",) * 4, failed),)
    item = SelectionItem("How many orders are there?", None, "", candidates, ("g",))
    [choice] = VoteSelector().choose([item])
    found = features(item.question, None, candidates, choice)
    assert found["chosen_failed"] == 1.0
    assert model.predict(found) == 0.0  # four samples agreeing on an error are not evidence of a right answer
