"""The intent features: does a query do what its question asks? Expected values written by hand for each
feature, on queries whose shape is plain to read."""

from __future__ import annotations

import math

import pytest

from mscsql.critic.intent import INTENT_FEATURES, intent_features
from mscsql.types import ExecutionResult, ExecutionStatus


def rows(count: int) -> ExecutionResult:
    return ExecutionResult("q", ExecutionStatus.OK, ("n",), tuple((i,) for i in range(count)), count)


def of(question: str, sql: str, result: ExecutionResult | None = None) -> dict[str, float]:
    found = intent_features(question, sql, result if result is not None else rows(3))
    assert len(found) == len(INTENT_FEATURES)
    return dict(zip(INTENT_FEATURES, found, strict=True))


@pytest.mark.parametrize(("question", "sql", "feature", "expected"), [
    ("How many singers are there?", "SELECT name FROM singer", "count_without_aggregate", 1.0),
    ("How many singers are there?", "SELECT count(*) FROM singer", "count_without_aggregate", 0.0),
    ("Who is the oldest singer?", "SELECT name FROM singer", "superlative_without_order", 1.0),
    ("Who is the oldest singer?", "SELECT name FROM singer ORDER BY age DESC LIMIT 1", "superlative_without_order",
     0.0),
    ("Who is the oldest singer?", "SELECT max(age) FROM singer", "superlative_without_order", 0.0),
    ("How many singers are from each country?", "SELECT count(*) FROM singer", "each_without_group", 1.0),
    ("How many singers are from each country?", "SELECT country, count(*) FROM singer GROUP BY country",
     "each_without_group", 0.0),
    ("Which singers have not performed?", "SELECT name FROM singer", "negation_without_not", 1.0),
    ("Which singers have not performed?",
     "SELECT name FROM singer WHERE id NOT IN (SELECT singer_id FROM concert)", "negation_without_not", 0.0),
    ("List the different countries of singers.", "SELECT country FROM singer", "distinct_without_distinct", 1.0),
    ("List the different countries of singers.", "SELECT DISTINCT country FROM singer", "distinct_without_distinct",
     0.0),
    # a question that asks none of it leaves nothing undone
    ("List the singers.", "SELECT name FROM singer", "count_without_aggregate", 0.0),
    ("List the singers.", "SELECT name FROM singer", "superlative_without_order", 0.0),
])
def test_what_the_question_asks_and_the_query_leaves_undone(question: str, sql: str, feature: str,
                                                           expected: float) -> None:
    assert of(question, sql)[feature] == expected


def test_the_shape_of_the_query() -> None:
    joined = of("Names of singers in concerts in 2014 or 2015",
                "SELECT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.id = T2.singer_id "
                "JOIN concert AS T3 ON T2.concert_id = T3.id WHERE T3.year = 2014 UNION "
                "SELECT name FROM singer WHERE id IN (SELECT singer_id FROM singer_in_concert)")
    assert joined["joins"] == 2.0 and joined["set_operation"] == 1.0 and joined["subqueries"] >= 1.0
    grouped = of("Countries with more than two singers",
                 "SELECT country, count(*) FROM singer GROUP BY country HAVING count(*) > 2")
    assert grouped["group_by"] == 1.0 and grouped["having"] == 1.0 and grouped["aggregate"] == 1.0
    assert grouped["select_columns"] == 2.0 and grouped["joins"] == 0.0
    easy = of("How many singers are there?", "SELECT count(*) FROM singer")
    assert easy["hardness"] == 0.0 and easy["order_limit"] == 0.0 and easy["distinct"] == 0.0
    like = of("Singers whose name starts with A", "SELECT name FROM singer WHERE name LIKE 'A%' AND age != 3")
    assert like["like"] == 1.0 and like["negation"] == 1.0
    # a query sqlglot cannot read has no known shape and counts as the hardest
    broken = of("How many singers?", "SELEC count(* FROM")
    assert broken["hardness"] == 3.0 and broken["joins"] == 0.0 and broken["aggregate"] == 0.0


def test_coverage_of_the_question_and_the_size_of_the_result() -> None:
    full = of("Show the name and country of every singer", "SELECT name, country FROM singer")
    part = of("Show the name and country of every singer", "SELECT name FROM concert")
    assert full["question_coverage"] > part["question_coverage"] > 0.0
    assert of("q", "SELECT 1", rows(0))["result_log_rows"] == 0.0
    assert of("q", "SELECT 1", rows(1))["result_one_row"] == 1.0
    assert of("q", "SELECT 1", rows(9))["result_log_rows"] == pytest.approx(math.log(10) / 5)
    failed = ExecutionResult("q", ExecutionStatus.ERROR, error="no such table")
    assert of("q", "SELECT 1 FROM t", failed)["result_log_rows"] == 0.0
    assert of("q", "SELECT 1 FROM t", failed)["result_one_row"] == 0.0
