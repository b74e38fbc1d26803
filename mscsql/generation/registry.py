"""Generator backends by name ("module:Class" strings, imported only when a config uses them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mscsql.config import GeneratorConfig
from mscsql.errors import BackendUnavailable, ConfigError
from mscsql.generation.base import Generator, SamplingParams
from mscsql.registry import load_entry

BACKENDS = {
    "hf": "mscsql.generation.hf:HFGenerator",
    "vllm": "mscsql.generation.vllm:VLLMGenerator",
    "openai": "mscsql.generation.openai:OpenAIGenerator",
    "replay": "mscsql.generation.replay:ReplayGenerator",
}


def sampling_params(config: GeneratorConfig) -> SamplingParams:
    return SamplingParams(n=config.n, temperature=config.temperature, top_p=config.top_p,
                          max_tokens=config.max_tokens, seed=config.seed, stop=tuple(config.stop))


def build_generator(config: GeneratorConfig, *, predictions: Mapping[Any, str] | None = None) -> Generator:
    """The backend a generator config names, constructed with its model, adapter and options; a replay member
    with its source (``predictions``: its prediction file, read by a benchmark run, question key -> SQL)."""
    cls: Any = load_entry(BACKENDS, config.backend, "generator backend")
    options = dict(config.options)
    if config.backend == "replay":
        replay: Generator = cls.from_config(config, predictions)
        return replay
    if not config.model:
        raise ConfigError(f"generator {config.name!r} ({config.backend}) needs a model",
                          hint="set model: to a hub id or a local path (or the server's model name)")
    try:
        if config.backend == "openai":
            base_url = options.pop("base_url", None)
            if not base_url:
                raise ConfigError(f"generator {config.name!r} (openai) needs options.base_url",
                                  hint="e.g. http://127.0.0.1:8000/v1 for `vllm serve`")
            return cls(base_url, config.model, name=config.name, **options)
        if config.adapter:
            options["adapter"] = config.adapter
        return cls(config.model, name=config.name, **options)
    except TypeError as err:
        raise ConfigError(f"generator {config.name!r}: bad options for the {config.backend} backend: {err}") from None
    except BackendUnavailable as err:
        raise BackendUnavailable(
            f"generator {config.name!r} ({config.model}) cannot run: {err.message}",
            hint=f"{err.hint + '; ' if err.hint else ''}or point this generator at a local model folder "
                 "(backend: hf, model: /path/to/model) or at an OpenAI-compatible server (backend: openai, "
                 "options: {base_url: http://host:8000/v1})") from None
