"""The Hugging Face backend on tiny real models built in the tests (no download, CPU)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from mscsql.errors import ConfigError
from mscsql.generation.base import Generator, SamplingParams
from tests.generation.conftest import SINGERS, SINGERS_ANSWER, STADIUMS, STADIUMS_ANSWER, TinyLM

LONG = [{"role": "system", "content": "You are a careful assistant who reads every word of a long question."},
        {"role": "user", "content": "Question: " + "which rows do we need for the quick brown fox? " * 6}]
SHORT = [{"role": "user", "content": "Hello"}]
GREEDY = SamplingParams(n=1, temperature=0.0, max_tokens=12)


@pytest.fixture(scope="module")
def generator(tiny_lm: TinyLM) -> Any:
    from mscsql.generation.hf import HFGenerator

    return HFGenerator(tiny_lm.path, device="cpu", dtype="float32", batch_size=4, progress=False)


@pytest.fixture(scope="module")
def reference(tiny_lm: TinyLM) -> tuple[Any, Any]:
    """The same model and tokenizer loaded directly, for computations done by hand."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_lm.path, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(tiny_lm.path)


def _prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _logprob_of(model: Any, prompt: list[int], continuation: list[int]) -> float:
    """The model's log-probability of ``continuation`` after ``prompt``, from one forward pass."""
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([prompt + continuation])).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return sum(float(logprobs[len(prompt) - 1 + i, tok]) for i, tok in enumerate(continuation))


def _argmax_decode(model: Any, prompt: list[int], steps: int, eos: int) -> list[int]:
    """Greedy decoding by hand: full forward passes, up to ``steps`` tokens or the end-of-sequence token."""
    import torch

    ids = list(prompt)
    with torch.no_grad():
        for _ in range(steps):
            ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
            if ids[-1] == eos:
                break
    return ids[len(prompt):]


def test_satisfies_the_generator_protocol(generator: Any) -> None:
    assert isinstance(generator, Generator)
    assert generator.name.startswith("hf:")


def test_shapes_are_prompts_by_n(generator: Any) -> None:
    out = generator.generate([SINGERS, SHORT, LONG], SamplingParams(n=3, temperature=1.0, max_tokens=6, seed=1))
    assert [len(samples) for samples in out] == [3, 3, 3]
    for samples in out:
        for sample in samples:
            assert isinstance(sample.text, str)
            assert 0 < sample.num_tokens <= 6
            assert sample.finish_reason in ("stop", "length")
    greedy = generator.generate([SINGERS, SHORT], SamplingParams(n=2, temperature=0.0, max_tokens=6))
    assert [len(s) for s in greedy] == [2, 2]
    assert greedy[0][0] == greedy[0][1]
    assert generator.generate([], GREEDY) == []


def test_trained_answers_come_back_in_prompt_order(generator: Any) -> None:
    out = generator.generate([STADIUMS, SINGERS, STADIUMS], SamplingParams(n=1, max_tokens=20))
    assert [s[0].text for s in out] == [STADIUMS_ANSWER, SINGERS_ANSWER, STADIUMS_ANSWER]
    assert all(s[0].finish_reason == "stop" for s in out)


def test_left_padding_batched_equals_alone(tiny_lm: TinyLM) -> None:
    from mscsql.generation.hf import HFGenerator

    prompts = [SHORT, LONG, SINGERS, STADIUMS, [{"role": "user", "content": "fox?"}]]
    batched = HFGenerator(tiny_lm.path, device="cpu", batch_size=5, progress=False).generate(prompts, GREEDY)
    in_pairs = HFGenerator(tiny_lm.path, device="cpu", batch_size=2, progress=False).generate(prompts, GREEDY)
    alone = HFGenerator(tiny_lm.path, device="cpu", batch_size=1, progress=False)
    for prompt, together, paired in zip(prompts, batched, in_pairs, strict=True):
        single = alone.generate([prompt], GREEDY)[0][0]
        assert together[0].text == single.text == paired[0].text
        assert together[0].num_tokens == single.num_tokens
        assert together[0].logprob == pytest.approx(single.logprob, abs=1e-4)


