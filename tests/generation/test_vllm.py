"""The vLLM backend on a tiny real model built in the tests (no download). Runs only where vllm is installed and
a CUDA GPU is visible; elsewhere the whole module is skipped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("vllm", reason="vllm is not installed (pip install 'mscsql[vllm]'); the vLLM backend is untested")

from mscsql.errors import ConfigError
from mscsql.generation.base import Generator, SamplingParams
from tests import models
from tests.generation.conftest import SINGERS, SINGERS_ANSWER, STADIUMS, STADIUMS_ANSWER, TEXTS

SHORT = [{"role": "user", "content": "Hello"}]
GREEDY = SamplingParams(n=1, temperature=0.0, max_tokens=24)
#: small engines: two of them (base and adapter) share the GPU with whatever else runs
ENGINE = dict(dtype="float16", max_model_len=256, gpu_memory_utilization=0.25, progress=False,
              engine_args={"enforce_eager": True})


def _needs_gpu() -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("vllm is installed but no CUDA device is visible")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama (head size 64, which every vLLM attention backend supports) trained to answer SINGERS and
    STADIUMS by heart."""
    _needs_gpu()
    with models.one_torch_thread():
        path = models.build_tiny_causal_lm(tmp_path_factory.mktemp("vllm-llama"), "llama", TEXTS, seed=0,
                                           hidden_size=256)
        models.train_to_answer(path, [(SINGERS, SINGERS_ANSWER), (STADIUMS, STADIUMS_ANSWER)], steps=300)
    return path


@pytest.fixture(scope="module")
def generator(model_dir: Path) -> Iterator[Any]:
    from mscsql.generation.vllm import VLLMGenerator

    gen = VLLMGenerator(model_dir, seed=0, **ENGINE)
    yield gen
    del gen.llm


@pytest.fixture(scope="module")
def adapter_dir(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rank-4 LoRA adapter on q_proj and v_proj with random (non-zero) weights."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    path = tmp_path_factory.mktemp("vllm-lora")
    base = AutoModelForCausalLM.from_pretrained(model_dir)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                 init_lora_weights=False))
    peft_model.save_pretrained(path)
    return path


def test_satisfies_the_generator_protocol(generator: Any) -> None:
    assert isinstance(generator, Generator)
    assert generator.name == "vllm:" + Path(generator.model_id).name


def test_shapes_are_prompts_by_n(generator: Any) -> None:
    out = generator.generate([SINGERS, SHORT, STADIUMS], SamplingParams(n=3, temperature=1.0, max_tokens=6, seed=1))
    assert [len(samples) for samples in out] == [3, 3, 3]
    for samples in out:
        for sample in samples:
            assert isinstance(sample.text, str)
            assert 0 < sample.num_tokens <= 6
            assert sample.finish_reason in ("stop", "length")
            assert sample.logprob is not None and sample.logprob <= 0.0
    assert generator.generate([], GREEDY) == []


def test_greedy_answers_by_heart_and_is_deterministic(generator: Any) -> None:
    first = generator.generate([SINGERS, STADIUMS], SamplingParams(n=2, temperature=0.0, max_tokens=24))
    assert [[s.text for s in samples] for samples in first] == [[SINGERS_ANSWER] * 2, [STADIUMS_ANSWER] * 2]
    assert all(s.finish_reason == "stop" for samples in first for s in samples)
    second = generator.generate([STADIUMS, SINGERS], SamplingParams(n=2, temperature=0.0, max_tokens=24))
    assert second[0] == first[1] and second[1] == first[0]  # same samples, in the new prompt order


def test_greedy_agrees_with_the_transformers_backend(generator: Any, model_dir: Path) -> None:
    from mscsql.generation.hf import HFGenerator

    hf = HFGenerator(model_dir, device="cpu", dtype="float32", progress=False)
    reference = hf.generate([SINGERS, STADIUMS, SHORT], GREEDY)
    ours = generator.generate([SINGERS, STADIUMS, SHORT], GREEDY)
    for (expected,), (got,) in zip(reference[:2], ours[:2], strict=True):
        assert got.text == expected.text
        assert got.num_tokens == expected.num_tokens
        assert got.logprob == pytest.approx(expected.logprob, abs=0.05 + 0.01 * expected.num_tokens)
    assert ours[2][0].num_tokens >= 1  # an untrained prompt: only its shape is predictable across dtypes


def test_seeded_sampling_is_reproducible(generator: Any) -> None:
    hot = SamplingParams(n=4, temperature=2.0, max_tokens=8, seed=7)
    first = generator.generate([SHORT], hot)
    again = generator.generate([SHORT], hot)
    other = generator.generate([SHORT], SamplingParams(n=4, temperature=2.0, max_tokens=8, seed=8))
    assert [s.text for s in first[0]] == [s.text for s in again[0]]
    assert len({s.text for s in first[0]}) > 1  # the n samples of one request differ
    assert [s.text for s in other[0]] != [s.text for s in first[0]]


def test_stop_strings_and_max_tokens(generator: Any) -> None:
    [[stopped]] = generator.generate([SINGERS], SamplingParams(max_tokens=24, stop=("concert",)))
    assert stopped.text == SINGERS_ANSWER[: SINGERS_ANSWER.index("concert")]
    assert stopped.finish_reason == "stop"
    [[cut]] = generator.generate([STADIUMS], SamplingParams(max_tokens=2))
    assert cut.finish_reason == "length"
    assert cut.num_tokens == 2


def test_adapter_is_served_through_a_lora_request(model_dir: Path, adapter_dir: Path) -> None:
    from mscsql.generation.vllm import VLLMGenerator, lora_rank

    assert lora_rank(adapter_dir) == 8  # r=4, rounded up to the smallest rank vLLM accepts
    gen = VLLMGenerator(model_dir, adapter=adapter_dir, **ENGINE)
    try:
        assert gen.lora_request is not None
        out = gen.generate([SINGERS, SHORT], SamplingParams(n=2, temperature=1.0, max_tokens=6, seed=0))
        assert [len(samples) for samples in out] == [2, 2]
    finally:
        del gen.llm


def test_missing_models_are_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mscsql.generation.vllm import VLLMGenerator

    with pytest.raises(ConfigError, match="does not exist"):
        VLLMGenerator(tmp_path / "no" / "such" / "model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="HF_HUB_OFFLINE"):
        VLLMGenerator("mscsql-tests/no-such-model")


def test_adapter_config_is_checked(tmp_path: Path) -> None:
    from mscsql.generation.vllm import lora_rank

    with pytest.raises(ConfigError, match=r"adapter_config\.json"):
        lora_rank(tmp_path)
    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 48}))
    assert lora_rank(tmp_path) == 64
    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "PREFIX_TUNING"}))
    with pytest.raises(ConfigError, match="LoRA"):
        lora_rank(tmp_path)


def test_option_logprobs_agree_with_the_transformers_backend(generator: Any, model_dir: Path) -> None:
    from mscsql.generation.hf import HFGenerator

    prompts = [SINGERS, STADIUMS]
    options = ["a", "s"]  # single characters of the tiny tokenizer's alphabet
    reference = HFGenerator(model_dir, device="cpu", dtype="float32").option_logprobs(prompts, options)
    scored = generator.option_logprobs(prompts, options, top_logprobs=20)
    for ours, theirs in zip(scored, reference, strict=True):
        for a, b in zip(ours, theirs, strict=True):
            assert a == float("-inf") or abs(a - b) < 5e-2
