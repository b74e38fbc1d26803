"""The Hugging Face transformers backend: a local causal LM (optionally with a PEFT adapter) behind the
:class:`~mscsql.generation.base.Generator` protocol.

Every generation setting is explicit: the model's own ``generation_config.json`` keeps only its special
token ids (its sampling defaults — ``do_sample``, ``temperature``, ``top_k``, ``min_p`` ... — are logged and
ignored), and each call builds a complete :class:`transformers.GenerationConfig` from
:class:`~mscsql.generation.base.SamplingParams`. Temperature and top-p are applied by processors that run
*after* a recorder of the model's raw log-probabilities, so ``Sample.logprob`` is the model's own
log-probability of the generated tokens (temperature-independent, as vLLM reports by default), computed one
step at a time rather than by keeping every step's logits.

torch and transformers are imported when a generator is built, never by ``import mscsql``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mscsql.errors import BackendUnavailable, ConfigError
from mscsql.generation.base import (
    ChatPrompt,
    Sample,
    SamplingParams,
    render_chat,
    resolve_torch_device,
)
from mscsql.generation.hub import WHERE_MODELS_COME_FROM, hub_offline, looks_like_path, one_line

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

DTYPES = ("auto", "float32", "bfloat16", "float16")
DTYPE_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16"}
#: the only entries of a model's generation_config that are kept: which tokens begin, end and pad
_KEPT_GENERATION_KEYS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id")
#: entries that change no output, not worth a log line when a generation_config sets them
_QUIET_GENERATION_KEYS = ("transformers_version", "use_cache", "output_attentions", "output_hidden_states",
                          "output_scores", "output_logits", "return_dict_in_generate")
def _source(name: str) -> str:
    """What to give ``from_pretrained``: the expanded local path when it exists, else the Hub id."""
    local = Path(name).expanduser()
    return str(local) if local.exists() else name


class HFGenerator:
    """A transformers causal LM generating from chat prompts, ``batch_size`` prompts per ``generate`` call.

    ``model`` is a local directory or a Hugging Face model id (found in the HF cache, or downloaded unless
    ``HF_HUB_OFFLINE`` is set); ``adapter`` an optional PEFT adapter directory or id. ``device`` is "auto"
    (CUDA when available, else CPU), "cpu", "cuda" or any torch device string; ``dtype`` one of
    :data:`DTYPES` ("auto" takes the checkpoint's own).
    """

    def __init__(self, model: str | Path, *, adapter: str | Path | None = None, device: str = "auto",
                 dtype: str = "auto", batch_size: int = 8, name: str | None = None,
                 trust_remote_code: bool = False, progress: bool = True) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, not {batch_size}")
        self.model_id = str(model)
        self.adapter = str(adapter) if adapter is not None else None
        self.batch_size = batch_size
        self.progress = progress
        self.name = name or f"hf:{Path(self.model_id).name if Path(self.model_id).exists() else self.model_id}"
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError as err:
            raise BackendUnavailable("the Hugging Face generator needs torch and transformers",
                                     hint="pip install 'mscsql[train]'") from err
        self.device = self._resolve_device(device)
        self.torch_dtype = self._resolve_dtype(dtype)
        self.tokenizer = self._load_tokenizer(trust_remote_code)
        self.model = self._load_model(trust_remote_code)
        self.eos_token_ids = self._eos_ids()

    # -- loading ---------------------------------------------------------------------------------------

    @staticmethod
    def _resolve_device(device: str) -> str:
        return resolve_torch_device(device, "auto")

    @staticmethod
    def _resolve_dtype(dtype: str) -> Any:
        import torch

        key = DTYPE_ALIASES.get(str(dtype).strip().lower(), str(dtype).strip().lower())
        if key not in DTYPES:
            raise ConfigError(f"unknown dtype {dtype!r}", hint=f"use one of {', '.join(DTYPES)}")
        return "auto" if key == "auto" else getattr(torch, key)

    def _missing(self, what: str, err: Exception) -> ConfigError:
        where = "in the Hugging Face cache (HF_HUB_OFFLINE is set, so nothing is downloaded)" if hub_offline() \
            else "on the Hugging Face Hub or in its cache"
        local = Path(self.model_id if what == "model" else (self.adapter or "")).expanduser()
        if local.exists():
            return ConfigError(f"cannot load {what} from {str(local)!r}: {err}",
                               hint="the directory should hold a model saved with save_pretrained")
        name = self.model_id if what == "model" else self.adapter
        cause = "" if hub_offline() else f" ({one_line(err)})"
        return ConfigError(f"{what} {name!r} was found neither as a local directory nor {where}{cause}",
                           hint=WHERE_MODELS_COME_FROM)

    def _hub_kwargs(self, trust_remote_code: bool) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
        if hub_offline():
            kwargs["local_files_only"] = True
        return kwargs

    def _check_path(self, name: str, what: str) -> None:
        """A name written as a path must exist (else transformers would read it as a Hub id)."""
        if looks_like_path(name) and not Path(name).expanduser().exists():
            raise ConfigError(f"{what} directory {name!r} does not exist", hint=WHERE_MODELS_COME_FROM)

    def _load_tokenizer(self, trust_remote_code: bool) -> Any:
        from huggingface_hub.errors import HFValidationError
        from transformers import AutoTokenizer

        self._check_path(self.model_id, "model")
        try:
            tokenizer = AutoTokenizer.from_pretrained(_source(self.model_id), **self._hub_kwargs(trust_remote_code))
        except (OSError, HFValidationError) as err:
            raise self._missing("model", err) from err
        if not getattr(tokenizer, "chat_template", None):
            raise ConfigError(f"the tokenizer of {self.model_id!r} has no chat template; mscsql sends chat prompts",
                              hint="use an instruction-tuned (chat) model, or save a chat_template.jinja next to "
                                   "its tokenizer (tokenizer.chat_template = ...; tokenizer.save_pretrained(dir))")
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return tokenizer

    def _load_model(self, trust_remote_code: bool) -> Any:
        from huggingface_hub.errors import HFValidationError
        from transformers import AutoModelForCausalLM, GenerationConfig

        try:
            model = AutoModelForCausalLM.from_pretrained(_source(self.model_id), dtype=self.torch_dtype,
                                                         device_map=self.device, **self._hub_kwargs(trust_remote_code))
        except (OSError, HFValidationError) as err:
            raise self._missing("model", err) from err
        original = model.generation_config
        kept = {k: getattr(original, k, None) for k in _KEPT_GENERATION_KEYS}
        defaults = getattr(GenerationConfig, "_get_default_generation_params", dict)()
        ignored = {k: v for k, v in original.to_diff_dict().items()
                   if k not in _KEPT_GENERATION_KEYS and k not in _QUIET_GENERATION_KEYS and not k.startswith("_")
                   and v is not None and defaults.get(k, None) != v}
        if ignored:
            log.info("%s: ignoring the generation defaults in its generation_config (%s); every setting is passed "
                     "explicitly", self.model_id, ", ".join(f"{k}={v!r}" for k, v in sorted(ignored.items())))
        model.generation_config = GenerationConfig(**{k: v for k, v in kept.items() if v is not None})
        if self.adapter is not None:
            model = self._load_adapter(model, trust_remote_code)
        model.eval()
        log.info("loaded %s on %s (%s)%s", self.model_id, self.device, model.dtype,
                 f" with adapter {self.adapter}" if self.adapter else "")
        return model

    def _load_adapter(self, model: Any, trust_remote_code: bool) -> Any:
        from huggingface_hub.errors import HFValidationError

        try:
            from peft import PeftModel
        except ImportError as err:
            raise BackendUnavailable("loading an adapter needs peft", hint="pip install 'mscsql[train]'") from err
        assert self.adapter is not None
        self._check_path(self.adapter, "adapter")
        kwargs = {"local_files_only": True} if hub_offline() else {}
        try:
            return PeftModel.from_pretrained(model, _source(self.adapter), **kwargs)
        except (OSError, HFValidationError, ValueError) as err:
            raise self._missing("adapter", err) from err

    def _eos_ids(self) -> list[int]:
        ids: list[int] = []
        configured = self.model.generation_config.eos_token_id
        for value in ([configured] if isinstance(configured, int) else list(configured or ())):
            ids.append(int(value))
        if self.tokenizer.eos_token_id is not None:
            ids.append(int(self.tokenizer.eos_token_id))
        if not ids:
            raise ConfigError(f"{self.model_id!r} defines no end-of-sequence token",
                              hint="set eos_token in its tokenizer or eos_token_id in its generation_config")
        return list(dict.fromkeys(ids))

    # -- generation ------------------------------------------------------------------------------------

    def render(self, prompt: ChatPrompt) -> str:
        """The prompt text the model sees: ``prompt`` through the tokenizer's chat template (see
        :func:`~mscsql.generation.base.render_chat`)."""
        return render_chat(self.tokenizer, prompt, what=repr(self.model_id))

    def close(self) -> None:
        """Free the model's memory (an ensemble loads its generators one after another)."""
        import gc

        import torch

        self.model = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def generate(self, prompts: Sequence[ChatPrompt], sampling: SamplingParams) -> list[list[Sample]]:
        sampling.check()
        if not prompts:
            return []
        import torch
        from tqdm.auto import tqdm
        from transformers import set_seed
        from transformers.generation.stopping_criteria import StopStringCriteria

        if sampling.seed is not None:
            set_seed(sampling.seed)
        encoded = [self.tokenizer(self.render(p), add_special_tokens=False)["input_ids"] for p in prompts]
        # longest first, so that a batch holds prompts of similar length; results go back in prompt order
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        results: list[list[Sample]] = [[] for _ in prompts]
        # the criterion generate() builds for `stop_strings`, made here so that we learn which row stopped when
        stops = [s for s in sampling.stop if s]
        stop = StopStringCriteria(self.tokenizer, stops) if stops else None
        with torch.inference_mode():
            for batch in tqdm(batches, desc=f"generating ({self.name})", unit="batch",
                              disable=not self.progress or len(batches) < 2):
                for index, samples in zip(batch, self._generate_batch([encoded[i] for i in batch], sampling, stop),
                                          strict=True):
                    results[index] = samples
        return results

    def _generation_config(self, sampling: SamplingParams) -> Any:
        from transformers import GenerationConfig

        settings: dict[str, Any] = dict(
            do_sample=not sampling.greedy, num_return_sequences=1 if sampling.greedy else sampling.n,
            max_new_tokens=sampling.max_tokens, min_new_tokens=0, num_beams=1, repetition_penalty=1.0,
            no_repeat_ngram_size=0, renormalize_logits=False,
            eos_token_id=self.eos_token_ids, pad_token_id=self.tokenizer.pad_token_id,
            bos_token_id=self.model.generation_config.bos_token_id,
            output_scores=False, output_logits=False, return_dict_in_generate=False, use_cache=True)
        if not sampling.greedy:
            # neutral here: temperature and top-p are applied by our own processors, after the log-prob recorder
            # (greedy decoding builds no sampling processor, so setting them there would only draw warnings)
            settings.update(temperature=1.0, top_p=1.0, top_k=0, typical_p=1.0, epsilon_cutoff=0.0, eta_cutoff=0.0)
        return GenerationConfig(**settings)

    def _generate_batch(self, batch: list[list[int]], sampling: SamplingParams, stop: Any) -> list[list[Sample]]:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList, TemperatureLogitsWarper, TopPLogitsWarper

        width = max(len(ids) for ids in batch)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in batch], device=self.device)
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch], device=self.device)
        rows = len(batch) if sampling.greedy else len(batch) * sampling.n

        recorder_cls, finisher_cls = _tracking_classes()
        state = _Tracking(rows=rows, prompt_width=width, eos_ids=self.eos_token_ids, stop=stop, device=self.device)
        processors: list[Any] = [recorder_cls(state)]
        if not sampling.greedy and sampling.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(sampling.temperature))
        if not sampling.greedy and sampling.top_p < 1.0:
            processors.append(TopPLogitsWarper(sampling.top_p))
        sequences = self.model.generate(
            input_ids=input_ids, attention_mask=attention, generation_config=self._generation_config(sampling),
            logits_processor=LogitsProcessorList(processors),
            stopping_criteria=StoppingCriteriaList([finisher_cls(state)]), tokenizer=self.tokenizer)
        generated = sequences[:, width:].tolist()
        cumulative = state.cumulative.tolist()
        ended = state.ended.tolist()

        samples: list[Sample] = []
        for row, tokens in enumerate(generated):
            end = ended[row] if ended[row] > 0 else len(tokens)
            finish = "stop" if ended[row] > 0 else "length"
            kept = tokens[:end]
            text_ids = kept[:-1] if kept and kept[-1] in self.eos_token_ids else kept
            text = self.tokenizer.decode(text_ids, skip_special_tokens=True)
            cut = _first_stop(text, sampling.stop)
            if cut is not None:
                text, finish = text[:cut], "stop"
            samples.append(Sample(text=text, num_tokens=len(kept), logprob=float(cumulative[row]),
                                  finish_reason=finish))
        if sampling.greedy:
            return [[s] * sampling.n for s in samples]
        return [samples[i * sampling.n:(i + 1) * sampling.n] for i in range(len(batch))]

    # -- scoring options ---------------------------------------------------------------------------------

    def option_token_ids(self, options: Sequence[str]) -> list[int]:
        """The token id of each option (see :func:`option_token_ids`), cached per option list."""
        cache: dict[tuple[str, ...], list[int]] = self.__dict__.setdefault("_option_ids", {})
        key = tuple(options)
        if key not in cache:
            cache[key] = option_token_ids(self.tokenizer, options, self.model_id)
        return cache[key]

    def option_logprobs(self, prompts: Sequence[ChatPrompt], options: Sequence[str]) -> list[list[float]]:
        """For each prompt, the log-probability of each option as the next token after the chat-templated
        prompt (generation prompt included): one forward pass per prompt, ``batch_size`` prompts at a time
        (left-padded, positions counted from each prompt's first token, as ``generate`` does), the logits of
        the last position through a float32 log-softmax over the whole vocabulary."""
        if not options:
            raise ConfigError("option_logprobs needs at least one option")
        token_ids = self.option_token_ids(options)
        if not prompts:
            return []
        import torch

        encoded = [self.tokenizer(self.render(p), add_special_tokens=False)["input_ids"] for p in prompts]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        results: list[list[float]] = [[] for _ in prompts]
        index = torch.tensor(token_ids, device=self.device)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch = order[start:start + self.batch_size]
                logprobs = self._last_logprobs([encoded[i] for i in batch])
                for row, values in zip(batch, logprobs.index_select(1, index).tolist(), strict=True):
                    results[row] = [float(v) for v in values]
        return results

    def _last_logprobs(self, batch: list[list[int]]) -> torch.Tensor:
        """Log-probabilities of the next token after each (left-padded) sequence of ``batch``."""
        import torch

        if any(not ids for ids in batch):
            raise ConfigError("a prompt rendered to no tokens at all")
        width = max(len(ids) for ids in batch)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in batch], device=self.device)
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch], device=self.device)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        output = self.model(input_ids=input_ids, attention_mask=attention, position_ids=positions, use_cache=False,
                            logits_to_keep=1)
        return torch.log_softmax(output.logits[:, -1, :].float(), dim=-1)

    def __repr__(self) -> str:
        return f"HFGenerator({self.model_id!r}, device={self.device!r}, batch_size={self.batch_size})"


