"""Graded agreement between execution results and the ``mbr`` selector, on real SQLite executions; every
expected similarity below is worked out by hand from the rows."""

from __future__ import annotations

import sqlite3

import pytest

from mscsql.config import ExecutionSettings, SelectionConfig
from mscsql.critic import CandidateResult, group_by_result
from mscsql.critic.agreement import agreement_features, graded_support, result_similarity, similarity_matrix
from mscsql.critic.base import SelectionItem
from mscsql.critic.mbr import MBRSelector
from mscsql.critic.registry import build_selector
from mscsql.critic.selectors import VoteSelector
from mscsql.db import connect
from mscsql.errors import ConfigError


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("agreement") / "shop.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE staff (id INTEGER PRIMARY KEY, name TEXT, city TEXT, age INTEGER, salary REAL);
        INSERT INTO staff VALUES (1, 'Ann', 'Paris', 31, 100.0), (2, 'Bob', 'Bath', 45, 80.0),
                                 (3, 'Cy', 'Paris', 28, 90.0), (4, 'Di', 'Rome', 52, 120.0);
    """)
    conn.commit()
    conn.close()
    with connect(path, execution=ExecutionSettings(timeout_s=2.0)) as database:
        yield database


def sim(db, a: str, b: str) -> float:
    return result_similarity(db.execute(a), db.execute(b))


def test_the_same_answer_in_another_shape_is_fully_similar(db) -> None:
    assert sim(db, "SELECT name, age FROM staff", "SELECT age AS years, name AS who FROM staff ORDER BY age") == 1.0
    assert sim(db, "SELECT 42", "SELECT '42'") == 1.0  # a number written as text
    assert sim(db, "SELECT 'Paris'", "SELECT ' paris'") == 1.0  # case and surrounding spaces
    assert sim(db, "SELECT name FROM staff WHERE age > 99", "SELECT city FROM staff WHERE age < 0") == 1.0  # no rows


def test_partial_answers_get_the_share_they_have_in_common(db) -> None:
    # a subset of the rows: 2 of the 4 names
    assert sim(db, "SELECT name FROM staff WHERE city = 'Paris'", "SELECT name FROM staff") == pytest.approx(0.5)
    # an extra column: the names agree, the second column is unmatched (half of the wider result)
    assert sim(db, "SELECT name FROM staff", "SELECT name, salary FROM staff") == pytest.approx(0.5)
    # overlapping rows: {Ann, Cy} against {Cy, Di} share 1 of 3
    assert sim(db, "SELECT name FROM staff WHERE city = 'Paris'",
               "SELECT name FROM staff WHERE age BETWEEN 25 AND 30 OR age > 50") == pytest.approx(1 / 3)
    # duplicates count: {Paris, Paris, Bath, Rome} against {Paris, Bath, Rome} share 3 of 4
    assert sim(db, "SELECT city FROM staff", "SELECT DISTINCT city FROM staff") == pytest.approx(0.75)


def test_numbers_are_graded_by_how_close_they_are(db) -> None:
    assert sim(db, "SELECT COUNT(*) FROM staff", "SELECT 3") == pytest.approx(1 - 1 / 4)
    assert sim(db, "SELECT AVG(age) FROM staff", "SELECT 39") == pytest.approx(1 - 0 / 39)  # 156 / 4 = 39
    assert sim(db, "SELECT MAX(salary) FROM staff", "SELECT 12.0") == pytest.approx(1 - 108 / 120)
    # one row, two columns: the name matches, the age is 45 against 31
    assert sim(db, "SELECT name, age FROM staff WHERE id = 2", "SELECT 'Bob', 31") == pytest.approx((1 + 31 / 45) / 2)
    assert sim(db, "SELECT -5", "SELECT 5") == 0.0  # opposite signs share nothing
    assert sim(db, "SELECT 0", "SELECT 0.0") == 1.0


def test_failures_and_empty_results_agree_with_nothing_else(db) -> None:
    error = db.execute("SELECT nope FROM staff")
    assert not error.ok
    assert result_similarity(error, error) == 0.0
    assert result_similarity(error, db.execute("SELECT name FROM staff")) == 0.0
    assert sim(db, "SELECT name FROM staff WHERE age > 99", "SELECT name FROM staff") == 0.0
    assert sim(db, "SELECT name FROM staff", "SELECT age FROM staff") == 0.0  # no value in common


def test_similarity_is_symmetric_and_the_matrix_holds_it(db) -> None:
    queries = ["SELECT name FROM staff", "SELECT name, salary FROM staff", "SELECT COUNT(*) FROM staff",
               "SELECT 3", "SELECT name FROM staff WHERE city = 'Paris'", "SELECT nope"]
    results = [db.execute(q) for q in queries]
    groups = group_by_result([CandidateResult(q, ("m",), r) for q, r in zip(queries, results, strict=True)])
    matrix = similarity_matrix(groups)
    for i in range(len(groups)):
        for j in range(len(groups)):
            assert matrix[i][j] == pytest.approx(result_similarity(groups[i].result, groups[j].result)
                                                 if i != j else float(groups[i].ok))
            assert matrix[i][j] == pytest.approx(matrix[j][i])


def candidates(db, proposals: list[tuple[str, tuple[str, ...]]]) -> tuple[CandidateResult, ...]:
    return tuple(CandidateResult(sql, sources, db.execute(sql)) for sql, sources in proposals)


def test_graded_support_counts_close_samples_of_other_groups(db) -> None:
    found = candidates(db, [("SELECT COUNT(*) FROM staff", ("a", "b")), ("SELECT 3", ("c",)),
                            ("SELECT nope", ("d",))])
    groups = group_by_result(found)
    s = 1 - 1 / 4  # 4 against 3
    assert graded_support(groups) == pytest.approx([(2 + s) / 4, (1 + 2 * s) / 4, 1 / 4])
    assert graded_support(groups, weight=0) == pytest.approx([2 / 4, 1 / 4, 1 / 4])  # the vote's shares
    features = agreement_features(groups)
    assert features[0][1] == pytest.approx(s) and features[2][1] == 0.0


def test_mbr_settles_a_tie_for_the_answer_the_others_are_closest_to(db) -> None:
    # three generators, three different answers: the vote takes the first generator's; the count of 4 is
    # closest to both others (3 and 5), so mbr takes it
    item = SelectionItem("How many staff are there?", None, "", candidates(db, [
        ("SELECT 3", ("m1",)), ("SELECT COUNT(*) FROM staff", ("m2",)), ("SELECT 5", ("m3",))]),
        ("m1", "m2", "m3"))
    [voted] = VoteSelector().choose([item])
    [chosen] = MBRSelector().choose([item])
    assert voted.candidate is not None and voted.candidate.sql == "SELECT 3"
    assert chosen.candidate is not None and chosen.candidate.sql == "SELECT COUNT(*) FROM staff"
    assert chosen.scores is not None and sum(chosen.scores) == pytest.approx(1.0)
    assert chosen.scores[chosen.group] == max(chosen.scores)


def test_mbr_keeps_a_majority_that_its_rivals_do_not_come_near(db) -> None:
    item = SelectionItem("Names of staff in Paris?", None, "", candidates(db, [
        ("SELECT name FROM staff WHERE city = 'Rome'", ("m1",)),
        ("SELECT name FROM staff WHERE city = 'Paris'", ("m2", "m3")),
        ("SELECT name FROM staff WHERE city = 'Bath'", ("m4",))]), ("m1", "m2", "m3", "m4"))
    [chosen] = MBRSelector().choose([item])
    assert chosen.candidate is not None and "Paris" in chosen.candidate.sql


def test_mbr_with_weight_zero_is_the_vote_and_failures_win_only_when_all_failed(db) -> None:
    items = [
        SelectionItem("q", None, "", candidates(db, [("SELECT 3", ("m1",)), ("SELECT COUNT(*) FROM staff", ("m2",)),
                                                     ("SELECT 5", ("m3",))]), ("m1", "m2", "m3")),
        SelectionItem("q", None, "", candidates(db, [("SELECT nope", ("m1", "m2")), ("SELECT 1", ("m3",))]),
                      ("m1", "m2", "m3")),
        SelectionItem("q", None, "", candidates(db, [("DELETE FROM staff", ("m1",)),
                                                     ("SELECT x FROM y", ("m2", "m3"))]), ("m1", "m2", "m3")),
        SelectionItem("q", None, "", (), ("m1",)),
    ]
    zero = MBRSelector(weight=0).choose(items)
    voted = VoteSelector().choose(items)
    assert [c.candidate.sql if c.candidate else None for c in zero] == \
           [c.candidate.sql if c.candidate else None for c in voted]
    default = MBRSelector().choose(items)
    assert default[1].candidate is not None and default[1].candidate.sql == "SELECT 1"  # the only success
    # a refusal and an error: every candidate failed, so the larger failure (the guard never ran the DELETE)
    assert default[2].candidate is not None and default[2].candidate.sql == "SELECT x FROM y"
    assert db.execute("SELECT COUNT(*) FROM staff").rows == ((4,),)
    assert default[3].candidate is None and default[3].group is None


def test_mbr_is_built_by_name_and_from_a_config() -> None:
    assert isinstance(build_selector("mbr"), MBRSelector)
    built = build_selector(SelectionConfig(selector="mbr", agreement_weight=0.5))
    assert isinstance(built, MBRSelector) and built.weight == 0.5
    with pytest.raises(ConfigError, match="0 or more"):
        MBRSelector(weight=-1)
