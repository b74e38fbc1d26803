"""Fixtures: tiny real causal LMs built offline (see :mod:`tests.models`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import models

#: two prompts the trained tiny model answers by heart
SINGERS = [{"role": "system", "content": "You pick tables."},
           {"role": "user", "content": "Question: how many singers are there?"}]
STADIUMS = [{"role": "user", "content": "Question: which stadium is the largest?"}]
SINGERS_ANSWER = '["singer", "concert"]'
STADIUMS_ANSWER = "Tables: stadium, Nonexistent"
TEXTS = (*models.DEFAULT_TEXTS, SINGERS_ANSWER, STADIUMS_ANSWER, "Question: how many singers are there?")
#: what the model's generation_config.json asks for; HFGenerator must ignore all of it
SAMPLING_HAPPY_CONFIG = {"do_sample": True, "temperature": 5.0, "top_k": 3, "top_p": 0.5, "min_p": 0.1,
                         "repetition_penalty": 3.0}


@dataclass(frozen=True)
class TinyLM:
    path: Path
    family: str


def _write_generation_config(path: Path, model_dir_config: dict[str, object]) -> None:
    config = json.loads((path / "config.json").read_text())
    tokens = {k: config[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id") if k in config}
    (path / "generation_config.json").write_text(json.dumps({**tokens, **model_dir_config}, indent=2))


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    with models.one_torch_thread():
        yield


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> TinyLM:
    """A 2-layer Llama trained to answer SINGERS and STADIUMS by heart, whose generation_config.json asks
    for hot sampling (which the HF backend must never inherit)."""
    pytest.importorskip("transformers")
    with models.one_torch_thread():  # session fixtures are set up before the module-scoped autouse one
        path = models.build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-llama"), "llama", TEXTS, seed=0)
        models.train_to_answer(path, [(SINGERS, SINGERS_ANSWER), (STADIUMS, STADIUMS_ANSWER)], steps=300)
    _write_generation_config(path, SAMPLING_HAPPY_CONFIG)
    return TinyLM(path, "llama")


@pytest.fixture(scope="session")
def tiny_qwen2(tmp_path_factory: pytest.TempPathFactory) -> TinyLM:
    """An untrained 2-layer Qwen2."""
    pytest.importorskip("transformers")
    with models.one_torch_thread():
        path = models.build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-qwen2"), "qwen2", TEXTS, seed=1)
    return TinyLM(path, "qwen2")
