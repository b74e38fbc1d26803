"""Merge a LoRA (or QLoRA) adapter into its base model: ``mscsql train merge --adapter A --output M``.

The result is a plain transformers model folder (weights, config and the adapter's tokenizer) that every
backend loads without peft, vLLM included. A QLoRA adapter is merged into the base model loaded in
``dtype`` (not in 4 bits), which is how QLoRA adapters are meant to be served.

torch, transformers and peft are imported inside the function.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

from mscsql.errors import BackendUnavailable, ConfigError
from mscsql.fileio import output_folder

log = logging.getLogger(__name__)

DTYPES = ("float32", "bfloat16", "float16")
ADAPTER_CONFIG = "adapter_config.json"


def _adapter_base(folder: Path) -> str:
    """The base model named in the adapter's ``adapter_config.json``; ConfigError when ``folder`` is no
    adapter."""
    path = folder / ADAPTER_CONFIG
    if not folder.is_dir():
        raise ConfigError(f"adapter folder {str(folder)!r} does not exist",
                          hint="give the adapter folder written by mscsql train (OUTPUT/adapter)")
    if not path.is_file():
        nested = folder / "adapter" / ADAPTER_CONFIG
        hint = (f"the adapter is in {str(nested.parent)!r}" if nested.is_file()
                else "give the adapter folder written by mscsql train (OUTPUT/adapter)")
        raise ConfigError(f"{str(folder)!r} is not an adapter folder (it has no {ADAPTER_CONFIG})", hint=hint)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"cannot read {str(path)!r}: {err}") from None
    base = config.get("base_model_name_or_path") if isinstance(config, dict) else None
    if not base:
        raise ConfigError(f"{str(path)!r} names no base model", hint="give it with --base")
    return str(base)


def merge_adapter(adapter: str | Path, output: str | Path, *, base: str | None = None,
                  dtype: str = "float32") -> Path:
    """Load the base model (``base``, else the one the adapter names) in ``dtype``, apply the adapter,
    merge it into the weights and save model and tokenizer to ``output``; returns ``output``."""
    missing = [m for m in ("torch", "transformers", "peft") if importlib.util.find_spec(m) is None]
    if missing:
        raise BackendUnavailable(f"merging an adapter needs {', '.join(missing)}", hint="pip install 'mscsql[train]'")
    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}", hint=f"use one of {', '.join(DTYPES)}")
    folder = Path(adapter).expanduser()
    base_name = base or _adapter_base(folder)
    target = Path(output).expanduser()
    if target.resolve() == folder.resolve():
        raise ConfigError("the merged model needs a folder of its own, not the adapter's")

    import torch
    from huggingface_hub.errors import HFValidationError
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mscsql.training.model_source import hub_kwargs, load_error, model_source

    source = model_source(base_name)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=getattr(torch, dtype), **hub_kwargs())
    except (OSError, HFValidationError, ValueError) as err:
        raise load_error(base_name, err) from err
    try:
        merged = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
    except (OSError, ValueError, RuntimeError) as err:
        raise ConfigError(f"cannot apply the adapter in {str(folder)!r} to {base_name!r}: {err}",
                          hint="give the base model the adapter was trained on with --base") from err
    # the adapter folder holds the tokenizer it was trained with (a pad token may have been added)
    tokenizer_from = str(folder) if (folder / "tokenizer_config.json").is_file() else source
    try:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_from, **hub_kwargs())
    except (OSError, HFValidationError, ValueError) as err:
        raise load_error(tokenizer_from, err) from err
    output_folder(target)
    merged.save_pretrained(target)
    tokenizer.save_pretrained(target)
    log.info("merged %s into %s (%s): %s", folder, base_name, dtype, target)
    return target