def option_token_ids(tokenizer: Any, options: Sequence[str], model_id: str) -> list[int]:
    """The token id of each option: the option's own text when it is one token, else the option after a
    space (" A"). Raises ConfigError unless every option is one token and all of them differ."""
    ids: list[int] = []
    for option in options:
        found = None
        for variant in (option, " " + option):
            encoded = tokenizer(variant, add_special_tokens=False)["input_ids"]
            if option and len(encoded) == 1:
                found = int(encoded[0])
                break
        if found is None:
            raise ConfigError(f"option {option!r} is not a single token of {model_id!r}'s tokenizer "
                              "(neither alone nor after a space)",
                              hint="score options with short labels such as single letters")
        ids.append(found)
    if len(set(ids)) != len(ids):
        same = [o for o, i in zip(options, ids, strict=True) if ids.count(i) > 1]
        raise ConfigError(f"options {same!r} map to the same token of {model_id!r}'s tokenizer",
                          hint="give options that differ in their first token")
    return ids


def _first_stop(text: str, stops: Sequence[str]) -> int | None:
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(found) if found else None


class _Tracking:
    """Per-row state of one ``generate`` call: the summed log-probabilities of the chosen tokens (from the raw
    logits) and the number of tokens generated when the row ended (0 while it runs)."""

    def __init__(self, *, rows: int, prompt_width: int, eos_ids: Sequence[int], stop: Any, device: str) -> None:
        import torch

        self.prompt_width = prompt_width
        self.eos = torch.tensor(list(eos_ids), device=device)
        self.stop = stop
        self.cumulative = torch.zeros(rows, dtype=torch.float64, device=device)
        self.ended = torch.zeros(rows, dtype=torch.long, device=device)
        self.step_logprobs: torch.Tensor | None = None

    def record(self, scores: torch.Tensor) -> None:
        import torch

        self.step_logprobs = torch.log_softmax(scores.float(), dim=-1)

    def finish(self, input_ids: torch.Tensor, scores: Any) -> torch.Tensor:
        import torch

        token = input_ids[:, -1]
        active = self.ended == 0
        if self.step_logprobs is not None:
            chosen = self.step_logprobs.gather(1, token[:, None]).squeeze(1).double()
            self.cumulative += torch.where(active, chosen, torch.zeros_like(chosen))
            self.step_logprobs = None
        done = torch.isin(token, self.eos)
        if self.stop is not None:
            # only the generated text can end a sample: a stop string must not match across the prompt's end
            done = done | self.stop(input_ids[:, self.prompt_width:], scores).to(done.device)
        newly = active & done
        self.ended[newly] = input_ids.shape[1] - self.prompt_width
        return ~active | done


@functools.cache
def _tracking_classes() -> tuple[type, type]:
    """A logits processor and a stopping criterion sharing one :class:`_Tracking` (made lazily: they subclass
    transformers classes)."""
    from transformers import LogitsProcessor, StoppingCriteria

    class _Recorder(LogitsProcessor):
        def __init__(self, state: _Tracking) -> None:
            self.state = state

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            self.state.record(scores)
            return scores

    class _Finisher(StoppingCriteria):
        def __init__(self, state: _Tracking) -> None:
            self.state = state

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return self.state.finish(input_ids, scores)

    return _Recorder, _Finisher
