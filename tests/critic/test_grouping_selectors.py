"""Grouping candidates by execution result, and the model-free selectors, on real executions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mscsql.config import ExecutionSettings
from mscsql.critic import CandidateResult, group_by_result, result_key, select
from mscsql.db import connect
from mscsql.errors import ConfigError
from mscsql.types import ExecutionResult, ExecutionStatus


@pytest.fixture()
def db(tmp_path: Path):
    path = tmp_path / "t.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE t (id INTEGER, name TEXT, score REAL, grp TEXT);
        INSERT INTO t VALUES (1, 'a', 1.5, 'x'), (2, 'b', NULL, 'x'), (3, 'b', 2.0, 'y'), (4, NULL, 2.0, 'y');
    """)
    conn.commit()
    conn.close()
    with connect(path, execution=ExecutionSettings(timeout_s=1.0)) as database:
        yield database


def key(db, sql: str):
    return result_key(db.execute(sql))


def test_equivalent_results_share_a_key_across_row_and_column_order(db) -> None:
    assert key(db, "SELECT id, name FROM t") == key(db, "SELECT name, id FROM t ORDER BY id DESC")
    # NULLs are values like others, and compare equal to each other
    assert key(db, "SELECT name FROM t WHERE id IN (2, 4)") != key(db, "SELECT name FROM t WHERE id IN (2, 3)")
    assert key(db, "SELECT score FROM t WHERE score IS NULL") == key(db, "SELECT NULL")
    # 2 and 2.0 are the same number; duplicates count (a multiset, not a set)
    assert key(db, "SELECT 2") == key(db, "SELECT 2.0")
    assert key(db, "SELECT name FROM t WHERE name = 'b'") != key(db, "SELECT DISTINCT name FROM t WHERE name = 'b'")
    # the same values in other columns are another result
    assert key(db, "SELECT id, name FROM t") != key(db, "SELECT id, grp FROM t")
    assert key(db, "SELECT 1, 2") == key(db, "SELECT 2, 1")
    assert key(db, "SELECT 1, 2 UNION ALL SELECT 3, 4") != key(db, "SELECT 1, 4 UNION ALL SELECT 3, 2")


def test_failures_group_by_kind_never_with_results(db) -> None:
    error = db.execute("SELECT nope FROM t")
    slow = db.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")
    refused = db.execute("DELETE FROM t")
    assert (error.status, slow.status, refused.status) == (ExecutionStatus.ERROR, ExecutionStatus.TIMEOUT,
                                                           ExecutionStatus.REJECTED)
    keys = {result_key(r) for r in (error, slow, refused)}
    assert len(keys) == 3 and result_key(db.execute("SELECT 1")) not in keys
    empty = db.execute("SELECT id FROM t WHERE id > 99")
    assert empty.ok and result_key(empty) not in keys


def candidates(db, proposals: list[tuple[str, tuple[str, ...]]]) -> list[CandidateResult]:
    return [CandidateResult(sql, who, db.execute(sql)) for sql, who in proposals]


def test_vote_takes_the_largest_successful_group_and_breaks_ties_by_priority(db) -> None:
    pool = candidates(db, [("SELECT count(*) FROM t", ("g1",)),
                           ("SELECT count(id) FROM t", ("g2", "g3")),
                           ("SELECT count(name) FROM t", ("g4",))])
    groups = group_by_result(pool)
    assert [g.count for g in groups] == [3, 1]
    assert select("vote", pool, ["g1", "g2", "g3", "g4"]).sql == "SELECT count(*) FROM t"
    tie = candidates(db, [("SELECT 1", ("g2",)), ("SELECT 2", ("g1",))])
    assert select("vote", tie, ["g1", "g2"]).sql == "SELECT 2"
    # many failing candidates do not outvote one result
    failing = candidates(db, [("SELECT nope FROM t", ("g1", "g2", "g3")), ("SELECT 7", ("g4",))])
    assert select("vote", failing, ["g1", "g2", "g3", "g4"]).sql == "SELECT 7"


def test_first_valid_and_max_logprob(db) -> None:
    pool = candidates(db, [("SELECT nope", ("g1",)), ("SELECT 2", ("g2",)), ("SELECT 3", ("g3",))])
    assert select("first-valid", pool, ["g1", "g2", "g3"]).sql == "SELECT 2"
    scored = [CandidateResult(c.sql, c.sources, c.result, logprob) for c, logprob in zip(pool, (-0.1, -5.0, -1.0),
                                                                                          strict=True)]
    # the most likely candidate that ran: the failing one is passed over
    assert select("max-logprob", scored, ["g1", "g2", "g3"]).sql == "SELECT 3"
    with pytest.raises(ConfigError, match="unknown selector"):
        select("magic", pool, [])
    assert select("vote", [], []) is None


def test_truncated_results_are_not_equal_to_complete_ones() -> None:
    complete = ExecutionResult("q", ExecutionStatus.OK, ("a",), ((1,), (2,)), 2, False)
    cut = ExecutionResult("q", ExecutionStatus.OK, ("a",), ((1,), (2,)), 2, True)
    assert result_key(complete) != result_key(cut)
