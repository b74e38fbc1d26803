"""BIRD mini-dev on MySQL and PostgreSQL: gold SQL runs on the server the user loaded (here, the test
database on the local servers), through the read-only database layer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mscsql.benchmarks.loaders import load_benchmark
from mscsql.benchmarks.predictions import load_prediction_files
from mscsql.evaluation.cache import GoldCache
from mscsql.evaluation.runner import ScoreRun, score
from mscsql.evaluation.scorers import get_scorer

# (gold, prediction, BIRD verdict)
CASES = [
    ("SELECT name FROM items WHERE price > 10", "SELECT name FROM items WHERE id IN (2, 3)", True),
    ("SELECT count(*) FROM orders", "SELECT count(*) FROM orders WHERE note IS NOT NULL", False),
    ("SELECT category FROM items", "SELECT DISTINCT category FROM items", True),
    ("SELECT name, price FROM items WHERE id = 2", "SELECT price, name FROM items WHERE id = 2", False),
    ("SELECT sum(qty) FROM orders", "SELECT sum(qty) FROM order_lines", False),
    ("SELECT count(*) FROM items", "DROP TABLE items", False),
]


def _minidev(tmp_path: Path, dialect: str) -> Path:
    root = tmp_path / "minidev"
    root.mkdir()
    questions = [{"question_id": i, "db_id": "shop", "question": f"q{i}", "evidence": "", "SQL": gold,
                  "difficulty": "simple"} for i, (gold, _p, _v) in enumerate(CASES)]
    (root / f"mini_dev_{dialect}.json").write_text(json.dumps(questions), encoding="utf-8")
    (root / f"mini_dev_{dialect}_gold.sql").write_text("".join(f"{g}\tshop\n" for g, _p, _v in CASES))
    return root


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_bird_scorer_on_a_server(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("pg_url" if dialect == "postgresql" else "mysql_url")
    root = _minidev(tmp_path, dialect)
    preds = tmp_path / f"predict_mini_dev_{dialect}.json"
    preds.write_text(json.dumps({str(i): f"{p}\t----- bird -----\tshop" for i, (_g, p, _v) in enumerate(CASES)}))
    benchmark = load_benchmark(f"bird-minidev-{dialect}", root, db_url=url)
    assert benchmark.dialect == dialect
    run = ScoreRun(benchmark=benchmark, files=load_prediction_files([preds], benchmark),
                   scorer=get_scorer("bird", dialect), output=tmp_path / "out", cache=GoldCache(tmp_path / "c"),
                   timeout_s=5.0, progress=False)
    rows = score(run)
    assert [r["correct"] for r in rows] == [v for _g, _p, v in CASES]
    assert rows[-1]["status"] == "error" and "read-only guard" in rows[-1]["error"]
    assert run.stats["gold_from_cache"] == 0  # server databases are never served from the file cache
    from mscsql.db import connect

    with connect(url) as db:  # and nothing was changed
        assert db.execute("SELECT count(*) FROM items").rows == ((4,),)
