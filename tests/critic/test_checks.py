"""The answer checks a critic's head reads: each one on answers worked out by hand."""

from __future__ import annotations

import math
from typing import Any

import pytest

from mscsql.critic.checks import CHECKS, answer_checks, no_answer, order_direction, question_values
from mscsql.types import ExecutionResult, ExecutionStatus


def ran(rows: list[tuple[Any, ...]]) -> ExecutionResult:
    return ExecutionResult("", ExecutionStatus.OK, ("c",) * (len(rows[0]) if rows else 1), tuple(rows), len(rows))


def checks(question: str, sql: str, rows: list[tuple[Any, ...]] | None = None, evidence: str | None = None
           ) -> dict[str, float]:
    return dict(zip(CHECKS, answer_checks(question, evidence, sql, ran(rows if rows is not None else [(1,)])),
                    strict=True))


def test_no_answer_is_nothing_back_or_a_count_of_nothing() -> None:
    assert no_answer(ran([]))
    assert no_answer(ran([(0,)])) and no_answer(ran([(None, 0)])) and no_answer(ran([(0.0,)]))
    assert not no_answer(ran([(3,)])) and not no_answer(ran([(0,), (0,)])) and not no_answer(ran([("0",)]))
    assert not no_answer(ExecutionResult("x", ExecutionStatus.ERROR, error="no such table"))


def test_the_order_must_follow_the_superlative_when_one_row_is_kept() -> None:
    question = "What is the name of the country with the smallest population?"
    assert checks(question, "SELECT name FROM country ORDER BY population DESC LIMIT 1")["direction_conflict"] == 1.0
    assert checks(question, "SELECT name FROM country ORDER BY population LIMIT 1")["direction_conflict"] == 0.0
    assert checks(question, "SELECT name FROM country ORDER BY population ASC LIMIT 1")["direction_conflict"] == 0.0
    most = "Which singer has the most songs?"
    assert checks(most, "SELECT s FROM t GROUP BY s ORDER BY count(*) LIMIT 1")["direction_conflict"] == 1.0
    assert checks(most, "SELECT s FROM t GROUP BY s ORDER BY count(*) DESC LIMIT 1")["direction_conflict"] == 0.0
    # no kept row, both cues, or a cue only inside a value: nothing to say
    assert checks(most, "SELECT s FROM t ORDER BY n")["direction_conflict"] == 0.0
    both = "List the highest and lowest scores."
    assert checks(both, "SELECT s FROM t ORDER BY s LIMIT 1")["direction_conflict"] == 0.0
    assert order_direction("SELECT a FROM t WHERE b = 'x order by y desc' ORDER BY a LIMIT 1") == "ASC"
    assert order_direction("SELECT a FROM t") is None


def test_values_named_by_the_question_and_values_nobody_asked_for() -> None:
    question = 'How many TV channels use the language "English" since 2010?'
    assert question_values(question) == ["english", "2010"]
    both = checks(question, "SELECT count(*) FROM tv WHERE language = 'English' AND year >= 2010")
    assert both["values_missing"] == 0.0 and both["values_unasked"] == 0.0
    assert checks(question, "SELECT count(*) FROM tv WHERE language = 'English'")["values_missing"] == 0.5
    extra = checks(question, "SELECT count(*) FROM tv WHERE language = 'English' AND country = 'Italy' "
                             "AND year > 2010")
    assert extra["values_unasked"] == pytest.approx(math.log(2))
    # a LIKE pattern counts by its text; a value the evidence names is asked for
    assert checks("Which names contain w?", "SELECT n FROM t WHERE n LIKE '%w%'")["values_unasked"] == 0.0
    hinted = checks("Which clubs are active?", "SELECT n FROM c WHERE status = 'A'", evidence="active means status 'A'")
    assert hinted["values_unasked"] == 0.0
    assert checks("How many clubs?", "SELECT count(*) FROM c")["values_missing"] == 0.0  # nothing named
