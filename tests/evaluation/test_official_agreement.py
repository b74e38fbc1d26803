"""Agreement with the official evaluators on real data (``../shared/data``).

- ``spider-exec`` and ``test-suite``: per-question verdicts on the 972 executable Spider dev questions must
  equal those of the official test-suite evaluator (taoyds/test-suite-sql-eval, ``evaluation.py --etype
  exec``), recorded in ``tests/data/official_spider_verdicts.json`` as one hex bit string per prediction
  file (bit i = question i of the executable ones, in file order). Those verdicts come from running the
  official tool itself; they were not produced by mscsql.
- ``bird``: Spider dev converted into BIRD's layout; every verdict must equal BIRD's rule re-implemented
  directly here with plain ``sqlite3`` (execute prediction, execute gold, compare ``set``s, any exception
  scores 0), independently of mscsql's database layer and runner.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from mscsql.benchmarks.loaders import Benchmark, load_benchmark
from mscsql.benchmarks.predictions import load_prediction_files
from mscsql.evaluation.cache import GoldCache
from mscsql.evaluation.runner import ScoreRun, score
from mscsql.evaluation.scorers import get_scorer

VERDICTS = json.loads((Path(__file__).parents[1] / "data" / "official_spider_verdicts.json").read_text())
pytestmark = pytest.mark.shared_data


def _bits(hex_string: str, count: int) -> list[int]:
    value = int(hex_string, 16)
    return [(value >> (count - 1 - i)) & 1 for i in range(count)]


def _score(shared_data: Path, scorer: str, names: list[str], out: Path, cache: Path) -> dict[str, list[int]]:
    spider = shared_data / "spider"
    benchmark = load_benchmark("spider-dev", spider, allow_missing_db=True)
    files = load_prediction_files([shared_data / "predictions" / "spider_dev" / n for n in names], benchmark)
    run = ScoreRun(benchmark=benchmark, files=files, scorer=get_scorer(scorer), output=out, cache=GoldCache(cache),
                   timeout_s=60.0, progress=False)
    try:
        rows = score(run)
    finally:
        run.cache.close()
    verdicts: dict[str, list[int]] = {n: [] for n in names}
    for row in rows:
        if row["status"] != "skipped":
            verdicts[row["prediction_file"]].append(int(row["correct"]))
    return verdicts


@pytest.mark.parametrize("scorer", ["spider-exec", "test-suite"])
def test_verdicts_equal_the_official_evaluator(shared_data: Path, tmp_path_factory: pytest.TempPathFactory,
                                               scorer: str) -> None:
    official = VERDICTS[scorer]
    names = sorted(official)
    assert len(names) == 109
    cache = tmp_path_factory.getbasetemp() / "agreement-cache"
    ours = _score(shared_data, scorer, names, tmp_path_factory.mktemp(scorer), cache)
    total = 0
    for name in names:
        expected = _bits(official[name], VERDICTS["questions"])
        assert len(ours[name]) == VERDICTS["questions"] == 972
        differing = [i for i, (a, b) in enumerate(zip(ours[name], expected, strict=True)) if a != b]
        assert differing == [], f"{scorer} {name}: {len(differing)} verdicts differ, first at {differing[:5]}"
        total += len(expected)
    assert total >= 972 * len(names)


def _bird_reference(db: Path, gold: str, prediction: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        cursor = conn.cursor()
        cursor.execute(prediction)
        predicted = cursor.fetchall()
        cursor.execute(gold)
        expected = cursor.fetchall()
        return int(set(predicted) == set(expected))
    except Exception:  # BIRD's evaluator scores any failure 0
        return 0
    finally:
        conn.close()


def _spider_in_bird_layout(shared_data: Path, tmp_path: Path, names: list[str]) -> tuple[Benchmark, list[Path]]:
    """Spider dev laid out as BIRD lays out a benchmark (links to its databases, a dev.json with BIRD's
    difficulty names) and the published prediction files ``names`` as BIRD's JSON predictions (NAME.json)."""
    spider = load_benchmark("spider-dev", shared_data / "spider", allow_missing_db=True)
    root = tmp_path / "bird"
    (root / "dev_databases").mkdir(parents=True)
    for item in spider.items:
        if item.database and not (root / "dev_databases" / item.db_id).exists():
            (root / "dev_databases" / item.db_id).mkdir()
            (root / "dev_databases" / item.db_id / f"{item.db_id}.sqlite").symlink_to(Path(item.database).resolve())
    difficulty = {"easy": "simple", "medium": "moderate", "hard": "challenging", "extra": "challenging"}
    dev = [{"question_id": i.index, "db_id": i.db_id, "question": i.question, "evidence": "", "SQL": i.gold_sql,
            "difficulty": difficulty[i.difficulty or "easy"]} for i in spider.items]
    (root / "dev.json").write_text(json.dumps(dev), encoding="utf-8")
    paths = []
    for name in names:
        lines = (shared_data / "predictions" / "spider_dev" / name).read_text(encoding="utf-8").split("\n")
        data = {str(i): f"{lines[i] if i < len(lines) else ''}\t----- bird -----\t{item.db_id}"
                for i, item in enumerate(spider.items)}
        paths.append(tmp_path / name.replace(".sql", ".json"))
        paths[-1].write_text(json.dumps(data), encoding="utf-8")
    return load_benchmark("bird-dev", root, allow_missing_db=True), paths


