"""The vLLM backend: a local model (optionally with a LoRA adapter) served in-process by :class:`vllm.LLM`
behind the :class:`~mscsql.generation.base.Generator` protocol.

Every batch goes to vLLM in one ``LLM.chat`` call (the tokenizer's chat template renders the prompts; vLLM
schedules them all at once, and prefix caching shares the KV cache of common prompt prefixes such as a schema
block). Every sampling setting is explicit: a complete :class:`vllm.SamplingParams` is passed, so the sampling
defaults of the model's ``generation_config.json`` never apply; temperature 0 is greedy (one sequence per
prompt, repeated ``n`` times, as the transformers backend does); a seed makes sampling reproducible (vLLM gives
the ``i``-th of ``n`` samples the seed ``seed + i``). ``Sample.logprob`` is vLLM's cumulative log-probability of
the generated tokens, which recent vLLM computes from the model's raw logits (temperature-independent, like the
transformers backend's).

Models are found by the same rules as the transformers backend: a local directory, or a Hugging Face id in the
HF cache (downloaded unless ``HF_HUB_OFFLINE`` is set). vllm is imported when a generator is built, never by
``import mscsql``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mscsql.errors import BackendUnavailable, ConfigError, GenerationError
from mscsql.generation.base import ChatPrompt, Sample, SamplingParams, has_system, merge_system
from mscsql.generation.hf import DTYPE_ALIASES, DTYPES
from mscsql.generation.hub import WHERE_MODELS_COME_FROM, hub_offline, looks_like_path, one_line

log = logging.getLogger(__name__)

#: the LoRA ranks vLLM accepts for ``max_lora_rank``; an adapter's rank is rounded up to the next one
LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
_INSTALL_HINT = "pip install 'mscsql[vllm]'"


class VLLMGenerator:
    """A vLLM engine generating from chat prompts, all prompts of a ``generate`` call in one batch.

    ``model`` is a local directory or a Hugging Face model id; ``adapter`` an optional PEFT LoRA adapter
    directory or id (loaded through a ``LoRARequest``; ``max_lora_rank`` comes from its
    ``adapter_config.json``). ``dtype`` is one of :data:`~mscsql.generation.hf.DTYPES`; ``max_model_len``
    bounds prompt plus generation (default: the model's own); ``gpu_memory_utilization`` is the share of GPU
    memory vLLM may take; ``seed`` seeds the engine. ``engine_args`` go to :class:`vllm.LLM` as they are
    (e.g. ``{"enforce_eager": True, "max_num_seqs": 64}``) and override the settings above.
    """

    def __init__(self, model: str | Path, *, adapter: str | Path | None = None, tensor_parallel_size: int = 1,
                 dtype: str = "auto", max_model_len: int | None = None, gpu_memory_utilization: float = 0.9,
                 seed: int = 0, name: str | None = None, trust_remote_code: bool = False, progress: bool = True,
                 engine_args: Mapping[str, Any] | None = None) -> None:
        if tensor_parallel_size < 1:
            raise ConfigError(f"tensor_parallel_size must be at least 1, not {tensor_parallel_size}")
        if not 0.0 < gpu_memory_utilization <= 1.0:
            raise ConfigError(f"gpu_memory_utilization must be in (0, 1], not {gpu_memory_utilization}")
        if max_model_len is not None and max_model_len < 1:
            raise ConfigError(f"max_model_len must be at least 1, not {max_model_len}")
        dtype_key = DTYPE_ALIASES.get(str(dtype).strip().lower(), str(dtype).strip().lower())
        if dtype_key not in DTYPES:
            raise ConfigError(f"unknown dtype {dtype!r}", hint=f"use one of {', '.join(DTYPES)}")
        self.model_id = str(model)
        self.adapter = str(adapter) if adapter is not None else None
        self.progress = progress
        local = Path(self.model_id).expanduser()
        self.name = name or f"vllm:{local.name if local.exists() else self.model_id}"
        try:
            import vllm
            from vllm.lora.request import LoRARequest
        except ImportError as err:
            raise BackendUnavailable("the vLLM generator needs vllm", hint=_INSTALL_HINT) from err
        except Exception as err:  # a broken install (CUDA libraries, ABI) fails at import with other errors
            raise BackendUnavailable(f"vllm is installed but cannot be imported: {one_line(err)}",
                                     hint=f"reinstall it for this machine's CUDA and torch ({_INSTALL_HINT})") \
                from err
        self._vllm = vllm

        source = self._resolve_model()
        _check_local_chat_template(source)
        kwargs: dict[str, Any] = dict(
            model=source, tokenizer=source, tensor_parallel_size=tensor_parallel_size, dtype=dtype_key,
            gpu_memory_utilization=gpu_memory_utilization, seed=seed, trust_remote_code=trust_remote_code,
            enable_prefix_caching=True)
        if max_model_len is not None:
            kwargs["max_model_len"] = max_model_len
        self.lora_request: Any = None
        if self.adapter is not None:
            adapter_dir = self._resolve_adapter()
            rank = lora_rank(adapter_dir)
            kwargs.update(enable_lora=True, max_loras=1, max_lora_rank=rank)
            self.lora_request = LoRARequest(lora_name=Path(adapter_dir).name or "adapter", lora_int_id=1,
                                            lora_path=str(adapter_dir))
        kwargs.update(engine_args or {})
        self.llm = self._start_engine(kwargs)
        self._check_chat_template()
        log.info("started vLLM for %s (tp=%d, dtype=%s)%s", self.model_id, tensor_parallel_size, dtype_key,
                 f" with adapter {self.adapter}" if self.adapter else "")

    # -- loading ---------------------------------------------------------------------------------------

    def _missing(self, what: str, name: str, err: Exception) -> ConfigError:
        where = "in the Hugging Face cache (HF_HUB_OFFLINE is set, so nothing is downloaded)" if hub_offline() \
            else "on the Hugging Face Hub or in its cache"
        cause = "" if hub_offline() else f" ({one_line(err)})"
        return ConfigError(f"{what} {name!r} was found neither as a local directory nor {where}{cause}",
                           hint=WHERE_MODELS_COME_FROM)

    def _resolve_model(self) -> str:
        """A local directory (expanded), or a Hub id whose config.json is reachable — checked here, before vLLM
        starts an engine, so that a wrong name is one clear error rather than an engine-startup traceback."""
        local = Path(self.model_id).expanduser()
        if local.exists():
            if not (local / "config.json").is_file():
                raise ConfigError(f"cannot load model from {str(local)!r}: it holds no config.json",
                                  hint="the directory should hold a model saved with save_pretrained")
            return str(local)
        if looks_like_path(self.model_id):
            raise ConfigError(f"model directory {self.model_id!r} does not exist", hint=WHERE_MODELS_COME_FROM)
        from huggingface_hub import hf_hub_download

        try:
            hf_hub_download(self.model_id, "config.json", local_files_only=hub_offline())
        except Exception as err:  # not found, gated, offline, invalid id, no network: all mean "cannot load"
            raise self._missing("model", self.model_id, err) from err
        return self.model_id

    def _resolve_adapter(self) -> str:
        """The adapter's local directory (a Hub id is downloaded into, or found in, the HF cache)."""
        assert self.adapter is not None
        local = Path(self.adapter).expanduser()
        if local.exists():
            return str(local)
        if looks_like_path(self.adapter):
            raise ConfigError(f"adapter directory {self.adapter!r} does not exist", hint=WHERE_MODELS_COME_FROM)
        from huggingface_hub import snapshot_download

        try:
            return str(snapshot_download(self.adapter, local_files_only=hub_offline()))
        except Exception as err:  # as in _resolve_model
            raise self._missing("adapter", self.adapter, err) from err

    def _start_engine(self, kwargs: dict[str, Any]) -> Any:
        try:
            return self._vllm.LLM(**kwargs)
        except (ValueError, TypeError) as err:  # vLLM's validation of the engine arguments
            raise ConfigError(f"vLLM refused the settings for {self.model_id!r}: {one_line(err, 400)}",
                              hint="check max_model_len, dtype, tensor_parallel_size and engine_args") from err
        except RuntimeError as err:  # no GPU, out of memory, engine core failed to start
            raise GenerationError(f"vLLM could not start an engine for {self.model_id!r}: {one_line(err, 400)}",
                                  hint="see vLLM's log above; lower gpu_memory_utilization or max_model_len, or "
                                       "free the GPU") from err

    def _check_chat_template(self) -> None:
        tokenizer = self.llm.get_tokenizer()
        if hasattr(tokenizer, "chat_template") and not tokenizer.chat_template:
            raise ConfigError(f"the tokenizer of {self.model_id!r} has no chat template; mscsql sends chat prompts",
                              hint="use an instruction-tuned (chat) model, or save a chat_template.jinja next to "
                                   "its tokenizer (tokenizer.chat_template = ...; tokenizer.save_pretrained(dir))")

    # -- generation ------------------------------------------------------------------------------------

    def _accepts_system(self) -> bool:
        """Whether the chat template takes a system message (Gemma's refuses one)."""
        try:
            self.llm.get_tokenizer().apply_chat_template(
                [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], add_generation_prompt=True,
                tokenize=False)
        except Exception:  # the template raised: no system role
            return False
        return True

    def close(self) -> None:
        """Free the engine's GPU memory (an ensemble loads its generators one after another)."""
        import gc

        self.llm = None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

    def option_logprobs(self, prompts: Sequence[ChatPrompt], options: Sequence[str], *,
                        top_logprobs: int = 20) -> list[list[float]]:
        """For each prompt, the log-probability of each option as the next token (the critic's scoring):
        one generated token per prompt, all prompts in one ``chat`` call, the options read from the
        ``top_logprobs`` most likely tokens (vLLM reports the model's own log-probabilities); an option
        outside them gets ``-inf``."""
        from mscsql.generation.hf import option_token_ids

        if not options:
            raise ConfigError("option_logprobs needs at least one option")
        if not prompts:
            return []
        import vllm

        ids = option_token_ids(self.llm.get_tokenizer(), options, self.model_id)
        conversations = [[{"role": str(m["role"]), "content": str(m["content"])} for m in p] for p in prompts]
        if any(has_system(c) for c in conversations) and not self._accepts_system():
            conversations = [merge_system(c) for c in conversations]
        params = vllm.SamplingParams(n=1, temperature=0.0, max_tokens=1, logprobs=max(top_logprobs, 1))
        outputs = self.llm.chat(conversations, params, use_tqdm=False, lora_request=self.lora_request)
        results = []
        for output in outputs:
            step = (output.outputs[0].logprobs or [{}])[0]
            results.append([float(step[i].logprob) if i in step else float("-inf") for i in ids])
        return results

    def sampling_params(self, sampling: SamplingParams) -> Any:
        """The :class:`vllm.SamplingParams` for ``sampling`` (greedy: one sequence, temperature 0)."""
        # logprobs=1 rather than 0: every vLLM version then fills cumulative_logprob (some leave it None for 0)
        settings: dict[str, Any] = dict(
            n=1 if sampling.greedy else sampling.n, max_tokens=sampling.max_tokens, min_tokens=0,
            stop=[s for s in sampling.stop if s] or None, logprobs=1,
            presence_penalty=0.0, frequency_penalty=0.0, repetition_penalty=1.0, top_k=-1, min_p=0.0)
        if sampling.greedy:
            settings.update(temperature=0.0, top_p=1.0)
        else:
            settings.update(temperature=float(sampling.temperature), top_p=float(sampling.top_p),
                            seed=sampling.seed)
        return self._vllm.SamplingParams(**settings)

    def generate(self, prompts: Sequence[ChatPrompt], sampling: SamplingParams) -> list[list[Sample]]:
        sampling.check()
        if not prompts:
            return []
        from jinja2.exceptions import TemplateError

        conversations = [[{"role": str(m["role"]), "content": str(m["content"])} for m in p] for p in prompts]
        if any(has_system(c) for c in conversations) and not self._accepts_system():
            conversations = [merge_system(c) for c in conversations]
        params = self.sampling_params(sampling)
        try:
            outputs = self.llm.chat(conversations, params, use_tqdm=self.progress, lora_request=self.lora_request)
        except TemplateError as err:  # raised by the template itself (e.g. "no system role")
            raise ConfigError(f"the chat template of {self.model_id!r} rejected a prompt: {err}",
                              hint="some templates accept no system message or need alternating roles") from err
        except ValueError as err:  # vLLM's checks of the requests (e.g. a prompt longer than max_model_len)
            raise GenerationError(f"vLLM refused the batch for {self.model_id!r}: {one_line(err, 400)}",
                                  hint="raise max_model_len or shorten the prompts") from err
        if len(outputs) != len(prompts):
            raise GenerationError(f"vLLM returned {len(outputs)} results for {len(prompts)} prompts")
        results: list[list[Sample]] = []
        for output in outputs:
            completions = sorted(output.outputs, key=lambda c: c.index)
            samples = [_sample(c) for c in completions]
            if sampling.greedy:
                samples = [samples[0]] * sampling.n if samples else []
            if len(samples) != sampling.n:
                raise GenerationError(f"vLLM returned {len(samples)} samples for a request of n={sampling.n}")
            results.append(samples)
        return results

    def __repr__(self) -> str:
        adapter = f", adapter={self.adapter!r}" if self.adapter else ""
        return f"VLLMGenerator({self.model_id!r}{adapter})"


def lora_rank(adapter_dir: str | Path) -> int:
    """The ``max_lora_rank`` to start vLLM with for the PEFT LoRA adapter in ``adapter_dir``: the adapter's
    rank ``r`` from its ``adapter_config.json``, rounded up to a rank vLLM accepts (:data:`LORA_RANKS`)."""
    path = Path(adapter_dir) / "adapter_config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"adapter {str(adapter_dir)!r} has no adapter_config.json",
                          hint="give a directory saved by peft (model.save_pretrained) holding a LoRA adapter") \
            from err
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot read {str(path)!r}: {one_line(err)}") from err
    if not isinstance(config, dict):
        raise ConfigError(f"{str(path)!r} does not hold a JSON object")
    peft_type = str(config.get("peft_type", "LORA")).upper()
    if peft_type != "LORA":
        raise ConfigError(f"adapter {str(adapter_dir)!r} is a {peft_type} adapter; vLLM serves LoRA adapters only")
    rank = config.get("r")
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ConfigError(f"{str(path)!r} gives no valid LoRA rank r (found {rank!r})")
    ranks = dict(config.get("rank_pattern") or {})
    highest = max([rank, *(int(r) for r in ranks.values() if isinstance(r, int))])
    for allowed in LORA_RANKS:
        if highest <= allowed:
            return allowed
    raise ConfigError(f"adapter {str(adapter_dir)!r} has rank {highest}; vLLM serves LoRA ranks up to "
                      f"{LORA_RANKS[-1]}")


