"""End-to-end scoring on hand-made cases: every scorer's verdicts, the output contract, cache and resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mscsql.benchmarks.loaders import load_benchmark
from mscsql.benchmarks.predictions import load_prediction_files
from mscsql.errors import DatasetError
from mscsql.evaluation.cache import GoldCache
from mscsql.evaluation.report import write_reports
from mscsql.evaluation.runner import ScoreRun, score
from mscsql.evaluation.scorers import get_scorer
from tests.evaluation.conftest import CASES


def _run(data_dir: Path, benchmark: str, scorer: str, preds: list[Path], out: Path, cache: Path | None,
         **kwargs: object) -> tuple[list[dict], ScoreRun]:
    bench = load_benchmark(benchmark, data_dir, allow_missing_db=True)
    options: dict = {"timeout_s": 1.0, "progress": False, **kwargs}
    run = ScoreRun(benchmark=bench, files=load_prediction_files(preds, bench), scorer=get_scorer(scorer),
                   output=out, cache=GoldCache(cache), **options)
    try:
        return score(run), run
    finally:
        run.cache.close()


@pytest.mark.parametrize("scorer", ["spider-exec", "test-suite", "strict"])
def test_spider_layout_verdicts(spider_dir: Path, predictions_file: Path, tmp_path: Path, scorer: str) -> None:
    rows, _run_config = _run(spider_dir, "spider-dev", scorer, [predictions_file], tmp_path / "out", None)
    field = scorer.replace("-", "_")
    assert len(rows) == len(CASES)
    for case, row in zip(CASES, rows, strict=True):
        assert row["correct"] is getattr(case, field), f"{scorer}: {case.note}"
    by_note = {c.note: r for c, r in zip(CASES, rows, strict=True)}
    assert by_note["timeout"]["status"] == "timeout"
    assert by_note["syntax error"]["status"] == "error" and "cannot be parsed" in by_note["syntax error"]["error"]
    assert by_note["database missing: skipped"]["status"] == "skipped"
    assert "read-only guard" in by_note["writes are refused, never run"]["error"]


def test_bird_layout_verdicts_and_gold_failures(bird_dir: Path, tmp_path: Path) -> None:
    preds = {str(i): f"{c.prediction}\t----- bird -----\t{c.db_id}" for i, c in enumerate(CASES)}
    path = tmp_path / "predict_dev.json"
    path.write_text(json.dumps(preds), encoding="utf-8")
    rows, run = _run(bird_dir, "bird-dev", "bird", [path], tmp_path / "out", None)
    for case, row in zip(CASES, rows, strict=True):
        assert row["correct"] is case.bird, case.note
        assert row["question_id"] == 100 + row["index"]
    summary = write_reports(rows, run)
    assert [g["db_id"] for g in summary["gold_failures"]] == ["latin"]  # listed separately
    assert set(summary["files"][0]["by_difficulty"]) == {"simple", "moderate", "challenging"}


def test_output_contract_and_reports(spider_dir: Path, predictions_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    second = tmp_path / "other" / "preds.sql"  # same file name in another folder: names stay unique
    second.parent.mkdir()
    second.write_text("".join(f"{c.gold}\n" for c in CASES), encoding="utf-8")
    rows, run = _run(spider_dir, "spider-dev", "spider-exec", [predictions_file, second], out, None)
    summary = write_reports(rows, run)
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 * len(CASES)
    first = json.loads(lines[0])
    for key in ("index", "question_id", "db_id", "prediction_file", "correct", "status", "error"):
        assert key in first
    names = [f["name"] for f in summary["files"]]
    assert names[1] == "other/preds.sql" and names[0].endswith("/preds.sql") and names[0] != names[1]
    gold_file = summary["files"][1]
    assert (gold_file["correct"], gold_file["scored"], gold_file["skipped"]) == (len(CASES) - 1, len(CASES) - 1, 1)
    assert summary["skipped_questions"] == 1 and summary["missing_databases"] == ["zoo"]
    assert summary["provenance"]["dataset_files"]["dev.json"]
    assert "| other/preds.sql |" in (out / "report.md").read_text(encoding="utf-8")
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gold_results_come_from_the_cache_on_a_second_run(spider_dir: Path, predictions_file: Path,
                                                          tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _rows, first = _run(spider_dir, "spider-dev", "test-suite", [predictions_file], tmp_path / "a", cache)
    assert first.stats["gold_executed"] > 0 and first.stats["gold_from_cache"] == 0
    rows, second = _run(spider_dir, "spider-dev", "test-suite", [predictions_file], tmp_path / "b", cache)
    assert second.stats["gold_executed"] == 0 and second.stats["gold_from_cache"] == first.stats["gold_executed"]
    assert [r["correct"] for r in rows] == [c.test_suite for c in CASES]


def test_files_in_one_run_share_gold_results(spider_dir: Path, predictions_file: Path, tmp_path: Path) -> None:
    _rows, one = _run(spider_dir, "spider-dev", "spider-exec", [predictions_file], tmp_path / "a", None)
    copy = tmp_path / "copy.sql"
    copy.write_bytes(predictions_file.read_bytes())
    _rows, two = _run(spider_dir, "spider-dev", "spider-exec", [predictions_file, copy], tmp_path / "b", None)
    assert two.stats["gold_executed"] == one.stats["gold_executed"]


def test_a_killed_run_resumes_to_the_same_files(spider_dir: Path, predictions_file: Path, tmp_path: Path) -> None:
    reference, _ = _run(spider_dir, "spider-dev", "spider-exec", [predictions_file], tmp_path / "ref", None)
    out = tmp_path / "resumed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    # a real kill: the child scores one chunk of 4 questions at a time and dies after the second chunk
    code = f"""
