"""An adapter written by the recipe: the trained model, the adapter reloaded with peft and the merged model
give the same logits; merge_adapter's errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("datasets")

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from mscsql.errors import ConfigError
from mscsql.training.merge import merge_adapter
from mscsql.training.recipe import CausalLMRecipe
from tests.models import one_torch_thread
from tests.training import tiny_setup


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A few LoRA steps with a high learning rate (an adapter far from its zero start) on the tiny model."""
    root = tmp_path_factory.mktemp("merge")
    base = tiny_setup.build_base(root / "base")
    data = tiny_setup.build_dataset(root / "data")
    recipe = CausalLMRecipe(tiny_setup.train_config(base, data, root / "out", max_steps=3, learning_rate=5e-2,
                                                    gradient_checkpointing=False))
    recipe.setup()
    recipe.train()
    result = recipe.save()
    return {"root": root, "base": base, "adapter": result.adapter_dir, "model": recipe.model}


def _inputs(base: Path) -> dict[str, torch.Tensor]:
    tokenizer = AutoTokenizer.from_pretrained(base)
    texts = [tokenizer.apply_chat_template(tiny_setup.messages(i), add_generation_prompt=True, tokenize=False)
             + tiny_setup.completion(i) for i in (0, 3)]
    tokenizer.padding_side = "right"
    return dict(tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt"))


def _logits(model: Any, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    model.eval()
    with torch.inference_mode():
        logits = model(**inputs).logits.float()
    return logits * inputs["attention_mask"][..., None]


def test_adapter_reload_and_merge_give_the_same_logits(trained: dict[str, Any]) -> None:
    inputs = _inputs(trained["base"])
    plain = _logits(AutoModelForCausalLM.from_pretrained(trained["base"], dtype=torch.float32), inputs)
    in_memory = _logits(trained["model"].to("cpu"), inputs)
    fresh_base = AutoModelForCausalLM.from_pretrained(trained["base"], dtype=torch.float32)
    reloaded = _logits(PeftModel.from_pretrained(fresh_base, trained["adapter"]), inputs)
    merged_dir = merge_adapter(trained["adapter"], trained["root"] / "merged")
    merged = _logits(AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32), inputs)

    # the adapter changes the model (else the comparisons below would hold trivially)
    assert (in_memory - plain).abs().max() > 1e-2
    assert torch.allclose(reloaded, in_memory, atol=1e-5, rtol=0)
    assert torch.allclose(merged, in_memory, atol=1e-5, rtol=0)


def test_the_merged_folder_is_a_plain_model_with_the_tokenizer(trained: dict[str, Any]) -> None:
    merged_dir = merge_adapter(trained["adapter"], trained["root"] / "merged-bf16", base=str(trained["base"]),
                               dtype="bfloat16")
    assert merged_dir == trained["root"] / "merged-bf16"
    assert (merged_dir / "config.json").is_file() and not (merged_dir / "adapter_config.json").exists()
    assert AutoTokenizer.from_pretrained(merged_dir).chat_template
    config = json.loads((merged_dir / "config.json").read_text())
    assert config.get("dtype", config.get("torch_dtype")) == "bfloat16"


def test_a_folder_that_is_no_adapter_is_one_config_error(trained: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not an adapter folder") as caught:
        merge_adapter(trained["adapter"].parent, tmp_path / "merged")
    assert "adapter" in (caught.value.hint or "")  # it points at OUTPUT/adapter
    with pytest.raises(ConfigError, match="does not exist"):
        merge_adapter(tmp_path / "nothing", tmp_path / "merged")
    with pytest.raises(ConfigError, match="unknown dtype"):
        merge_adapter(trained["adapter"], tmp_path / "merged", dtype="int3")
    assert not (tmp_path / "merged").exists()
