"""Exact-set-match on hand-made cases whose verdicts follow from the official rules: values and DISTINCT are
ignored, SELECT parts are a multiset, LIMIT's count is not read, foreign-key columns are interchangeable, and a
prediction the official reader cannot read scores as the empty query."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mscsql.benchmarks.loaders import load_benchmark
from mscsql.benchmarks.predictions import load_prediction_files
from mscsql.evaluation.cache import GoldCache
from mscsql.evaluation.exact_match import match_question
from mscsql.evaluation.report import write_reports
from mscsql.evaluation.runner import ScoreRun, score
from mscsql.evaluation.scorers import get_scorer
from mscsql.evaluation.spider_sql import Unreadable, parse, schema_of, tokenize
from tests import dbutil

DDL = """
CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, age INTEGER, country TEXT);
CREATE TABLE concert (concert_id INTEGER PRIMARY KEY, singer_id INTEGER REFERENCES singer(singer_id), year INTEGER);
INSERT INTO singer VALUES (1, 'Ann', 30, 'France');
"""
TABLES = [{"db_id": "music", "table_names_original": ["singer", "concert"],
           "column_names_original": [[-1, "*"], [0, "singer_id"], [0, "name"], [0, "age"], [0, "country"],
                                     [1, "concert_id"], [1, "singer_id"], [1, "year"]],
           "foreign_keys": [[6, 1]], "primary_keys": [1, 5]}]

# (gold, prediction, exact match, why)
CASES = [
    ("SELECT name FROM singer WHERE age > 20", "SELECT name FROM singer WHERE age > 35", True, "values are ignored"),
    ("SELECT name, age FROM singer", "SELECT age, name FROM singer", True, "SELECT parts are a multiset"),
    ("SELECT DISTINCT country FROM singer", "SELECT country FROM singer", True, "DISTINCT is ignored"),
    ("SELECT name FROM singer ORDER BY age DESC LIMIT 1", "SELECT name FROM singer ORDER BY age DESC LIMIT 3", True,
     "LIMIT's count is not read"),
    ("SELECT name FROM singer ORDER BY age DESC LIMIT 1", "SELECT name FROM singer ORDER BY age DESC", False,
     "LIMIT present or not matters"),
    ("SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id",
     "SELECT T1.name FROM concert AS T2 JOIN singer AS T1 ON T2.singer_id = T1.singer_id", True,
     "linked columns are one column; tables are a multiset"),
    ("SELECT count(*) FROM singer", "SELECT count(*) FROM concert", False, "another table"),
    ("SELECT name FROM singer WHERE age > 20", "SELECT name FROM singer WHERE age>=20", False,
     "'>=' written without spaces is not read: the empty query"),
    ("SELECT name FROM singer WHERE age > 20", "SELECT name FROM singer WHERE age < 20", False, "another operator"),
    ("SELECT name FROM singer WHERE country = 'France' AND age > 20",
     "SELECT name FROM singer WHERE age > 20 AND country = 'Italy'", True, "conditions are a multiset"),
]


@pytest.fixture()
def spider(tmp_path: Path) -> Path:
    root = tmp_path / "spider"
    dbutil.make_sqlite(root / "database" / "music" / "music.sqlite", DDL)
    (root / "tables.json").write_text(json.dumps(TABLES))
    (root / "dev.json").write_text(json.dumps([{"db_id": "music", "question": why, "query": gold}
                                               for gold, _p, _r, why in CASES]))
    return root


def test_the_official_reading_and_its_quirks(spider: Path) -> None:
    assert tokenize("SELECT a FROM t WHERE b != 'x' AND c >= 2") == [
        "select", "a", "from", "t", "where", "b", "!=", '"x"', "and", "c", ">=", "2"]
    assert tokenize("SELECT a FROM t WHERE c>=2")[-2:] == [">", "=2"]  # not merged: an unreadable condition
    schema = schema_of(str(spider / "database" / "music" / "music.sqlite"))
    tree = parse("SELECT name FROM singer LIMIT 10", schema)
    assert tree["limit"] == 1 and tree["select"] == (False, [(0, (0, (0, "__singer.name__", False), None))])
    with pytest.raises(Unreadable):
        parse("SELECT name FROM singer WHERE name = 'unterminated", schema)
    with pytest.raises(KeyError):
        parse("SELECT nope.name FROM singer", schema)


@pytest.mark.parametrize(("gold", "prediction", "expected", "why"), CASES)
def test_hand_made_cases(spider: Path, gold: str, prediction: str, expected: bool, why: str) -> None:
    right, partial, readable = match_question(str(spider / "database" / "music" / "music.sqlite"), "music",
                                              str(spider / "tables.json"), gold, prediction)
    assert right is expected, why
    assert set(partial) >= {"select", "where", "keywords"} and readable == ("age>=" not in prediction)


def test_a_scoring_run_writes_verdicts_partial_scores_and_the_report(spider: Path, tmp_path: Path) -> None:
    predictions = tmp_path / "p.sql"
    predictions.write_text("".join(p + "\n" for _g, p, _r, _w in CASES))
    bench = load_benchmark("spider-dev", spider)
    run = ScoreRun(benchmark=bench, files=load_prediction_files([predictions], bench), scorer=get_scorer("exact-match"),
                   output=tmp_path / "out", cache=GoldCache(None), progress=False)
    rows = score(run)
    assert [r["correct"] for r in rows] == [r for _g, _p, r, _w in CASES]
    unreadable = rows[7]
    assert unreadable["status"] == "error" and "scored as the empty query" in unreadable["error"]
    assert unreadable["partial"]["select"][:3] == [0, 0, 0]
    summary = write_reports(rows, run, chart=False)
    assert summary["files"][0]["accuracy"] == round(6 / 10, 6)
    # SELECT: right in 9 of 10 gold queries (recall), and in every prediction that has a SELECT (accuracy: the
    # unreadable one has none)
    select = summary["files"][0]["partial"]["all"]["select"]
    assert (select["acc"], select["rec"]) == (1.0, 0.9) and select["f1"] == pytest.approx(2 * 0.9 / 1.9, abs=1e-6)
    assert "Partial matching" in (tmp_path / "out" / "report.md").read_text()


def test_the_tokenizer_leaves_the_optional_libraries_importable() -> None:
    """nltk loads with numpy, scipy and scikit-learn hidden; afterwards they import as usual in this process."""
    _in_a_new_interpreter("import importlib, importlib.util, sys\n"
            "present = [n for n in ('numpy', 'scipy', 'sklearn') if importlib.util.find_spec(n) is not None]\n"
            "from mscsql.evaluation.spider_sql import tokenize\n"
            "assert tokenize('SELECT a FROM t WHERE b >= 3') == ['select', 'a', 'from', 't', 'where', 'b', '>=', '3']\n"
            "assert all(sys.modules.get(n, 0) is not None for n in ('numpy', 'scipy', 'sklearn'))\n"
            "assert 'numpy' in present\n"
            "for name in present:\n"
            "    importlib.import_module(name)\n"
            "import numpy\n"
            "assert numpy.arange(3).sum() == 3\n")


def test_the_tokenizer_loads_without_nltks_package_and_leaves_nltk_importable() -> None:
    """The tokenizer's modules load alone (nltk's package import is most of a short run's start-up); no nltk module
    stays behind, a later ``import nltk`` loads the whole package, and its tokenizer splits text the same way."""
    _in_a_new_interpreter("import sys\n"
            "from mscsql.evaluation.spider_sql import word_tokenizer\n"
            "alone = word_tokenizer()\n"
            "assert not [n for n in sys.modules if n == 'nltk' or n.startswith('nltk.')]\n"
            "import nltk\n"
            "import nltk.internals\n"
            "from nltk.tokenize import NLTKWordTokenizer\n"
            "assert nltk.internals.overridden and nltk.tokenize.destructive.NLTKWordTokenizer is NLTKWordTokenizer\n"
            "texts = ['SELECT count(*) FROM \"a b\" WHERE x>=1', \"it's (t1.a) != 'b'\", 'T1.name , max(age)']\n"
            "assert [alone.tokenize(t) for t in texts] == [NLTKWordTokenizer().tokenize(t) for t in texts]\n")


def _in_a_new_interpreter(code: str) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_worker_processes_give_the_rows_of_one_process(tmp_path: Path) -> None:
    """Shared out among worker processes by database (three databases and a missing one, more workers than
    databases too), the rows are those of one process, in file and question order."""
    root = tmp_path / "spider"
    names = ("music", "music_b", "music_c", "gone")
    for name in names[:3]:
        dbutil.make_sqlite(root / "database" / name / f"{name}.sqlite", DDL)
    (root / "tables.json").write_text(json.dumps([{**TABLES[0], "db_id": name} for name in names]))
    questions = [(names[i % 4], gold) for i, (gold, _p, _r, _w) in enumerate(CASES * 2)]
    (root / "dev.json").write_text(json.dumps([{"db_id": db, "question": f"q{i}", "query": gold}
                                               for i, (db, gold) in enumerate(questions)]))
    first, second = tmp_path / "a.sql", tmp_path / "b.sql"
    first.write_text("".join(p + "\n" for _g, p, _r, _w in CASES * 2))
    second.write_text("".join(gold + "\n" for _db, gold in questions))
    bench = load_benchmark("spider-dev", root, allow_missing_db=True)
    found = {}
    for workers in (1, 2, 8):
        run = ScoreRun(benchmark=bench, files=load_prediction_files([first, second], bench),
                       scorer=get_scorer("exact-match"), output=tmp_path / f"out{workers}", cache=GoldCache(None),
                       progress=False, workers=workers)
        found[workers] = score(run)
    assert found[1] == found[2] == found[8]
    rows = found[2]
    assert [(r["prediction_file"], r["db_id"]) for r in rows] == [
        (name, db) for name in ("a.sql", "b.sql") for db, _gold in questions]
    assert [r["correct"] for r in rows[:len(questions)] if r["status"] != "skipped"] == [
        right for i, (_g, _p, right, _w) in enumerate(CASES * 2) if questions[i][0] != "gone"]
    assert all(r["correct"] for r in rows[len(questions):] if r["status"] != "skipped")  # gold matches itself
    assert sum(r["status"] == "skipped" for r in rows) == 2 * sum(db == "gone" for db, _g in questions)