def _check_local_chat_template(source: str) -> None:
    """A local model directory must come with a chat template (checked before an engine is started; for a Hub id
    the tokenizer is checked once the engine has loaded it)."""
    local = Path(source)
    if not local.is_dir():
        return
    if (local / "chat_template.jinja").is_file() or (local / "chat_template.json").is_file():
        return
    try:
        config = json.loads((local / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # no readable tokenizer_config.json: leave the judgement to vLLM's tokenizer
    if isinstance(config, dict) and not config.get("chat_template"):
        raise ConfigError(f"the tokenizer in {source!r} has no chat template; mscsql sends chat prompts",
                          hint="use an instruction-tuned (chat) model, or save a chat_template.jinja next to its "
                               "tokenizer (tokenizer.chat_template = ...; tokenizer.save_pretrained(dir))")


def _sample(completion: Any) -> Sample:
    token_ids = list(completion.token_ids or ())
    logprob = completion.cumulative_logprob
    if logprob is None:
        logprob = _summed_logprobs(token_ids, completion.logprobs)
    return Sample(text=completion.text or "", num_tokens=len(token_ids),
                  logprob=float(logprob) if logprob is not None else None,
                  finish_reason=completion.finish_reason)


def _summed_logprobs(token_ids: list[int], logprobs: Any) -> float | None:
    """The sum of the sampled tokens' log-probabilities from per-position ``{token id: Logprob}`` entries."""
    if not logprobs or not token_ids:
        return None
    try:
        return float(sum(step[token].logprob for token, step in zip(token_ids, logprobs, strict=False)))
    except (KeyError, TypeError, AttributeError, IndexError):
        return None
