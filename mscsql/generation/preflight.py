"""Before anything heavy loads, check that every configured generator can run.

A pipeline loads a sentence encoder, indexes values and links the schema before it calls a generator; a
generator that cannot run would otherwise fail only after all that. These checks import no backend: they ask
whether a package is installed (``importlib.util.find_spec``), whether a local model folder or a cached hub
model is there, and whether a server answers, and report every generator that cannot run at once, with the
shipped configs for a machine without a GPU.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mscsql.config import GeneratorConfig
from mscsql.errors import BackendUnavailable

#: seconds a server (or the model hub) gets to answer the reachability check
PROBE_TIMEOUT_S = 3.0
WITHOUT_A_GPU = ("on a machine without a GPU, use --config cpu (small models through transformers on the CPU) "
                 "or --config local-server (an Ollama or llama.cpp server: set MSCSQL_LOCAL_URL and "
                 "MSCSQL_LOCAL_MODEL)")
_BACKEND_PACKAGES = {"vllm": (("vllm", "vllm"),), "hf": (("torch", "train"), ("transformers", "train"))}


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _hf_cache() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(home).expanduser() / "hub"


def _cached(repo_id: str) -> bool:
    """Whether a hub model has a snapshot with a config in the local Hugging Face cache."""
    folder = _hf_cache() / ("models--" + repo_id.replace("/", "--")) / "snapshots"
    return folder.is_dir() and any((snapshot / "config.json").is_file() for snapshot in folder.iterdir())


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _answers(url: str) -> bool:
    """Whether anything answers HTTP at ``url`` (any status counts: the server is there)."""
    import httpx

    try:
        httpx.get(url, timeout=PROBE_TIMEOUT_S, follow_redirects=False)
    except httpx.HTTPError:
        return False
    return True


def _model_problem(model: str) -> str | None:
    path = Path(model).expanduser()
    if path.exists():
        return None if (path / "config.json").is_file() else f"{path} is not a model folder (no config.json)"
    if model.startswith(("/", ".", "~")) or model.count("/") > 1:
        return f"the model folder {path} does not exist"
    if _cached(model):
        return None
    if _offline():
        return f"{model} is not in the local Hugging Face cache ({_hf_cache()}) and HF_HUB_OFFLINE forbids downloads"
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    if not _answers(endpoint):
        return f"{model} is not in the local Hugging Face cache and {endpoint} cannot be reached to download it"
    return None


def generator_problem(config: GeneratorConfig) -> str | None:
    """Why the generator ``config`` cannot run here, or None when nothing stops it (as far as can be told
    without loading it)."""
    if config.backend == "replay":
        sources = [config.options[k] for k in ("predictions", "samples") if config.options.get(k)]
        if not sources:
            return "a replay generator needs options.predictions (a prediction file) or options.samples"
        missing = [str(s) for s in sources if not Path(str(s)).expanduser().is_file()]
        return f"{', '.join(missing)} does not exist" if missing else None
    for module, extra in _BACKEND_PACKAGES.get(config.backend, ()):
        if not _installed(module):
            need = " and a CUDA GPU" if config.backend == "vllm" else ""
            return f"the {config.backend} backend needs {module}{need} (pip install 'mscsql[{extra}]')"
    if not config.model:
        return "no model is set"
    if config.backend == "openai":
        base_url = str(config.options.get("base_url") or "")
        if not base_url:
            return "the openai backend needs options.base_url (e.g. http://127.0.0.1:8000/v1)"
        if not _answers(base_url.rstrip("/") + "/models"):
            return f"no server answers at {base_url}"
        return None
    problem = _model_problem(config.model)
    if problem is None and config.adapter:
        adapter = Path(config.adapter).expanduser()
        if config.adapter.startswith(("/", ".", "~")) and not adapter.is_dir():
            problem = f"the adapter folder {adapter} does not exist"
    return problem


def require_runnable(generators: Sequence[GeneratorConfig]) -> None:
    """Raise :class:`BackendUnavailable` naming every generator that cannot run (nothing heavy is imported)."""
    problems = [(g, p) for g in generators if (p := generator_problem(g)) is not None]
    if not problems:
        return
    lines = "".join(f"\n  - {g.name} ({g.backend}, {g.model or 'no model'}): {p}" for g, p in problems)
    raise BackendUnavailable(f"{len(problems)} of {len(generators)} generators cannot run:{lines}",
                             hint=_hint({_kind(g, p) for g, p in problems}))


#: what to do when only servers (openai backend) or only local models (hf backend) cannot run: the other way in
REPLAY_HINT = ("options.samples names the samples.jsonl an earlier run wrote (mscsql eval run and mscsql generate "
               "keep one in their output folder; TextToSQL(..., trace_dir=DIR) keeps DIR/samples.jsonl), "
               "options.predictions a benchmark's prediction file")
SERVER_HINT = ("start the server the config names (Ollama: `ollama serve` and `ollama pull MODEL`; or set "
               "MSCSQL_LOCAL_URL and MSCSQL_LOCAL_MODEL to one that runs), or use --config cpu (small models "
               "through transformers on the CPU)")
LOCAL_MODEL_HINT = ("download the models once where the hub can be reached (`huggingface-cli download MODEL`) or "
                    "point HF_HOME at a cache that has them, or use --config local-server (an Ollama or llama.cpp "
                    "server: set MSCSQL_LOCAL_URL and MSCSQL_LOCAL_MODEL)")


def _kind(generator: GeneratorConfig, problem: str) -> str:
    """``server`` (a server that does not answer), ``hub`` (a hub model not downloaded), else ``other``."""
    if generator.backend == "openai" and problem.startswith("no server answers"):
        return "server"
    if generator.backend == "hf" and "Hugging Face cache" in problem:
        return "hub"
    if generator.backend == "replay":
        return "replay"
    return "other"


def _hint(kinds: set[str]) -> str:
    """A hint that does not send the user back to the kind of generator that just failed."""
    if kinds == {"server"}:
        return SERVER_HINT
    if kinds == {"hub"}:
        return LOCAL_MODEL_HINT
    if kinds == {"replay"}:
        return REPLAY_HINT
    return WITHOUT_A_GPU


def configured_models(config: Any) -> list[GeneratorConfig]:
    """Every model a pipeline or generation config names: its generators, the llm-tables linker's model and
    the LLM critic's models (what :func:`require_runnable` checks before anything loads)."""
    models = list(config.generators)
    linking = getattr(config, "linking", None)
    if linking is not None and linking.llm_tables is not None and "llm-tables" in linking.linkers:
        models.append(linking.llm_tables.model)
    selection = getattr(config, "selection", None)
    if selection is not None and selection.selector == "critic" and selection.critic is not None:
        models += list(selection.critic.models)
    return models