def test_greedy_is_deterministic_argmax_and_ignores_the_model_generation_config(
        generator: Any, reference: tuple[Any, Any], tiny_lm: TinyLM) -> None:
    model, tokenizer = reference
    # the saved generation_config asks for hot sampling; plain transformers would inherit it
    assert model.generation_config.do_sample is True
    assert model.generation_config.temperature == 5.0
    prompts = [SHORT, LONG]
    first = generator.generate(prompts, SamplingParams(n=1, temperature=0.0, max_tokens=5, seed=1))
    second = generator.generate(prompts, SamplingParams(n=1, temperature=0.0, max_tokens=5, seed=2))
    assert first == second
    for prompt, samples in zip(prompts, first, strict=True):
        by_hand = _argmax_decode(model, _prompt_ids(tokenizer, prompt), 5, tokenizer.eos_token_id)
        assert samples[0].text == tokenizer.decode(by_hand, skip_special_tokens=True)
        assert samples[0].num_tokens == len(by_hand)


def test_seeded_sampling_is_reproducible(generator: Any) -> None:
    hot = SamplingParams(n=4, temperature=1.5, top_p=0.98, max_tokens=10, seed=7)
    first = generator.generate([SHORT, LONG], hot)
    assert generator.generate([SHORT, LONG], hot) == first
    other = generator.generate([SHORT, LONG], SamplingParams(n=4, temperature=1.5, top_p=0.98, max_tokens=10,
                                                             seed=8))
    assert other != first
    assert len({s.text for s in first[0]}) > 1  # four different samples, not one repeated


def test_max_tokens_is_respected_with_finish_reason_length(generator: Any) -> None:
    [[sample]] = generator.generate([SINGERS], SamplingParams(n=1, max_tokens=3))
    assert sample.num_tokens == 3
    assert sample.finish_reason == "length"
    assert SINGERS_ANSWER.startswith(sample.text)
    [[full]] = generator.generate([SINGERS], SamplingParams(n=1, max_tokens=50))
    assert full.finish_reason == "stop"
    assert full.text == SINGERS_ANSWER
    assert full.num_tokens < 50


def test_stop_strings_end_the_sample_and_cut_the_text(generator: Any) -> None:
    [[sample]] = generator.generate([STADIUMS], SamplingParams(n=1, max_tokens=50, stop=(",",)))
    assert sample.text == "Tables: stadium"
    assert sample.finish_reason == "stop"
    [[unmet]] = generator.generate([STADIUMS], SamplingParams(n=1, max_tokens=50, stop=("zzz",)))
    assert unmet.text == STADIUMS_ANSWER


