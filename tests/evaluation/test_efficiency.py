"""BIRD's VES and mini-dev's R-VES: the outlier rule and the rewards by hand, and timed scoring runs on the
hand-made cases (verdicts as ``bird``'s, only right predictions timed, resumable, the machine recorded)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mscsql.benchmarks.loaders import load_benchmark
from mscsql.benchmarks.predictions import load_prediction_files
from mscsql.errors import ConfigError
from mscsql.evaluation.cache import GoldCache
from mscsql.evaluation.efficiency import TIMINGS, cleaned, reward
from mscsql.evaluation.report import write_reports
from mscsql.evaluation.runner import ScoreRun, score
from mscsql.evaluation.scorers import get_scorer
from tests.evaluation.conftest import CASES


@pytest.mark.parametrize(("ratio", "expected"), [(0.0, 0.0), (0.1, 0.25), (0.25, 0.5), (0.49, 0.5), (0.5, 0.75),
                                                 (0.99, 0.75), (1.0, 1.0), (1.99, 1.0), (2.0, 1.25), (40.0, 1.25)])
def test_r_ves_rewards(ratio: float, expected: float) -> None:
    assert reward(ratio) == expected


def test_ratios_beyond_three_standard_deviations_are_dropped() -> None:
    ratios = [1.0] * 20 + [50.0]  # mean 3.33, std 10.44: 50 is 4.5 deviations out
    assert cleaned(ratios) == [1.0] * 20
    assert cleaned([2.0, 2.0, 2.0]) == [2.0, 2.0, 2.0]  # no spread: every ratio kept
    assert cleaned([1.0, 3.0]) == [1.0, 3.0]


def _score(bird_dir: Path, tmp_path: Path, scorer: str, out: Path) -> tuple[list[dict], ScoreRun]:
    preds = {str(i): f"{c.prediction}\t----- bird -----\t{c.db_id}" for i, c in enumerate(CASES)}
    path = tmp_path / "predict_dev.json"
    path.write_text(json.dumps(preds), encoding="utf-8")
    bench = load_benchmark("bird-dev", bird_dir, allow_missing_db=True)
    run = ScoreRun(benchmark=bench, files=load_prediction_files([path], bench),
                   scorer=get_scorer(scorer, repeats=4), output=out, cache=GoldCache(None), timeout_s=1.0,
                   progress=False)
    return score(run), run


@pytest.mark.parametrize("scorer", ["r-ves", "ves"])
def test_timed_runs_keep_bird_verdicts_and_time_only_right_predictions(bird_dir: Path, tmp_path: Path,
                                                                       scorer: str) -> None:
    out = tmp_path / "out"
    rows, run = _score(bird_dir, tmp_path, scorer, out)
    for case, row in zip(CASES, rows, strict=True):
        assert row["correct"] is case.bird, case.note
        if row["status"] == "skipped":
            continue
        if row["correct"]:
            assert row["time_ratio"] > 0 and 1 <= row["rounds"] <= 4 and row["spread"] is not None
        else:
            assert row["time_ratio"] == 0 and row["rounds"] == 0
        value = row["reward"] if scorer == "r-ves" else row["ves"]
        assert value == (reward(row["time_ratio"]) if scorer == "r-ves" else math.sqrt(row["time_ratio"]))
    summary = write_reports(rows, run)
    scored = [r for r in rows if r["status"] != "skipped"]
    per_question = [math.sqrt(r["reward"]) if scorer == "r-ves" else r["ves"] for r in scored]
    assert summary["files"][0][scorer] == pytest.approx(sum(per_question) / len(per_question), abs=1e-6)
    assert summary["repeats"] == 4 and summary["machine"]["cpus"] >= 1
    assert summary["timing_processes"] == 1  # fewer right predictions than one chunk: timed here
    assert summary["files"][0]["timing_noise"]["timed_questions"] == sum(r["correct"] for r in scored)
    # a second run reads the timings back instead of measuring again
    timed = (out / TIMINGS).read_text()
    again, _run = _score(bird_dir, tmp_path, scorer, out)
    assert (out / TIMINGS).read_text() == timed
    assert [r.get("time_ratio") for r in again] == [r.get("time_ratio") for r in rows]


def test_a_timed_scorer_needs_rounds() -> None:
    with pytest.raises(ConfigError, match="at least one timing round"):
        get_scorer("r-ves", repeats=0)


@pytest.mark.parametrize("workers", [1, 2])
def test_right_predictions_of_many_files_are_timed_once_each_in_worker_processes(bird_dir: Path, tmp_path: Path,
                                                                                 workers: int) -> None:
    preds = {str(i): f"{c.prediction}\t----- bird -----\t{c.db_id}" for i, c in enumerate(CASES)}
    paths = []
    for n in range(5):  # more right predictions than one chunk holds, so two workers share them
        paths.append(tmp_path / f"file{n}.json")
        paths[-1].write_text(json.dumps(preds), encoding="utf-8")
    bench = load_benchmark("bird-dev", bird_dir, allow_missing_db=True)
    out = tmp_path / f"out{workers}"
    run = ScoreRun(benchmark=bench, files=load_prediction_files(paths, bench), scorer=get_scorer("r-ves", repeats=3),
                   output=out, cache=GoldCache(None), timeout_s=1.0, progress=False, workers=workers)
    rows = score(run)
    right = {f"{r['prediction_file']}\t{r['index']}" for r in rows if r["correct"]}
    assert len(right) == 5 * sum(c.bird is True for c in CASES) > 16
    keys = [json.loads(line)["key"] for line in (out / TIMINGS).read_text(encoding="utf-8").splitlines()]
    assert sorted(keys) == sorted(right)  # each right prediction once, nothing else
    assert all(r["rounds"] >= 1 and r["time_ratio"] > 0 for r in rows if r["correct"])
    assert run.timing_processes == workers
