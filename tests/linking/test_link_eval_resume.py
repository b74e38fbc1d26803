"""`LinkEvaluation` writes each database's questions as it goes and resumes after a kill."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mscsql.benchmarks.loaders import Benchmark, BenchmarkItem
from mscsql.config import RetrievalSettings
from mscsql.errors import DatasetError
from mscsql.evaluation.linking import LinkEvaluation
from mscsql.linking.base import KeepAllLinker
from tests.retrieval.test_value_index import make_db


class CountingLinker(KeepAllLinker):
    def __init__(self) -> None:
        self.linked: list[str] = []

    def link(self, requests):
        self.linked += [r.question.text for r in requests]
        return super().link(requests)


def benchmark(db: Path) -> Benchmark:
    questions = [("How many schools are in Alameda?", "SELECT count(*) FROM schools WHERE county = 'Alameda'"),
                 ("Which pets are cats?", "SELECT id FROM pets WHERE pettype = 'cat'"),
                 ("Official languages of Belgium?", "SELECT language FROM languages WHERE country = 'Belgium' "
                                                    "AND isofficial = 'T'")]
    items = tuple(BenchmarkItem(index=i, db_id="schools", question=q, gold_sql=sql, database=str(db))
                  for i, (q, sql) in enumerate(questions))
    return Benchmark(name="hand-made", dialect="sqlite", items=items, difficulty_levels=())


def run(bench: Benchmark, out: Path, linker, identity=None) -> dict:
    return LinkEvaluation(bench, out.parent, linker, out, retrieval=RetrievalSettings(embed_values=False),
                          index_root=out.parent / "indexes", progress=False, identity=identity or {}).run()


def test_resume_skips_finished_questions_and_tolerates_a_cut_line(tmp_path: Path) -> None:
    bench = benchmark(make_db(tmp_path / "schools.sqlite"))
    out = tmp_path / "out"
    first = CountingLinker()
    summary = run(bench, out, first)
    assert summary["questions"] == 3 and summary["table_recall_strict"] == 1.0
    assert summary["value_hit_rate"] == 1.0 and summary["gold_literals"] == 4  # Alameda, cat, Belgium, T
    assert summary["tables_kept_fraction"] == 1.0
    lines = (out / "questions.jsonl").read_text().splitlines()
    # a kill: the last record is lost and the one before is cut in the middle
    (out / "questions.jsonl").write_text(lines[0] + "\n" + lines[1][:20])
    second = CountingLinker()
    again = run(bench, out, second)
    assert second.linked == ["Which pets are cats?", "Official languages of Belgium?"]
    assert {k: again[k] for k in ("questions", "value_hit_rate")} == {"questions": 3, "value_hit_rate": 1.0}


def test_other_settings_in_the_same_folder_are_refused(tmp_path: Path) -> None:
    bench = benchmark(make_db(tmp_path / "schools.sqlite"))
    out = tmp_path / "out"
    run(bench, out, CountingLinker(), {"linkers": ["keep-all"]})
    with pytest.raises(DatasetError, match="other settings"):
        run(bench, out, CountingLinker(), {"linkers": ["embedding"]})
    assert json.loads((out / "run.json").read_text())["linkers"] == ["keep-all"]