def test_logprob_equals_a_forward_pass_sum(generator: Any, reference: tuple[Any, Any]) -> None:
    model, tokenizer = reference
    # sampled at temperature 0.7: the recorded log-probability is still the model's own (raw logits)
    [samples] = generator.generate([SINGERS], SamplingParams(n=2, temperature=0.7, max_tokens=30, seed=3))
    answer_ids = tokenizer(SINGERS_ANSWER, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    expected = _logprob_of(model, _prompt_ids(tokenizer, SINGERS), answer_ids)
    for sample in samples:
        assert sample.text == SINGERS_ANSWER
        assert sample.num_tokens == len(answer_ids)
        assert sample.logprob is not None and math.isfinite(sample.logprob) and sample.logprob < 0
        assert sample.logprob == pytest.approx(expected, abs=1e-4)
    # an unfinished greedy sample: the sum over exactly its generated tokens
    [[short]] = generator.generate([LONG], SamplingParams(n=1, max_tokens=4))
    prompt = _prompt_ids(tokenizer, LONG)
    tokens = _argmax_decode(model, prompt, 4, tokenizer.eos_token_id)
    assert short.num_tokens == len(tokens)
    assert short.logprob == pytest.approx(_logprob_of(model, prompt, tokens), abs=1e-4)


def test_qwen2_family_loads_and_generates(tiny_qwen2: TinyLM) -> None:
    from mscsql.generation.hf import HFGenerator

    gen = HFGenerator(str(tiny_qwen2.path), device="auto", dtype="auto", progress=False)
    out = gen.generate([SHORT, LONG, SINGERS], SamplingParams(n=2, temperature=0.8, max_tokens=5, seed=0))
    assert [len(s) for s in out] == [2, 2, 2]
    assert all(s.num_tokens <= 5 and s.logprob is not None and s.logprob < 0 for row in out for s in row)


def test_missing_model_offline_is_a_config_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("transformers")
    from mscsql.generation.hf import HFGenerator

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    name = "mscsql-tests/no-such-model-anywhere"
    with pytest.raises(ConfigError) as info:
        HFGenerator(name, device="cpu")
    message = str(info.value)
    assert name in message
    assert "local directory" in message and "cache" in message and "server URL" in message
    with pytest.raises(ConfigError, match="does not exist"):
        HFGenerator("./no/such/model/dir", device="cpu")


def test_tokenizer_without_chat_template_is_a_config_error(tiny_qwen2: TinyLM, tmp_path: Path) -> None:
    from mscsql.generation.hf import HFGenerator

    bare = tmp_path / "bare"
    shutil.copytree(tiny_qwen2.path, bare)
    (bare / "chat_template.jinja").unlink()
    with pytest.raises(ConfigError, match="chat template") as info:
        HFGenerator(bare, device="cpu")
    assert info.value.hint


def test_bad_options_are_config_errors(tiny_qwen2: TinyLM) -> None:
    from mscsql.generation.hf import HFGenerator

    with pytest.raises(ConfigError, match="dtype"):
        HFGenerator(tiny_qwen2.path, dtype="float8")
    gen = HFGenerator(tiny_qwen2.path, device="cpu", progress=False)
    with pytest.raises(ConfigError):
        gen.generate([SHORT], SamplingParams(n=0))


def test_peft_adapter_is_applied(tiny_lm: TinyLM, reference: tuple[Any, Any], tmp_path: Path) -> None:
    pytest.importorskip("peft")
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    from mscsql.generation.hf import HFGenerator

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_lm.path, dtype=torch.float32)
    lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)  # random: not a no-op
    get_peft_model(base, lora).save_pretrained(tmp_path / "adapter")

    adapted = HFGenerator(tiny_lm.path, adapter=tmp_path / "adapter", device="cpu", progress=False)
    [[sample]] = adapted.generate([SINGERS], SamplingParams(n=1, max_tokens=4))
    _, tokenizer = reference
    by_hand = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_lm.path, dtype=torch.float32),
                                        tmp_path / "adapter").eval()
    prompt = _prompt_ids(tokenizer, SINGERS)
    tokens = _argmax_decode(by_hand, prompt, 4, tokenizer.eos_token_id)
    assert sample.text == tokenizer.decode(tokens, skip_special_tokens=True)
    assert sample.logprob == pytest.approx(_logprob_of(by_hand, prompt, tokens), abs=1e-4)
    plain = _logprob_of(reference[0], prompt, tokens)
    assert abs(sample.logprob - plain) > 1e-3  # the adapter changed the model

    with pytest.raises(ConfigError, match="adapter"):
        HFGenerator(tiny_lm.path, adapter=tmp_path / "no-such-adapter", device="cpu")


def test_a_template_without_system_role_still_renders_the_system_text(tiny_qwen2: TinyLM, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from mscsql.generation.hf import HFGenerator

    target = tmp_path / "no-system"
    shutil.copytree(tiny_qwen2.path, target)
    tokenizer = AutoTokenizer.from_pretrained(target)
    tokenizer.chat_template = ("{% for m in messages %}{% if m['role'] == 'system' %}"
                               "{{ raise_exception('System role not supported') }}{% endif %}"
                               "<{{ m['role'] }}>{{ m['content'] }}{% endfor %}<assistant>")
    tokenizer.save_pretrained(target)
    text = HFGenerator(target, device="cpu").render([{"role": "system", "content": "Be exact."},
                                                     {"role": "user", "content": "Q?"}])
    assert text == "<user>Be exact.\n\nQ?<assistant>"