import os, sys
from pathlib import Path
from mscsql.evaluation import runner
from tests.evaluation.test_scoring import _run
calls = 0
original = runner._Chunk.score
def dying(self):
    global calls
    calls += 1
    if calls == 3:
        with open(Path({str(out)!r}) / "results.jsonl", "a") as f:
            f.write('{{"index": 99, "prediction_file": "preds.sq')  # a line cut short
        os._exit(9)
    return original(self)
runner._Chunk.score = dying
_run(Path({str(spider_dir)!r}), "spider-dev", "spider-exec", [Path({str(predictions_file)!r})], Path({str(out)!r}),
     None, chunk_size=4, workers=1)
"""
    killed = subprocess.run([sys.executable, "-c", code], env=env, cwd=Path(__file__).parents[2], timeout=120)
    assert killed.returncode == 9
    partial = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert 0 < len(partial) - 1 < len(CASES)  # two chunks written, plus the cut line
    rows, _ = _run(spider_dir, "spider-dev", "spider-exec", [predictions_file], out, None, chunk_size=4)
    assert rows == reference
    assert (out / "results.jsonl").read_text() == (tmp_path / "ref" / "results.jsonl").read_text()


def test_output_of_another_run_is_not_mixed_in(spider_dir: Path, predictions_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(spider_dir, "spider-dev", "spider-exec", [predictions_file], out, None)
    with pytest.raises(DatasetError, match="different run"):
        _run(spider_dir, "spider-dev", "strict", [predictions_file], out, None)


def test_test_suite_needs_its_databases(spider_dir: Path, predictions_file: Path, tmp_path: Path) -> None:
    import shutil

    shutil.rmtree(spider_dir / "test_suite_database")
    with pytest.raises(DatasetError, match="test_suite_database"):
        _run(spider_dir, "spider-dev", "test-suite", [predictions_file], tmp_path / "out", None)


def test_cli_scores_and_reports(spider_dir: Path, predictions_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    copy = tmp_path / "copy.sql"
    copy.write_bytes(predictions_file.read_bytes())
    done = subprocess.run([sys.executable, "-m", "mscsql.cli", "eval", "score", "--benchmark", "spider-dev",
                           "--data-dir", str(spider_dir), "--scorer", "spider-exec", "--output", str(out),
                           "--allow-missing-db", "--no-cache", "--timeout", "1",
                           "--predictions", str(predictions_file), str(copy)],  # several files after one flag
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    expected = sum(c.spider_exec for c in CASES)
    assert done.stdout.count(f"({expected} correct)") == 2
    summary = json.loads((out / "summary.json").read_text())
    assert [f["correct"] for f in summary["files"]] == [expected, expected]
    missing = subprocess.run([sys.executable, "-m", "mscsql.cli", "eval", "score", "--benchmark", "spider-dev",
                              "--data-dir", str(spider_dir), "-p", str(predictions_file), "--output", str(out)],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "zoo" in missing.stderr and "--allow-missing-db" in missing.stderr
    assert "Traceback" not in missing.stderr
