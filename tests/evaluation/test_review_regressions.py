"""Regressions for harness bugs found in review: each once gave a verdict that depended on the company a
prediction kept (other files in the run, the cache, the order of files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mscsql.benchmarks.loaders import load_benchmark
from mscsql.benchmarks.predictions import load_prediction_files, load_predictions
from mscsql.errors import DatasetError
from mscsql.evaluation import spider_rules
from mscsql.evaluation.equivalence import textually_equivalent, token_key
from tests.evaluation.conftest import CASES
from tests.evaluation.test_scoring import _run


def _file(path: Path, sqls: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(s + "\n" for s in sqls), encoding="utf-8")
    return path


def test_verdicts_do_not_depend_on_the_other_files(spider_dir: Path, tmp_path: Path) -> None:
    golds = [c.gold for c in CASES]
    blank = _file(tmp_path / "blank.sql", [""] * len(CASES))
    gold = _file(tmp_path / "gold.sql", golds)
    nbsp = _file(tmp_path / "nbsp.sql", [g.replace(" ", "\u00a0", 1) for g in golds])  # SQLite: a syntax error
    alone = {}
    for path in (blank, gold, nbsp):
        rows, _ = _run(spider_dir, "spider-dev", "spider-exec", [path], tmp_path / f"alone-{path.stem}", None)
        alone[path.name] = [r["correct"] for r in rows]
    assert not any(alone["blank.sql"]) and not any(alone["nbsp.sql"])
    for order in ([blank, gold, nbsp], [nbsp, gold, blank]):
        rows, _ = _run(spider_dir, "spider-dev", "spider-exec", order, tmp_path / f"mix-{order[0].stem}", None)
        for path in order:
            assert [r["correct"] for r in rows if r["prediction_file"] == path.name] == alone[path.name]


def test_unicode_spaces_and_mysql_comments_are_never_equivalent() -> None:
    assert token_key("SELECT\u00a0count(*) FROM t", "sqlite") is None
    assert token_key("SELECT 1\x0bFROM t", "sqlite") is None  # vertical tab: not whitespace to SQLite
    assert not textually_equivalent("SELECT a FROM t /*!, b */", "SELECT a FROM t", "mysql")
    assert textually_equivalent("select a  from T -- x", "SELECT a FROM t;", "sqlite")
    assert not textually_equivalent("SELECT a FROM T", "SELECT a FROM t", "mysql")  # table names may differ


def test_go_ends_a_statement_as_in_sqlparse() -> None:
    import sqlparse

    text = "SELECT count(*) FROM singer GO SELECT 1"
    expected = "".join(t.value for t in sqlparse.parse(text)[0].flatten())
    assert spider_rules.remove_distinct(text) == expected != text


def test_file_names_stay_unique(spider_dir: Path, tmp_path: Path) -> None:
    benchmark = load_benchmark("spider-dev", spider_dir, allow_missing_db=True)
    a = _file(tmp_path / "a" / "m" / "p.sql", ["SELECT 1"] * len(CASES))
    b = _file(tmp_path / "b" / "m" / "p.sql", ["SELECT 2"] * len(CASES))
    names = [f.name for f in load_prediction_files([a, b], benchmark)]
    assert len(set(names)) == 2
    with pytest.raises(DatasetError, match="given twice"):
        load_prediction_files([a, a], benchmark)


def test_cached_gold_results_respect_the_timeout(spider_dir: Path, tmp_path: Path) -> None:
    slow = ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 3000000) "
            "SELECT count(*) FROM r")
    root = tmp_path / "slow"
    root.mkdir()
    (root / "database").symlink_to(spider_dir / "database")
    (root / "dev.json").write_text(json.dumps([{"db_id": "shop", "question": "q", "query": slow}]))
    pred = _file(tmp_path / "p.sql", [slow.replace("count(*)", "COUNT(*)")])
    cache = tmp_path / "cache"
    rows, first = _run(root, "spider-dev", "spider-exec", [pred], tmp_path / "a", cache, timeout_s=30.0)
    assert rows[0]["correct"] and first.stats["gold_executed"] == 1
    rows, _ = _run(root, "spider-dev", "spider-exec", [pred], tmp_path / "b", cache, timeout_s=0.05)
    assert rows[0]["gold_status"] == "timeout" and not rows[0]["correct"]


def test_jsonl_duplicates_and_line_separators(spider_dir: Path, tmp_path: Path) -> None:
    benchmark = load_benchmark("spider-dev", spider_dir, allow_missing_db=True)
    path = tmp_path / "p.jsonl"
    records = [{"index": i, "sql": f"SELECT '\u2028{i}'"} for i in range(len(CASES))]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    assert load_predictions(path, benchmark).sql[2] == "SELECT '\u20282'"
    path.write_text("\n".join(json.dumps(r) for r in [*records, records[0]]) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="second prediction for question 0"):
        load_predictions(path, benchmark)
