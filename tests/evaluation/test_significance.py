"""Significance of a difference between two runs: the exact McNemar test against p-values worked out by hand, the
paired bootstrap against an independent loop over the same draws, and ``mscsql eval compare`` on constructed
runs."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from mscsql.evaluation.significance import compare_by_level, compare_verdicts, mcnemar_exact, paired_bootstrap
from tests.test_cli import mscsql


@pytest.mark.parametrize(("only_a", "only_b", "p"), [
    (0, 0, 1.0),
    (0, 5, 2 / 32),                    # both tails of Binomial(5, 1/2): 2 * (1/32)
    (1, 9, 2 * (1 + 10) / 1024),       # 2 * (C(10,0) + C(10,1)) / 2^10
    (8, 2, 2 * (1 + 10 + 45) / 1024),  # the same from the other side
    (5, 5, 1.0),                       # capped at 1
    (0, 1, 1.0),
])
def test_mcnemar_exact_by_hand(only_a: int, only_b: int, p: float) -> None:
    assert mcnemar_exact(only_a, only_b) == pytest.approx(p, abs=1e-15)


def test_a_large_mcnemar_keeps_its_precision() -> None:
    # 2 * P(X <= 400) for X ~ Binomial(1000, 1/2): about 2.7e-10, far below what floats of the sum would resolve
    assert 1e-10 < mcnemar_exact(400, 600) < 1e-9
    assert mcnemar_exact(600, 400) == mcnemar_exact(400, 600)


def test_the_bootstrap_interval_equals_an_independent_loop_over_the_same_draws() -> None:
    rng = random.Random(1)
    a = [rng.random() < 0.7 for _ in range(300)]
    b = [x if rng.random() < 0.8 else not x for x in a]
    low, high = paired_bootstrap(a, b, resamples=2000, seed=7)
    draws = np.random.default_rng(7).integers(0, len(a), size=(2000, len(a)))
    differences = [sum(b[i] - a[i] for i in row) / len(a) for row in draws]
    expected = np.percentile(differences, [2.5, 97.5])
    assert low == pytest.approx(expected[0], abs=1e-12) and high == pytest.approx(expected[1], abs=1e-12)
    assert low <= (sum(b) - sum(a)) / len(a) <= high
    same = paired_bootstrap(a, a, resamples=500, seed=3)
    assert same == (0.0, 0.0)
    with pytest.raises(ValueError):
        paired_bootstrap([], [])


def test_comparisons_overall_and_per_level() -> None:
    a = [True, True, False, False, True, True]
    b = [True, False, True, True, True, False]
    found = compare_verdicts(a, b, resamples=500)
    assert found["only_a"] == 2 and found["only_b"] == 2 and found["difference"] == 0
    assert found["mcnemar_p"] == 1.0 and found["accuracy_a"] == round(4 / 6, 6)
    levels = compare_by_level(a, b, ["easy", "easy", "hard", "hard", "easy", None], resamples=500)
    assert list(levels) == ["overall", "easy", "hard"]
    assert levels["hard"]["only_b"] == 2 and levels["easy"]["questions"] == 3


def _run(folder: Path, files: dict[str, list[bool]], levels: list[str], skipped: int | None = None) -> Path:
    folder.mkdir(parents=True)
    with (folder / "results.jsonl").open("w") as sink:
        for name, verdicts in files.items():
            for index, (correct, level) in enumerate(zip(verdicts, levels, strict=True)):
                status = "skipped" if index == skipped else ("ok" if correct else "error")
                sink.write(json.dumps({"index": index, "db_id": "d", "prediction_file": name, "difficulty": level,
                                       "correct": correct, "status": status}) + "\n")
    return folder


def test_eval_compare_writes_and_prints_the_comparison(tmp_path: Path) -> None:
    rng = random.Random(5)
    levels = [rng.choice(["easy", "medium", "hard"]) for _ in range(200)]
    a = [rng.random() < 0.6 for _ in range(200)]
    b = [True if x else rng.random() < 0.3 for x in a]  # B right wherever A is, and on some more
    run_a = _run(tmp_path / "a", {"a.sql": a}, levels)
    _run(tmp_path / "b" / "score", {"one.sql": b, "two.sql": a}, levels)  # an eval run's layout
    out = tmp_path / "compare.json"
    unnamed = mscsql("eval", "compare", str(run_a), str(tmp_path / "b"), "--output", str(out))
    assert unnamed.returncode == 2 and "say which to compare" in unnamed.stderr and "one.sql, two.sql" in unnamed.stderr
    done = mscsql("eval", "compare", str(run_a), str(tmp_path / "b"), "--file-b", "one.sql", "--output", str(out),
                  "--resamples", "1000", "--seed", "2")
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    assert result["overall"]["only_a"] == 0 and result["overall"]["only_b"] == only_b > 0
    assert result["overall"]["mcnemar_p"] == pytest.approx(2 / 2 ** only_b)
    assert result["overall"]["interval_95"][0] > 0 and set(result) >= {"easy", "medium", "hard"}
    assert result["overall"]["interval_95"] == compare_verdicts(a, b, resamples=1000, seed=2)["interval_95"]
    assert "McNemar p =" in done.stdout and "overall" in done.stdout
    other = _run(tmp_path / "c", {"c.sql": a}, levels, skipped=3)  # one question fewer
    mismatched = mscsql("eval", "compare", str(run_a), str(other), "--output", str(out))
    assert mismatched.returncode == 2 and "different questions" in mismatched.stderr
    missing = mscsql("eval", "compare", str(run_a), str(tmp_path / "nowhere"), "--output", str(out))
    assert missing.returncode == 2 and "holds no scored run" in missing.stderr
