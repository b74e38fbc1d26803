"""BIRD's evaluators run a blank prediction as it is, and SQLite returns no rows for it: a prediction holding
only spaces, comments or semicolons is an empty result under ``bird`` and ``soft-f1`` (right exactly when the
gold query returns no rows), while text that is not blank (a NUL byte, a statement) is still guarded and run."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from mscsql.benchmarks.loaders import load_benchmark
from mscsql.benchmarks.predictions import load_prediction_files
from mscsql.evaluation.cache import GoldCache
from mscsql.evaluation.runner import ScoreRun, score
from mscsql.evaluation.scorers import get_scorer

EMPTY_GOLD = "SELECT name FROM items WHERE id < 0"
ROWS_GOLD = "SELECT count(*) FROM items"
BLANKS = ["", "   ", ";", ";;", "-- nothing to say", "/* a comment */ ;"]


@pytest.mark.parametrize("scorer", ["bird", "soft-f1"])
def test_blank_predictions_are_empty_results(bird_dir: Path, tmp_path: Path, scorer: str) -> None:
    cases = ([(EMPTY_GOLD, p, True) for p in BLANKS] + [(ROWS_GOLD, p, False) for p in BLANKS]
             + [(EMPTY_GOLD, "SELECT 1 WHERE 0", True), (EMPTY_GOLD, "\x00", False), (EMPTY_GOLD, "--\x00", False)])
    dev = [{"question_id": i, "db_id": "shop", "question": f"case {i}", "evidence": "", "SQL": gold,
            "difficulty": "simple"} for i, (gold, _p, _ok) in enumerate(cases)]
    (bird_dir / "dev.json").write_text(json.dumps(dev), encoding="utf-8")
    path = tmp_path / "predict_dev.json"
    path.write_text(json.dumps({str(i): f"{p}\t----- bird -----\tshop" for i, (_g, p, _ok) in enumerate(cases)}),
                    encoding="utf-8")
    # the empty gold really returns no rows, and SQLite itself runs a blank text as nothing at all
    with sqlite3.connect(bird_dir / "dev_databases" / "shop" / "shop.sqlite") as db:
        assert db.execute(EMPTY_GOLD).fetchall() == [] and db.execute(ROWS_GOLD).fetchone()[0] > 0
        assert db.execute("/* a comment */ ;").fetchall() == []
    bench = load_benchmark("bird-dev", bird_dir)
    rows = score(ScoreRun(benchmark=bench, files=load_prediction_files([path], bench), scorer=get_scorer(scorer),
                          output=tmp_path / "out", cache=GoldCache(None), progress=False))
    for (gold, prediction, expected), row in zip(cases, rows, strict=True):
        assert row["correct"] is expected, (gold, prediction)
        if scorer == "soft-f1":
            assert row["score"] == (1.0 if expected else 0.0), (gold, prediction)
    assert "NUL" in rows[-1]["error"] and "NUL" in rows[-2]["error"]
    # a NUL hidden in a comment is refused whatever blank prediction came before it (no shared shortcut)
    assert rows[0]["correct"] and not rows[-1]["correct"]
