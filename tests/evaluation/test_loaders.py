"""Benchmark and prediction-file loaders: formats, alignment, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mscsql.benchmarks.loaders import load_benchmark
from mscsql.benchmarks.predictions import load_predictions
from mscsql.errors import DatasetError
from tests.evaluation.conftest import CASES


@pytest.fixture()
def benchmark(spider_dir: Path):  # type: ignore[no-untyped-def]
    return load_benchmark("spider-dev", spider_dir, allow_missing_db=True)


def test_spider_loader(spider_dir: Path, benchmark) -> None:  # type: ignore[no-untyped-def]
    assert len(benchmark) == len(CASES)
    assert benchmark.items[0].gold_sql == CASES[0].gold and benchmark.items[0].difficulty == "easy"
    assert benchmark.missing_databases == ("zoo",)
    assert benchmark.items[-1].database is None
    assert [Path(v).name for v in benchmark.items[0].variants] == ["shop.sqlite", "shopv1.sqlite"]
    with pytest.raises(DatasetError, match=r"1 questions need databases that are missing.*zoo"):
        load_benchmark("spider-dev", spider_dir)
    with pytest.raises(DatasetError, match="unknown benchmark"):
        load_benchmark("wikisql", spider_dir)
    empty = spider_dir / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match=r"dev.json does not exist"):
        load_benchmark("bird-dev", empty)


def test_text_predictions_with_tabs_blank_lines_and_prose(tmp_path: Path, benchmark) -> None:  # type: ignore[no-untyped-def]
    lines = [f"{c.prediction}\t{c.db_id}" for c in CASES]
    lines[1] = ""  # an empty prediction
    lines[2] = "SELECT 1; -- the answer is one"  # trailing prose is kept for the scorer's own rules
    path = tmp_path / "p.sql"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    preds = load_predictions(path, benchmark)
    assert preds.sql[0] == CASES[0].prediction and preds.sql[1] == "" and preds.sql[2] == lines[2]
    assert preds.db_id_mismatches == 0


def test_multi_line_predictions_separated_by_blank_lines(tmp_path: Path, benchmark) -> None:  # type: ignore[no-untyped-def]
    blocks = [f"SELECT {i}\nFROM items\nWHERE id = {i}" for i in range(len(CASES))]
    path = tmp_path / "p.sql"
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    preds = load_predictions(path, benchmark)
    assert preds.sql[3] == "SELECT 3 FROM items WHERE id = 3"


def test_count_mismatch_is_a_clear_error(tmp_path: Path, benchmark) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "short.sql"
    path.write_text("SELECT 1\nSELECT 2\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=rf"2 lines .* benchmark has {len(CASES)} questions"):
        load_predictions(path, benchmark)


def test_bird_json_predictions(tmp_path: Path, benchmark) -> None:  # type: ignore[no-untyped-def]
    data = {str(i): f"SELECT {i}\t----- bird -----\t{c.db_id}" for i, c in enumerate(CASES)}
    data["1"] = None  # BIRD's evaluator turns non-strings into a blank statement
    data["2"] = "  SELECT 2  "  # no separator: the SQL itself
    path = tmp_path / "predict_dev.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    preds = load_predictions(path, benchmark)
    assert preds.sql[0] == "SELECT 0" and preds.sql[1] == " " and preds.sql[2] == "SELECT 2"
    del data["3"]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(DatasetError, match="predictions for"):
        load_predictions(path, benchmark)


def test_jsonl_predictions(tmp_path: Path, benchmark) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "p.jsonl"
    records = [{"index": i, "sql": f"SELECT {i}"} for i in reversed(range(len(CASES)))]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    assert load_predictions(path, benchmark).sql[4] == "SELECT 4"
    path.write_text("\n".join(json.dumps(r) for r in records[1:]) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="no prediction for 1 questions"):
        load_predictions(path, benchmark)
    path.write_text('{"sql": "SELECT 1"}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"p.jsonl:1"):
        load_predictions(path, benchmark)


def test_misaligned_db_ids_are_counted(tmp_path: Path, benchmark) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "p.sql"
    path.write_text("".join("SELECT 1\tother_db\n" for _ in CASES), encoding="utf-8")
    assert load_predictions(path, benchmark).db_id_mismatches == len(CASES)


@pytest.mark.shared_data
def test_shared_prediction_files_load(shared_data: Path) -> None:
    spider = load_benchmark("spider-dev", shared_data / "spider", allow_missing_db=True)
    files = sorted((shared_data / "predictions" / "spider_dev").glob("*.sql"))
    assert len(files) >= 10
    for path in files:
        assert len(load_predictions(path, spider).sql) == 1034
    bird = load_benchmark("bird-dev", shared_data / "bird", allow_missing_db=True)
    assert len(bird) == 1534 and sum(1 for i in bird.items if not i.evidence) == 148
    for path in (shared_data / "predictions" / "bird_dev").iterdir():
        assert len(load_predictions(path, bird).sql) == 1534
    for dialect in ("sqlite", "mysql", "postgresql"):
        minidev = load_benchmark(f"bird-minidev{'' if dialect == 'sqlite' else '-' + dialect}",
                                 shared_data / "bird_minidev", allow_missing_db=True)
        assert len(minidev) == 500 and minidev.dialect == dialect
        for path in (shared_data / "predictions" / "bird_minidev").glob(f"*_{dialect}.json"):
            assert load_predictions(path, minidev).db_id_mismatches == 0


def test_spider_test_split_in_its_own_layout(tmp_path: Path) -> None:
    """Spider's test release: test.json, test_gold.sql, test_tables.json and test_database/ (no test-suite
    variants); scored like dev, with its tables.json for descriptions."""
    from mscsql.benchmarks.loaders import tables_file
    from tests import dbutil

    root = tmp_path / "spider"
    dbutil.make_sqlite(root / "test_database" / "shop" / "shop.sqlite", dbutil.SQLITE_DDL)
    questions = [{"db_id": "shop", "question": "How many items are there?", "query": "SELECT count(*) FROM items"},
                 {"db_id": "shop", "question": "Name every item.", "query": "SELECT name FROM items"},
                 {"db_id": "gone", "question": "Anything?", "query": "SELECT 1"}]
    (root / "test.json").write_text(json.dumps(questions), encoding="utf-8")
    (root / "test_gold.sql").write_text("".join(f"{q['query']}\t{q['db_id']}\n" for q in questions))
    (root / "test_tables.json").write_text("[]")
    bench = load_benchmark("spider-test", root, allow_missing_db=True)
    assert bench.name == "spider-test" and len(bench) == 3 and bench.missing_databases == ("gone",)
    assert Path(bench.items[0].database or "").parent.parent.name == "test_database"
    assert bench.items[0].variants == () and bench.items[0].difficulty == "easy"
    assert set(bench.files) == {"test.json", "test_gold.sql", "test_tables.json"}
    assert tables_file(bench, root) == root / "test_tables.json"
    from mscsql.benchmarks.predictions import load_prediction_files
    from mscsql.evaluation.cache import GoldCache
    from mscsql.evaluation.runner import ScoreRun, score
    from mscsql.evaluation.scorers import get_scorer

    predictions = tmp_path / "p.sql"
    predictions.write_text("SELECT count(*) FROM items\nSELECT id FROM items\nSELECT 1\n")
    rows = score(ScoreRun(benchmark=bench, files=load_prediction_files([predictions], bench),
                          scorer=get_scorer("spider-exec"), output=tmp_path / "out", cache=GoldCache(None),
                          progress=False))
    assert [(r["correct"], r["status"]) for r in rows] == [(True, "ok"), (False, "ok"), (False, "skipped")]


def test_a_missing_database_matters_only_when_a_selected_question_needs_it(
        spider_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    from mscsql.benchmarks.subsets import load_selected

    with pytest.raises(DatasetError, match="need databases that are missing"):  # zoo is not there
        load_selected("spider-dev", spider_dir, None)
    caplog.clear()
    shop = load_selected("spider-dev", spider_dir, "shop")  # no --allow-missing-db needed, and no warning
    assert {i.db_id for i in shop.items} == {"shop"} and all(i.database for i in shop.items)
    assert "missing" not in caplog.text
    with pytest.raises(DatasetError, match=r"of the selected questions need databases that are missing: zoo"):
        load_selected("spider-dev", spider_dir, "shop,zoo")
    both = load_selected("spider-dev", spider_dir, "shop,zoo", allow_missing_db=True)
    assert {i.db_id for i in both.items if not i.database} == {"zoo"} and "zoo" in caplog.text
