"""Tiny random-init causal LMs built offline, to smoke-test training, merging and generation without
downloading a model: a byte-level BPE tokenizer trained on a few texts (every byte stays encodable, so any
prompt can be tokenised) with a plain chat template, and a 2-layer Llama or Qwen2 model saved with
``save_pretrained``. What such a model says is noise; what it exercises is every code path.

    from mscsql.training.tiny import build_tiny_causal_lm
    build_tiny_causal_lm("models/tiny")        # then: model: models/tiny in a training config

torch, tokenizers and transformers are imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mscsql.errors import BackendUnavailable, ConfigError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ("<s>", "</s>", "<pad>", "<unk>")

#: plain-text role markers; ``add_generation_prompt`` opens the assistant turn. A turn ends with a newline,
#: not with ``</s>``: the training recipe appends the end-of-sequence token to completions for such templates
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "### {{ message['role'] }}\n{{ message['content'] }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}### assistant\n{% endif %}"
)

#: generic training text for the tokenizer (no table names of the test schemas: an untrained model built on it
#: is very unlikely to spell one)
DEFAULT_TEXTS = (
    "### system\nYou are a helpful assistant.\n### user\nHello, which rows do we need?\n### assistant\n",
    "The quick brown fox jumps over the lazy dog. 0123456789 {}[]()<>,.;:'\"`!?-_=+*/\\|#@$%^&~",
    "Answer with a JSON list of their names, exactly as written, and nothing else.",
)

FAMILIES = ("llama", "qwen2")


def _require(what: str) -> None:
    import importlib.util

    missing = [m for m in ("torch", "tokenizers", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise BackendUnavailable(f"{what} needs {', '.join(missing)}", hint="pip install 'mscsql[train]'")


def train_tokenizer(texts: Sequence[str] = DEFAULT_TEXTS, *, vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``texts`` (every byte stays encodable), with the special tokens
    ``<s> </s> <pad> <unk>`` and :data:`CHAT_TEMPLATE` as its chat template."""
    _require("building a tiny tokenizer")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_causal_lm(path: str | Path, family: str = "llama", texts: Sequence[str] = DEFAULT_TEXTS, *,
                         seed: int = 0, hidden_size: int = 64, vocab_size: int = 400,
                         initializer_range: float = 0.02) -> Path:
    """Save a random-init 2-layer causal LM (``family`` "llama" or "qwen2") and its tokenizer (trained on
    ``texts``) to ``path``; returns ``path``. The same arguments give the same weights. A larger
    ``initializer_range`` gives larger (tied) embeddings, so that an adapter that trains no embedding can still
    make the model's answers sharp."""
    if family not in FAMILIES:
        raise ConfigError(f"unknown model family {family!r}", hint=f"use one of {', '.join(FAMILIES)}")
    if hidden_size < 4 or hidden_size % 4:
        raise ConfigError(f"hidden_size must be a positive multiple of 4 (4 attention heads), not {hidden_size}")
    _require("building a tiny model")
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    path = Path(path).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(texts, vocab_size=vocab_size)
    common: dict[str, Any] = dict(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, initializer_range=initializer_range)
    config = LlamaConfig(**common) if family == "llama" else Qwen2Config(**common)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
