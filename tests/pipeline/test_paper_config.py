"""``configs/paper.yaml`` end to end with ``mscsql eval run --set``: the paper's table selector and pairwise critic
on a tiny local model, its three generators replaying prediction files, on a two-database Spider-style benchmark."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.models import build_tiny_causal_lm, one_torch_thread
from tests.test_cli import mscsql
from tests.training.test_critic_data import QUESTIONS, make_pools

pytest.importorskip("transformers")


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_the_paper_config_runs_with_tiny_local_models(tmp_path: Path) -> None:
    root, files = make_pools(tmp_path)
    model = build_tiny_causal_lm(tmp_path / "tiny", "llama", seed=0)
    local = "{device: cpu, dtype: float32, progress: false}"
    sets = ["linking.llm_tables.model.backend=hf", f"linking.llm_tables.model.model={model}",
            f"linking.llm_tables.model.options={local}"]
    for n, (name, path) in enumerate(zip(("mistral-7b", "llama-3-8b", "gemma-2-9b"), files, strict=True)):
        sets += [f"generators.{name}.backend=replay", f"generators.{name}.model=null",
                 f"generators.{name}.options={{predictions: {path}}}",
                 f"selection.critic.models.{n}.backend=hf", f"selection.critic.models.{n}.model={model}",
                 f"selection.critic.models.{n}.options={local}"]
    out = tmp_path / "run"
    run = mscsql("eval", "run", "--config", "configs/paper.yaml", "--benchmark", "spider-dev", "--data-dir",
                 str(root), "--output", str(out), *[x for s in sets for x in ("--set", s)], timeout=600)
    assert run.returncode == 0, run.stderr

    # the paper's settings are what ran, with only the models replaced
    config = json.loads((out / "generate" / "run.json").read_text())["config"]
    linking = config["linking"]
    assert linking["linkers"] == ["llm-tables"] and linking["llm_tables"]["model"]["model"] == str(model)
    assert (linking["llm_tables"]["samples"], linking["llm_tables"]["temperature"]) == (5, 1.0)
    assert [(g["name"], g["n"], g["temperature"]) for g in config["generators"]] == [
        ("mistral-7b", 1, 0.0), ("llama-3-8b", 1, 0.0), ("gemma-2-9b", 1, 0.0)]

    selections = sorted(lines(out / "selections.jsonl"), key=lambda r: r["index"])
    assert [r["index"] for r in selections] == list(range(len(QUESTIONS)))
    for record in selections:
        predictions = QUESTIONS[record["index"]][3]
        assert record["selector"] == "critic" and record["sql"] in predictions
        assert sum(g["count"] for g in record["groups"]) == 3  # one greedy sample from each generator
        ran = [g for g in record["groups"] if g["ok"]]
        if len(ran) >= 2:  # judged pair by pair: the group probabilities are shares of the pairs' wins
            assert sum(g["score"] for g in ran) == pytest.approx(1.0)
    # question 1: three spellings of one result, so no critic call
    assert selections[1]["unanimous"] and len(selections[1]["groups"]) == 1
    # every table a question names is in its linked schema (the tiny model names none: the schema is kept whole)
    assert all(set(r["linked_tables"]) >= ({"items"} if r["db_id"] == "shop" else {"pets"}) for r in selections)
    summary = json.loads((out / "score" / "summary.json").read_text())
    assert summary["files"][0]["scored"] == len(QUESTIONS)

    # the selector those settings build is the pairwise critic over three checkpoints
    from mscsql.config import PipelineConfig, load_generation_config
    from mscsql.critic.pairwise import PairwiseCritic
    from mscsql.critic.registry import build_selector

    selector = build_selector(load_generation_config("configs/paper.yaml", PipelineConfig, sets).selection)
    try:
        assert isinstance(selector, PairwiseCritic) and len(selector.scorers) == 3 and selector.max_pairs is None
    finally:
        selector.close()


def test_the_paper_config_names_the_models_of_the_papers_code() -> None:
    """The official code's table selector and its three critic checkpoints are fine-tuned Mistral-7B; its
    generators Mistral-7B, Llama-3-8B and Gemma-2-9B; the table selector samples plainly (top_p 1)."""
    from mscsql.config import PipelineConfig, load_generation_config

    config = load_generation_config("configs/paper.yaml", PipelineConfig)
    tables = config.linking.llm_tables
    assert tables is not None and tables.model.model == "mistralai/Mistral-7B-Instruct-v0.3"
    assert (tables.samples, tables.temperature, tables.top_p) == (5, 1.0, 1.0)
    assert [g.model for g in config.generators] == ["mistralai/Mistral-7B-Instruct-v0.3",
                                                    "meta-llama/Meta-Llama-3-8B-Instruct", "google/gemma-2-9b-it"]
    assert config.selection.critic is not None and config.selection.critic.mode == "pairwise"
    assert [m.model for m in config.selection.critic.models] == ["mistralai/Mistral-7B-Instruct-v0.3"] * 3


def test_the_msc_plus_config_runs_with_tiny_local_models(tmp_path: Path) -> None:
    root, files = make_pools(tmp_path)
    model = build_tiny_causal_lm(tmp_path / "tiny", "llama", seed=0)
    local = "{device: cpu, dtype: float32, progress: false}"
    sets = ["linking.llm_tables.model.backend=hf", f"linking.llm_tables.model.model={model}",
            f"linking.llm_tables.model.options={local}", "selection.critic.models.0.backend=hf",
            f"selection.critic.models.0.model={model}", f"selection.critic.models.0.options={local}"]
    for name, path in zip(("mistral-7b", "llama-3-8b", "gemma-2-9b"), files, strict=True):
        sets += [f"generators.{name}.backend=replay", f"generators.{name}.model=null", f"generators.{name}.n=1",
                 f"generators.{name}.options={{predictions: {path}}}"]
    out = tmp_path / "run"
    run = mscsql("eval", "run", "--config", "msc-plus", "--benchmark", "spider-dev", "--data-dir", str(root),
                 "--output", str(out), *[x for s in sets for x in ("--set", s)], timeout=600)
    assert run.returncode == 0, run.stderr
    config = json.loads((out / "generate" / "run.json").read_text())["config"]
    assert config["linking"]["linkers"] == ["llm-tables", "embedding"]
    selections = sorted(lines(out / "selections.jsonl"), key=lambda r: r["index"])
    assert [r["index"] for r in selections] == list(range(len(QUESTIONS)))
    for record in selections:
        assert record["selector"] == "critic" and record["sql"] in QUESTIONS[record["index"]][3]
        ran = [g for g in record["groups"] if g["ok"]]
        if len(ran) >= 2:  # the joint critic's option probabilities
            assert sum(g["score"] for g in ran) == pytest.approx(1.0)
    assert json.loads((out / "score" / "summary.json").read_text())["files"][0]["scored"] == len(QUESTIONS)
