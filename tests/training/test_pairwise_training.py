"""The pairwise critic end to end on a tiny model: pairwise critic data from labelled pools, the LoRA recipe on
it, the adapter merged, and ``mscsql select -s critic --critic-mode pairwise`` choosing with the trained critic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mscsql.critic.llm import LABELS
from mscsql.training.dataset_io import read_dataset
from tests.models import build_tiny_causal_lm, one_torch_thread
from tests.test_cli import mscsql
from tests.training import tiny_setup
from tests.training.test_critic_data import build, make_pools

pytest.importorskip("peft")


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


def right_letter_probability(model: Path, rows: list[dict[str, Any]]) -> list[float]:
    from mscsql.critic.base import normalise
    from mscsql.generation.hf import HFGenerator

    gen = HFGenerator(model, device="cpu", dtype="float32", progress=False)
    scores = gen.option_logprobs([r["messages"] for r in rows], list(LABELS[:2]))
    return [normalise(s)[r["answer"]] for s, r in zip(scores, rows, strict=True)]


def tiny_base(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    """A tiny model whose tokenizer knows the rows' texts; larger embeddings than a pretrained model's start: the
    adapter trains none, and must still answer sharply."""
    texts = [m["content"] for r in rows for m in r["messages"]]
    return build_tiny_causal_lm(tmp_path / "base", "llama", (*tiny_setup.TEXTS, *texts), seed=0, hidden_size=64,
                                initializer_range=0.2)


def trained_critic(tmp_path: Path, base: Path) -> Path:
    """``base`` trained with the LoRA recipe on the critic rows in ``tmp_path/data``, merged."""
    from mscsql.training.config import load_train_config
    from mscsql.training.merge import merge_adapter
    from mscsql.training.recipe import train_causal_lm

    config = tiny_setup.config_dict(base, tmp_path / "data", tmp_path / "out", max_steps=60, max_length=1024,
                                    learning_rate=3e-3, eval_fraction=0.0)
    config["role"] = "critic"
    return merge_adapter(train_causal_lm(load_train_config(config)).adapter_dir, tmp_path / "critic")


def selected_with(tmp_path: Path, root: Path, files: list[Path], critic: Path, *options: str) -> dict[str, Any]:
    """``mscsql select`` with the vote and the trained ``critic`` (``options``: how it judges): the summary."""
    picked = mscsql("select", "--benchmark", "spider-dev", "--data-dir", str(root), "--candidates", *map(str, files),
                    "--selector", "vote", "--selector", "critic", "--critic-model", str(critic), *options,
                    "--output", str(tmp_path / "select"), "--workers", "1", timeout=600)
    assert picked.returncode == 0, picked.stderr
    return json.loads((tmp_path / "select" / "summary.json").read_text())


def test_a_critic_trained_on_pairwise_rows_picks_the_right_groups(tmp_path: Path) -> None:
    root, files = make_pools(tmp_path)
    build(root, files, tmp_path / "data", pairwise=True)
    data, _stored = read_dataset(tmp_path / "data", "critic")
    rows = list(data["train"])
    assert len(rows) == 10  # see test_pairwise_rows_are_each_right_wrong_pair_in_both_orders
    base = tiny_base(tmp_path, rows)
    before = right_letter_probability(base, rows)
    merged = trained_critic(tmp_path, base)
    after = right_letter_probability(merged, rows)
    # each pair comes in both orders, so a critic can only learn these rows by reading the options
    assert min(after) > 0.5 and sum(after) / len(after) > sum(before) / len(before) + 0.3, (before, after)

    summary = selected_with(tmp_path, root, files, merged, "--critic-mode", "pairwise")
    # of the six questions 1 is right and 4 wrong whatever is chosen; the vote misses 0 (the minority is right) and
    # 2 (no majority: the first file's wrong answer); the trained critic gets every question that can be right
    assert summary["selectors"] == pytest.approx({"vote": 3 / 6, "critic": 5 / 6}, abs=1e-4), summary


def test_critic_options_without_a_critic_model_are_one_clear_error(tmp_path: Path) -> None:
    root, files = make_pools(tmp_path)
    result = mscsql("select", "--benchmark", "spider-dev", "--data-dir", str(root), "--candidates", *map(str, files),
                    "--selector", "vote", "--critic-mode", "pairwise", "--output", str(tmp_path / "select"))
    assert result.returncode == 2 and "--critic-model" in result.stderr and "Traceback" not in result.stderr
    clash = mscsql("select", "--benchmark", "spider-dev", "--data-dir", str(root), "--candidates", *map(str, files),
                   "--selector", "critic", "--critic-model", str(tmp_path), "--critic-mode", "pairwise",
                   "--critic-ordering", "by-support", "--output", str(tmp_path / "select"))
    assert clash.returncode == 2 and "pairwise" in clash.stderr and "Traceback" not in clash.stderr, clash.stderr


def test_pairwise_rows_take_no_other_ordering(tmp_path: Path) -> None:
    root, files = make_pools(tmp_path)
    result = mscsql("train", "data", "critic", "--benchmark", "spider-dev", "--data-dir", str(root),
                    "--pool", ",".join(map(str, files)), "--pairwise", "--ordering", "by-support",
                    "--output", str(tmp_path / "data"))
    assert result.returncode == 2 and "--ordering" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_a_critic_trained_on_by_support_rows_picks_the_right_groups(tmp_path: Path) -> None:
    """The joint critic in the order of support, end to end: by-support rows (the options in the order the critic
    shows them), the LoRA recipe, and ``mscsql select -s critic --critic-ordering by-support`` with the result."""
    root, files = make_pools(tmp_path)
    build(root, files, tmp_path / "data", orderings=1, ordering="by-support")
    data, _stored = read_dataset(tmp_path / "data", "critic")
    rows = list(data["train"])
    assert sorted(r["index"] for r in rows) == [0, 2, 3, 5]  # one row per question that teaches
    merged = trained_critic(tmp_path, tiny_base(tmp_path, rows))
    assert min(right_letter_probability(merged, rows)) > 0.5

    summary = selected_with(tmp_path, root, files, merged, "--critic-ordering", "by-support")
    # as with the pairwise critic: the vote gets 3 of the 6 questions, the critic every one that can be right
    assert summary["selectors"] == pytest.approx({"vote": 3 / 6, "critic": 5 / 6}, abs=1e-4), summary
