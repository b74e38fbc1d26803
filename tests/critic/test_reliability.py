"""Generator reliability estimated without labels, and the reliability-weighted share the confidence reads,
checked against values worked out by hand."""

from __future__ import annotations

import json
import math

import pytest

from mscsql.critic.base import SelectionItem
from mscsql.critic.confidence import ConfidenceModel, features
from mscsql.critic.grouping import CandidateResult, group_by_result
from mscsql.critic.reliability import (
    Reliability,
    answers_observed,
    estimate_reliability,
    generator_reliability,
    observed,
    reliability_weights,
    reliable_share,
)
from mscsql.critic.selectors import VoteSelector
from mscsql.errors import ConfigError
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


def test_reliabilities_are_kept_in_a_file_and_read_back(tmp_path) -> None:
    batch = [_question(("a", "b"), ("c",)) for _ in range(60)] + [_question(("a", "b", "c"), ()) for _ in range(40)]
    estimate = estimate_reliability((observed(q) for q in batch), estimated_on={"benchmark": "hand-made"})
    assert estimate.questions == 100 and estimate.judged == {"a": 100, "b": 100, "c": 100}
    assert estimate.agreed == {"a": 100, "b": 100, "c": 40}
    estimate.save(tmp_path / "reliability.json")
    written = json.loads((tmp_path / "reliability.json").read_text())
    assert written["generators"]["c"] == {"agreed": 40, "judged": 100, "reliability": round(41 / 102, 6),
                                          "weight": 0.05}
    back = Reliability.load(tmp_path / "reliability.json")
    assert back.weights() == pytest.approx({"a": math.log(101), "b": math.log(101), "c": 0.05})
    assert back.estimated_on == {"benchmark": "hand-made"}
    assert Reliability(back.agreed, back.judged, 99).weights() == {}  # too few questions: all weigh the same


@pytest.mark.parametrize(("content", "says"), [
    (None, "cannot read the reliabilities"),
    ("{not json", "is not a reliability file"),
    ('{"questions": 200}', "is not a reliability file"),
    ('{"questions": 200, "generators": {}}', "holds no generator"),
    ('{"questions": 1e400, "generators": {"a": {"agreed": 5, "judged": 9}}}', "is not a reliability file"),
    ('{"questions": 200, "generators": {"a": {"agreed": 5, "judged": 3}}}', "agreeing more often"),
])
def test_a_file_that_is_not_reliabilities_is_one_clear_error(tmp_path, content: str | None, says: str) -> None:
    path = tmp_path / "reliability.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=says) as raised:
        Reliability.load(path)
    assert "mscsql eval run" in (raised.value.hint or "") or "two generators" in (raised.value.hint or "")


def test_recorded_answers_are_read_by_their_groups_and_verified_answers_are_left_out() -> None:
    # a question where a (2 samples) and b (1) return group 0 and c (1) returns group 1; one where c's group
    # failed; one answered from a verified example (not the generators' agreement at all)
    records = [
        {"candidates": [{"generators": {"a": 2, "b": 1}, "group": 0}, {"generators": {"c": 1}, "group": 1}],
         "groups": [{"count": 3, "ok": True}, {"count": 1, "ok": True}]},
        {"candidates": [{"generators": {"a": 1}, "group": 0}, {"generators": {"b": 1, "c": 1}, "group": 1}],
         "groups": [{"count": 1, "ok": True}, {"count": 2, "ok": False}]},
        {"source": "verified", "candidates": [{"generators": {"verified": 1}, "group": 0}],
         "groups": [{"count": 1, "ok": True}]},
    ]
    found = estimate_reliability(answers_observed(records, ["a", "b", "c"]), ["a", "b", "c"])
    # question 1: without a, b's group 0 and c's group 1 tie and b is earlier: a's 2 samples agree; b and c
    # are judged against group 0 (a's 2 samples): b agrees, c does not. Question 2: without a, only a failed
    # group: a is not judged; b and c are judged against a's group 0 and disagree.
    assert found.questions == 2
    assert found.judged == {"a": 2, "b": 2, "c": 2} and found.agreed == {"a": 2, "b": 1, "c": 0}


def test_a_candidate_no_known_generator_proposed_neither_votes_nor_is_judged() -> None:
    # a and b disagree; an unknown source (a record naming no configured generator) agrees with b: it gives b's
    # result no vote, and is no generator of the estimate
    records = [{"candidates": [{"generators": {"a": 1}, "group": 0}, {"generators": {"b": 1}, "group": 1},
                               {"generators": {"x": 1}, "group": 1}],
                "groups": [{"count": 1, "ok": True}, {"count": 2, "ok": True}]}]
    found = estimate_reliability(answers_observed(records, ["a", "b"]), ["a", "b"])
    assert found.judged == {"a": 1, "b": 1} and found.agreed == {"a": 0, "b": 0}
