"""SQL extraction from raw model outputs, deduplication keys, and candidate pooling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mscsql.db.guard import check_sql
from mscsql.errors import MscSqlError
from mscsql.generation.base import Sample
from mscsql.generation.candidates import Candidate, collect_candidates
from mscsql.generation.extract import extract_sql, normalized_key, resolve_sql
from mscsql.generation.transpile import ExtractedSQL

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent.parent / "data" / "sql_extraction.yaml").read_text(encoding="utf-8"))


def test_fixture_ids_are_unique() -> None:
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_extraction_cases(case: dict[str, Any]) -> None:
    result = extract_sql(case["text"], case["dialect"])
    assert isinstance(result, ExtractedSQL)
    assert result.status == case["status"], result
    assert result.source_dialect == case.get("transpiled_from"), result
    if case.get("transpiled_from"):
        # transpiled SQL is sqlglot's text: compare it up to formatting, and make sure the engine would take it
        assert normalized_key(result.sql, case["dialect"]) == normalized_key(case["sql"], case["dialect"]), result
        check_sql(result.sql, case["dialect"])
    else:
        assert result.sql == case["sql"]
    if case["status"] == "ok":
        assert result.ok and result.error is None
    else:
        assert not result.ok and result.error
        if "error_contains" in case:
            assert case["error_contains"] in result.error


def test_sql_that_parses_in_the_target_is_never_rewritten() -> None:
    text = "select  s.Name  ,AGE from Singer s   where s.Country='France'  -- french ones"
    for dialect in ("sqlite", "postgresql", "mysql"):
        assert extract_sql(text, dialect) == ExtractedSQL(text, "ok")


def test_syntax_errors_keep_the_text_and_the_parser_message() -> None:
    result = extract_sql("```sql\nSELECT name FROM singer GROUP country\n```", "postgresql")
    assert result.status == "syntax_error"
    assert result.sql == "SELECT name FROM singer GROUP country"
    assert "postgres" in (result.error or "")


def test_unknown_dialect_is_an_mscsql_error() -> None:
    with pytest.raises(MscSqlError):
        extract_sql("SELECT 1", "oracle-ish")


def test_resolve_sql_does_not_hunt_for_prose() -> None:
    assert resolve_sql("SELECT name FROM singer;\n", "sqlite") == ExtractedSQL("SELECT name FROM singer", "ok")
    assert resolve_sql("  ", "sqlite").status == "empty"
    top = resolve_sql("SELECT TOP 2 name FROM singer", "mysql")
    assert top.status == "ok" and top.source_dialect == "tsql"
    assert normalized_key(top.sql, "mysql") == normalized_key("SELECT name FROM singer LIMIT 2", "mysql")


# --- normalized_key ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("dialect", "variants"), [
    ("sqlite", ["SELECT name FROM singer WHERE age > 30",
                "select name from singer where age > 30;",
                "SELECT  name\n  FROM singer\n WHERE age>30 ;",
                'SELECT "name" FROM "singer" WHERE age > 30',
                "SELECT Name FROM Singer WHERE Age > 30",  # SQLite names are case-insensitive
                "SELECT name FROM singer WHERE age > 30 -- older ones",
                "SELECT [name] FROM `singer` WHERE age > 30"]),
    ("postgresql", ["SELECT count(*) FROM singer AS s WHERE s.country != 'France'",
                    "select COUNT(*) from singer s where s.country <> 'France'",
                    'SELECT count(*) FROM "singer" AS "s" WHERE "s"."country" != \'France\';',
                    "SELECT count(*) FROM Singer AS S WHERE S.Country != 'France'"]),
    ("mysql", ["SELECT name FROM singer ORDER BY age DESC LIMIT 3",
               "select `name` from `singer` order by `age` desc limit 3;"]),
])
def test_equivalent_spellings_share_a_key(dialect: str, variants: list[str]) -> None:
    keys = {normalized_key(sql, dialect) for sql in variants}
    assert len(keys) == 1, keys


@pytest.mark.parametrize(("dialect", "a", "b"), [
    ("sqlite", "SELECT name FROM singer WHERE country = 'France'", "SELECT name FROM singer WHERE country = 'france'"),
    ("sqlite", "SELECT name FROM singer", "SELECT age FROM singer"),
    ("sqlite", "SELECT 1", "SELECT 1.0"),
    ("sqlite", "SELECT name FROM singer ORDER BY age", "SELECT name FROM singer ORDER BY age DESC"),
    # quoted names keep their case in PostgreSQL: "Name" is another column than name
    ("postgresql", 'SELECT "Name" FROM singer', "SELECT name FROM singer"),
    # a double-quoted token is a string in MySQL, a name in SQLite
    ("mysql", 'SELECT "name" FROM singer', "SELECT name FROM singer"),
    ("sqlite", "SELECT name FROM singer LIMIT 1", "SELECT name FROM singer"),
])
def test_different_queries_keep_different_keys(dialect: str, a: str, b: str) -> None:
    assert normalized_key(a, dialect) != normalized_key(b, dialect)


def test_unparseable_text_keys_on_collapsed_whitespace() -> None:
    assert normalized_key("SELECT  count(* FROM\n singer;", "sqlite") == "SELECT count(* FROM singer"
    assert normalized_key("I'm  not\tsure", "sqlite") == normalized_key("I'm not sure", "sqlite")
    assert normalized_key("I'm not sure", "sqlite") != normalized_key("i'm not sure", "sqlite")


# --- collect_candidates -----------------------------------------------------------------------------------


def _samples(*texts: str, logprobs: list[float | None] | None = None) -> list[Sample]:
    logprobs = logprobs or [None] * len(texts)
    return [Sample(text=text, logprob=lp) for text, lp in zip(texts, logprobs, strict=True)]


def test_variants_collapse_with_counts_per_generator() -> None:
    samples = {
        "qwen": _samples("```sql\nSELECT name FROM singer;\n```",
                         "SELECT age FROM singer",
                         "select name\nfrom singer",
                         logprobs=[-3.0, -1.0, -2.5]),
        "llama": _samples('SQL: SELECT "name" FROM singer',
                          "SELECT age FROM singer;",
                          "```sql\nSELECT age FROM singer\n```",
                          "SELECT country FROM singer",
                          logprobs=[-4.0, None, -0.5, -9.0]),
    }
    candidates = collect_candidates(samples, "sqlite")
    assert [c.count for c in candidates] == [3, 3, 1]
    name, age, country = candidates
    # ties (3 and 3) keep the order of first appearance: "SELECT name" came first (qwen #0)
    assert name.sql == "SELECT name FROM singer"
    assert name.generators == {"qwen": 2, "llama": 1}
    assert name.samples == (("qwen", 0), ("qwen", 2), ("llama", 0))
    assert name.best_logprob == -2.5
    assert age.sql == "SELECT age FROM singer"
    assert age.generators == {"qwen": 1, "llama": 2}
    assert age.samples == (("qwen", 1), ("llama", 1), ("llama", 2))
    assert age.best_logprob == -0.5
    assert country.generators == {"llama": 1} and country.best_logprob == -9.0
    assert all(c.ok and c.status == "ok" and c.error is None for c in candidates)
    assert len({c.key for c in candidates}) == 3
    assert sum(c.count for c in candidates) == 7


def test_count_orders_before_first_appearance() -> None:
    samples = {"a": _samples("SELECT 1", "SELECT 2", "SELECT 2", "SELECT 3", "select 3", "SELECT 3")}
    assert [(c.sql, c.count) for c in collect_candidates(samples, "postgresql")] == [
        ("SELECT 3", 3), ("SELECT 2", 2), ("SELECT 1", 1)]


def test_order_is_deterministic() -> None:
    samples = {"g1": _samples("SELECT b FROM t", "SELECT a FROM t"),
               "g2": _samples("SELECT a FROM t", "SELECT c FROM t")}
    first = collect_candidates(samples, "mysql")
    assert [c.sql for c in first] == ["SELECT a FROM t", "SELECT b FROM t", "SELECT c FROM t"]
    assert collect_candidates(samples, "mysql") == first
    # the mapping order decides ties between generators
    swapped = collect_candidates({"g2": samples["g2"], "g1": samples["g1"]}, "mysql")
    assert [c.sql for c in swapped] == ["SELECT a FROM t", "SELECT c FROM t", "SELECT b FROM t"]


def test_syntax_errors_are_kept_and_deduplicated_by_text() -> None:
    samples = {
        "g": _samples("SELECT count(* FROM singer", "SELECT  count(*\nFROM singer;", "SELECT count(* FROM stadium",
                      "I'm not sure.", "", "SELECT name FROM singer"),
    }
    candidates = collect_candidates(samples, "sqlite")
    by_sql = {c.sql: c for c in candidates}
    broken = by_sql["SELECT count(* FROM singer"]
    assert broken.status == "syntax_error" and broken.error and not broken.ok
    assert broken.count == 2 and broken.samples == (("g", 0), ("g", 1))
    assert by_sql["SELECT count(* FROM stadium"].count == 1
    assert by_sql["I'm not sure."].status == "syntax_error"
    assert by_sql["SELECT name FROM singer"].ok
    # the empty answer proposes nothing
    assert len(candidates) == 4 and sum(c.count for c in candidates) == 5
    assert candidates[0] is broken


def test_transpiled_and_native_spellings_are_one_candidate() -> None:
    samples = {"tsql_minded": _samples("SELECT TOP 1 name FROM singer ORDER BY age"),
               "sqlite_minded": _samples("SELECT name FROM singer ORDER BY age LIMIT 1")}
    (candidate,) = collect_candidates(samples, "sqlite")
    assert candidate.count == 2 and candidate.generators == {"tsql_minded": 1, "sqlite_minded": 1}
    assert candidate.source_dialect == "tsql"  # the first proposing sample's
    assert normalized_key(candidate.sql, "sqlite") == normalized_key("SELECT name FROM singer ORDER BY age LIMIT 1",
                                                                     "sqlite")


def test_sample_sql_is_used_when_already_extracted() -> None:
    samples = {"g": [Sample(text="prose the stage already handled", sql="SELECT name FROM singer;"),
                     Sample(text="SELECT name FROM singer")]}
    (candidate,) = collect_candidates(samples, "sqlite")
    assert isinstance(candidate, Candidate)
    assert candidate.sql == "SELECT name FROM singer" and candidate.count == 2


def test_no_samples_no_candidates() -> None:
    assert collect_candidates({}, "sqlite") == []
    assert collect_candidates({"g": _samples("", "  ")}, "sqlite") == []
