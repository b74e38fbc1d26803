"""Where a base model for training comes from (a local folder or a Hub id) and one clear error when it cannot
be loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mscsql.errors import ConfigError


def model_source(name: str) -> str:
    """What to give ``from_pretrained``: an existing local folder as an absolute path (the adapter records
    it as its base model), else the Hub id. A name written as a path must exist."""
    from mscsql.generation.hub import WHERE_MODELS_COME_FROM, looks_like_path

    local = Path(name).expanduser()
    if local.exists():
        return str(local.resolve())
    if looks_like_path(name):
        raise ConfigError(f"model directory {name!r} does not exist", hint=WHERE_MODELS_COME_FROM)
    return name


def load_error(name: str, err: Exception) -> ConfigError:
    from mscsql.generation.hub import WHERE_MODELS_COME_FROM, hub_offline, one_line

    local = Path(name).expanduser()
    if local.exists():
        return ConfigError(f"cannot load the model from {str(local)!r}: {one_line(err)}",
                           hint="the directory should hold a causal LM and its tokenizer saved with save_pretrained")
    where = ("in the Hugging Face cache (HF_HUB_OFFLINE is set, so nothing is downloaded)" if hub_offline()
             else "on the Hugging Face Hub or in its cache")
    cause = "" if hub_offline() else f" ({one_line(err)})"
    return ConfigError(f"model {name!r} was found neither as a local directory nor {where}{cause}",
                       hint=WHERE_MODELS_COME_FROM)


def hub_kwargs() -> dict[str, Any]:
    from mscsql.generation.hub import hub_offline

    return {"local_files_only": True} if hub_offline() else {}
