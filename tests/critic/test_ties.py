"""Whether a query's one top row is tied (mscsql.critic.ties): the probe each query becomes, written by hand, and
what it finds on the standard test database of every engine, whose ties are known (three of the four items are
'tools'; items 2 and 3 have one order each, item 1 two)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mscsql.critic.ties import tied_rows, top_tie_probe, top_tied
from mscsql.db import connect
from tests import dbutil


@pytest.mark.parametrize(("sql", "probe"), [
    ("SELECT name FROM t GROUP BY name ORDER BY count(*) DESC LIMIT 1",
     "SELECT name, COUNT(*) AS mscsql_key_0 FROM t GROUP BY name ORDER BY COUNT(*) DESC LIMIT 2"),
    # a column alias and a position in the ordering are written out
    ("SELECT r.name AS region, count(*) AS n FROM c JOIN r ON r.id = c.r GROUP BY r.name ORDER BY n DESC LIMIT 1",
     "SELECT r.name AS region, COUNT(*) AS n, COUNT(*) AS mscsql_key_0 FROM c JOIN r ON r.id = c.r GROUP BY r.name "
     "ORDER BY COUNT(*) DESC LIMIT 2"),
    ("SELECT a, b FROM t ORDER BY 2, a DESC LIMIT 1;",
     "SELECT a, b, b AS mscsql_key_0, a AS mscsql_key_1 FROM t ORDER BY b, a DESC LIMIT 2"),
    ("SELECT DISTINCT a FROM t ORDER BY b LIMIT 1", "SELECT DISTINCT a, b AS mscsql_key_0 FROM t ORDER BY b LIMIT 2"),
    # an alias matches whatever its case, as the engines match it
    ("SELECT name, SUM(x) AS Total FROM t GROUP BY name ORDER BY total DESC LIMIT 1",
     "SELECT name, SUM(x) AS Total, SUM(x) AS mscsql_key_0 FROM t GROUP BY name ORDER BY SUM(x) DESC LIMIT 2"),
])
def test_a_top_row_query_becomes_its_first_two_rows_with_their_keys(sql: str, probe: str) -> None:
    made = top_tie_probe(sql, "sqlite")
    assert made is not None and made[0] == probe


@pytest.mark.parametrize("sql", [
    "SELECT a FROM t ORDER BY b LIMIT 3",  # more than one row kept
    "SELECT a FROM t LIMIT 1",  # no ordering: no "top"
    "SELECT a FROM t ORDER BY b LIMIT 1 OFFSET 2",
    "SELECT a FROM t UNION SELECT b FROM u ORDER BY 1 LIMIT 1",  # only a plain SELECT is probed
    "SELECT a FROM t ORDER BY 5 LIMIT 1",  # a position past the columns
    "SELECT t.* FROM t ORDER BY 1 LIMIT 1",  # a position naming every column
    "SELECT a, SUM(x) AS total FROM t GROUP BY a ORDER BY total + 0 LIMIT 1",  # an expression over an alias
    "SELEC a FRM t",
])
def test_other_queries_have_no_probe(sql: str) -> None:
    assert top_tie_probe(sql, "sqlite") is None


def test_the_probe_is_written_in_the_database_s_dialect() -> None:
    assert top_tie_probe('SELECT "Name" FROM t ORDER BY "Age" DESC LIMIT 1', "postgresql") == (
        'SELECT "Name", "Age" AS mscsql_key_0 FROM t ORDER BY "Age" DESC LIMIT 2', 1)
    assert top_tie_probe("SELECT `Name` FROM t ORDER BY `Age` DESC LIMIT 1", "mysql") == (
        "SELECT `Name`, `Age` AS mscsql_key_0 FROM t ORDER BY `Age` DESC LIMIT 2", 1)


def test_tied_rows_compare_the_keys_only() -> None:
    assert tied_rows([("a", 3), ("b", 3)], 1) and tied_rows([("a", 3), ("a", 3)], 1)
    assert not tied_rows([("a", 3), ("b", 2)], 1) and not tied_rows([("a", 3)], 1) and not tied_rows([], 1)


@pytest.mark.parametrize(("sql", "tied"), [
    ("SELECT name FROM items ORDER BY category DESC LIMIT 1", 1.0),  # three 'tools' items
    ("SELECT name FROM items ORDER BY id DESC LIMIT 1", 0.0),
    ("SELECT name, category FROM items ORDER BY 2 LIMIT 1", 0.0),  # one 'food' item comes first
    ("SELECT item_id FROM orders GROUP BY item_id ORDER BY count(*) LIMIT 1", 1.0),  # items 2 and 3: one order
    ("SELECT item_id, count(*) AS n FROM orders GROUP BY item_id ORDER BY n DESC LIMIT 1", 0.0),  # item 1: two
    # rows repeated by a join: the ordering singles nothing out either
    ("SELECT i.category FROM items AS i JOIN orders AS o ON o.item_id = i.id ORDER BY i.category DESC LIMIT 1", 1.0),
    ("SELECT name FROM items ORDER BY category DESC LIMIT 2", 0.0),  # not a top-row query
    ("SELECT nope FROM items ORDER BY id LIMIT 1", 0.0),  # a probe that fails says nothing
])
def test_ties_are_found_on_every_engine(any_db_url: str, sql: str, tied: float) -> None:
    before = dbutil.fingerprint(any_db_url) if "://" in any_db_url else None
    with connect(any_db_url) as db:
        assert top_tied(db, sql, 5.0) == tied
    if before is not None:
        assert dbutil.fingerprint(any_db_url) == before


def test_a_batch_s_probes_keep_each_question_s_limits(sqlite_path: Path) -> None:
    """top_ties runs each probe under its question's limits (a table it may not read is refused by the guard, so no
    tie is found) and probes nothing for a question no longer wanted or without a successful answer."""
    from mscsql.critic.base import Choice
    from mscsql.critic.grouping import CandidateResult, group_by_result
    from mscsql.stages import Limits, top_ties
    from mscsql.types import ExecutionResult, ExecutionStatus, TablePolicy

    tied_sql = "SELECT name FROM items ORDER BY category DESC LIMIT 1"

    def chosen(sql: str, ok: bool = True) -> Choice:
        result = (ExecutionResult(sql, ExecutionStatus.OK, ("name",), (("Widget",),), 1) if ok
                  else ExecutionResult(sql, ExecutionStatus.ERROR, error="no such column"))
        candidate = CandidateResult(sql, ("a",), result)
        return Choice(candidate, tuple(group_by_result([candidate])), 0)

    free = Limits(timeout_s=5.0, max_rows=10)
    barred = Limits(timeout_s=5.0, max_rows=10, tables=TablePolicy.of(deny=["items"]))
    with connect(sqlite_path) as db:
        choices = [chosen(tied_sql), chosen(tied_sql), chosen(tied_sql), chosen(tied_sql, ok=False),
                   Choice(None, (), None)]
        assert top_ties(db, choices, limits=[free, barred, free, free, free],
                        skip=[False, False, True, False, False]) == [1.0, 0.0, 0.0, 0.0, 0.0]