def test_bird_scorer_on_spider_in_bird_layout(shared_data: Path, tmp_path: Path) -> None:
    bird, paths = _spider_in_bird_layout(shared_data, tmp_path,
                                         ["C3SQL__predicted_sql.sql", "NL2SQL360__Llama2-7B-500.sql"])
    run = ScoreRun(benchmark=bird, files=load_prediction_files(paths, bird), scorer=get_scorer("bird"),
                   output=tmp_path / "out", cache=GoldCache(None), timeout_s=30.0, progress=False)
    rows = score(run)
    checked = 0
    for row in rows:
        if row["status"] == "skipped":
            continue
        item = bird.items[row["index"]]
        prediction = run.files[[f.name for f in run.files].index(row["prediction_file"])].sql[item.index]
        assert int(row["correct"]) == _bird_reference(Path(item.database), item.gold_sql, prediction), row
        checked += 1
    assert checked == 2 * 972


SOFT_F1 = json.loads((Path(__file__).parents[1] / "data" / "official_soft_f1.json").read_text())


def test_soft_f1_equals_the_official_mini_dev_score_on_every_question(shared_data: Path, tmp_path: Path) -> None:
    """Every published Spider dev prediction file, scored in BIRD's layout: each question's Soft-F1 equals the
    one the official mini-dev evaluator gave (recorded in tests/data/official_soft_f1.json) to 1e-9."""
    names = sorted(SOFT_F1["files"])
    assert len(names) == 109
    bird, paths = _spider_in_bird_layout(shared_data, tmp_path, names)
    run = ScoreRun(benchmark=bird, files=load_prediction_files(paths, bird), scorer=get_scorer("soft-f1"),
                   output=tmp_path / "out", cache=GoldCache(None), timeout_s=30.0, progress=False)
    ours: dict[str, list[tuple[float, bool]]] = {}
    for row in score(run):
        if row["status"] != "skipped":
            ours.setdefault(row["prediction_file"], []).append((row["score"], row["correct"]))
    count = SOFT_F1["questions"]
    for name in names:
        official = SOFT_F1["files"][name]
        ones = _bits(official["ones"], count)
        expected = [1.0 if ones[i] else float(official["fractions"].get(str(i), 0.0)) for i in range(count)]
        found = ours[name.replace(".sql", ".json")]
        assert len(found) == count == 972
        differing = [i for i, ((got, _right), want) in enumerate(zip(found, expected, strict=True))
                     if abs(got - want) > 1e-9]
        assert differing == [], f"{name}: {len(differing)} scores differ, first at {differing[:5]}"
        assert all(right == (got == 1.0) for got, right in found)  # right exactly when the score is 1


EXACT = json.loads((Path(__file__).parents[1] / "data" / "official_exact_match.json").read_text())


def test_exact_match_equals_the_official_evaluator_on_every_question(shared_data: Path, tmp_path: Path) -> None:
    """Every published Spider dev prediction file: each question's exact-set-match verdict and partial scores
    equal those of the official evaluator (recorded in tests/data/official_exact_match.json)."""
    import hashlib

    from mscsql.evaluation.exact_match import hardness, parse, schema_of

    names = sorted(EXACT["files"])
    assert len(names) == 109
    spider = shared_data / "spider"
    rows = _scored_rows(shared_data, "exact-match", names, tmp_path / "out")
    count = EXACT["questions"]
    for name in names:
        found = [r for r in rows if r["prediction_file"] == name and r["status"] != "skipped"]
        assert len(found) == count == 972
        expected = _bits(EXACT["files"][name]["exact"], count)
        differing = [i for i, (r, want) in enumerate(zip(found, expected, strict=True)) if int(r["correct"]) != want]
        assert differing == [], f"{name}: {len(differing)} verdicts differ, first at {differing[:5]}"
        canon = json.dumps([r["partial"] for r in found], sort_keys=True, separators=(",", ":"))
        assert hashlib.sha256(canon.encode()).hexdigest() == EXACT["files"][name]["partial_sha256"], name
    # the official hardness of each parsed gold query is the benchmark's difficulty
    benchmark = load_benchmark("spider-dev", spider, allow_missing_db=True)
    for item in benchmark.items:
        if item.database:
            assert hardness(parse(item.gold_sql, schema_of(item.database))) == item.difficulty, item.index


def _scored_rows(shared_data: Path, scorer: str, names: list[str], out: Path) -> list[dict]:
    benchmark = load_benchmark("spider-dev", shared_data / "spider", allow_missing_db=True)
    files = load_prediction_files([shared_data / "predictions" / "spider_dev" / n for n in names], benchmark)
    run = ScoreRun(benchmark=benchmark, files=files, scorer=get_scorer(scorer), output=out, cache=GoldCache(None),
                   progress=False)
    return score(run)
