"""What every model loader shares: telling a local path from a Hub id, whether the Hub may be reached, where
models come from, and a one-line form of a library's error for messages."""

from __future__ import annotations

import os

WHERE_MODELS_COME_FROM = ("give the path of a local directory holding config.json, the tokenizer and the weights; "
                          "or download the model into the Hugging Face cache while online "
                          "(`hf download <model id>`; HF_HOME chooses the cache); or serve the model and give "
                          "the generator a server URL instead")


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` forbids downloads."""
    return any(os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on")
               for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def one_line(value: object, limit: int = 200) -> str:
    """``value`` (an error, a response) as one line of at most ``limit`` characters."""
    text = " ".join(str(value).split()) or type(value).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def looks_like_path(name: str) -> bool:
    """Written as a filesystem path rather than a Hub id ("org/name")?"""
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1
