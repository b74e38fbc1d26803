"""The labelled answers a confidence model is refitted on, read from a hand-written ``mscsql eval run`` folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mscsql.errors import ConfigError
from mscsql.evaluation.calibration import labelled_answers


def _write(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _answer(index: int, share: float, source: str = "generated") -> dict:
    return {"index": index, "source": source, "confidence_features": {"share": share} if source != "verified"
            else None}


def test_an_eval_run_s_answers_take_the_verdict_of_their_place_in_benchmark_order(tmp_path: Path) -> None:
    # answered: benchmark questions 9, 2, 5 and 7 (written in another order); the scorer numbered them 0..3 in
    # benchmark order: 2 -> 0 (right), 5 -> 1 (wrong), 7 -> 2 (skipped: no gold result), 9 -> 3 (right)
    _write(tmp_path / "selections.jsonl", [_answer(9, 0.9), _answer(2, 0.2), _answer(5, 0.5), _answer(7, 0.7)])
    _write(tmp_path / "score" / "results.jsonl", [
        {"index": 0, "correct": True, "status": "ok"}, {"index": 1, "correct": False, "status": "ok"},
        {"index": 2, "correct": False, "status": "skipped"}, {"index": 3, "correct": True, "status": "ok"}])
    rows, labels, kind = labelled_answers(tmp_path)
    assert kind == "mscsql eval run"
    assert [r["share"] for r in rows] == [0.2, 0.5, 0.9] and labels == [True, False, True]


def test_a_verified_answer_is_left_out(tmp_path: Path) -> None:
    _write(tmp_path / "selections.jsonl", [_answer(0, 0.4), _answer(1, 1.0, source="verified")])
    _write(tmp_path / "score" / "results.jsonl", [{"index": 0, "correct": False, "status": "ok"},
                                                  {"index": 1, "correct": True, "status": "ok"}])
    rows, labels, _kind = labelled_answers(tmp_path)
    assert rows == [{"share": 0.4}] and labels == [False]


def test_an_unfinished_run_is_one_clear_error(tmp_path: Path) -> None:
    _write(tmp_path / "selections.jsonl", [_answer(0, 0.4), _answer(1, 0.6)])
    with pytest.raises(ConfigError, match="has answers but no scores") as raised:
        labelled_answers(tmp_path)
    assert "resumes" in (raised.value.hint or "")
    _write(tmp_path / "score" / "results.jsonl", [{"index": 0, "correct": False, "status": "ok"}])
    with pytest.raises(ConfigError, match="2 answers but 1 scores"):
        labelled_answers(tmp_path)
    with pytest.raises(ConfigError, match=r"has no selections\.jsonl"):
        labelled_answers(tmp_path / "score")


def test_an_eval_run_without_features_says_so(tmp_path: Path) -> None:
    _write(tmp_path / "selections.jsonl", [{"index": 0, "candidates": [], "groups": []}])
    with pytest.raises(ConfigError, match="did not record confidence features"):
        labelled_answers(tmp_path)
