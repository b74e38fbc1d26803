"""Generator reliability estimated without labels, and the reliability-weighted share the confidence reads,
checked against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from mscsql.critic.base import SelectionItem
from mscsql.critic.confidence import ConfidenceModel, features
from mscsql.critic.grouping import CandidateResult, group_by_result
from mscsql.critic.reliability import generator_reliability, reliability_weights, reliable_share
from mscsql.critic.selectors import VoteSelector
from mscsql.types import ExecutionResult, ExecutionStatus


def _ok(value: int) -> ExecutionResult:
    return ExecutionResult(f"SELECT {value}", ExecutionStatus.OK, ("n",), ((value,),), 1)


def _failed() -> ExecutionResult:
    return ExecutionResult("SELECT nope", ExecutionStatus.ERROR, error="no such column: nope")


def _question(agreeing: tuple[str, ...], dissenting: tuple[str, ...]) -> list[CandidateResult]:
    """``agreeing`` generators' samples return 1, ``dissenting`` ones' return 2 (in priority order)."""
    out = [CandidateResult("SELECT 1", agreeing, _ok(1))]
    return out + ([CandidateResult("SELECT 2", dissenting, _ok(2))] if dissenting else [])


def test_a_generator_that_agrees_with_the_others_more_often_is_more_reliable() -> None:
    # a and b always answer 1; c answers 2 on 60 of 100 questions. Without a, the vote is b's 1 (it ties with c's
    # 2 and appears first), so a agrees 100 times in 100; so does b; c agrees with a and b's 1 on 40.
    batch = [_question(("a", "b"), ("c",)) for _ in range(60)] + [_question(("a", "b", "c"), ()) for _ in range(40)]
    found = generator_reliability(batch)
    assert found == pytest.approx({"a": 101 / 102, "b": 101 / 102, "c": 41 / 102})
    weights = reliability_weights(found)
    assert weights["a"] == pytest.approx(math.log(101)) and weights["c"] == 0.05  # log-odds below 0 -> the floor


def test_every_sample_counts_and_a_question_without_another_successful_result_is_skipped() -> None:
    # a has two samples per question, b one. On the first 100, a's two agree with b; on 20 more, b fails, so a has
    # no vote to agree with (skipped) while b is judged against a's 1 and disagrees.
    agree = [CandidateResult("SELECT 1", ("a", "a", "b"), _ok(1))]
    b_fails = [CandidateResult("SELECT 1", ("a", "a"), _ok(1)), CandidateResult("SELECT nope", ("b",), _failed())]
    found = generator_reliability([agree] * 100 + [b_fails] * 20)
    assert found["a"] == pytest.approx((200 + 1) / (200 + 2))
    assert found["b"] == pytest.approx((100 + 1) / (120 + 2))


def test_too_few_questions_give_no_estimate() -> None:
    batch = [_question(("a", "b"), ("c",))] * 99
    assert generator_reliability(batch) == {}
    assert generator_reliability(batch, min_questions=50) != {}


def test_the_reliable_share_weighs_each_sample_by_its_generator() -> None:
    candidates = [CandidateResult("SELECT 1", ("a", "b"), _ok(1)), CandidateResult("SELECT 2", ("c", "c"), _ok(2))]
    groups = group_by_result(candidates)
    assert reliable_share(groups, 0, {}) == pytest.approx(2 / 4)  # no weights: the plain share
    assert reliable_share(groups, 0, {"a": 2.0, "b": 1.0, "c": 0.5}) == pytest.approx(3 / 4)
    assert reliable_share(groups, 1, {"a": 2.0, "b": 1.0, "c": 0.5}) == pytest.approx(1 / 4)
    # a generator without a weight weighs the mean of the others': c counts 1.5 per sample
    assert reliable_share(groups, 0, {"a": 2.0, "b": 1.0}) == pytest.approx(3 / 6)


def test_the_confidence_reads_the_reliable_share() -> None:
    candidates = (CandidateResult("SELECT count(*) FROM t", ("a", "b"), _ok(1)),
                  CandidateResult("SELECT sum(x) FROM t", ("c",), _ok(2)))
    item = SelectionItem("How many rows are there?", None, "", candidates, ("a", "b", "c"))
    [choice] = VoteSelector().choose([item])
    plain = features(item.question, None, candidates, choice)
    assert plain["reliable_share"] == pytest.approx(plain["share"]) == pytest.approx(2 / 3)
    weighted = features(item.question, None, candidates, choice, weights={"a": 0.05, "b": 0.05, "c": 3.0})
    assert weighted["reliable_share"] == pytest.approx(0.1 / 3.1)
    model = ConfidenceModel.load()
    assert "reliable_share" in model.features
    # agreement of generators that agree with the rest more often makes the packaged model more confident
    assert model.predict(plain) > model.predict(weighted)


def test_a_tie_in_the_others_vote_goes_to_the_earlier_generator() -> None:
    # without a, b's 1 and c's 2 tie: with priority (a, c, b) the vote is c's 2 although b's 1 appears first
    question = [CandidateResult("SELECT 1", ("a", "b"), _ok(1)), CandidateResult("SELECT 2", ("c",), _ok(2))]
    assert generator_reliability([question] * 100, ("a", "c", "b"))["a"] == pytest.approx(1 / 102)
    assert generator_reliability([question] * 100, ("a", "b", "c"))["a"] == pytest.approx(101 / 102)
