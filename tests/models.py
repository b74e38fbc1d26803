"""Tiny real language models built offline for tests: a byte-level BPE tokenizer trained on given texts,
a random-init Llama/Qwen2 causal LM saved with ``save_pretrained``, and a short training loop that teaches
such a model to answer given chat prompts with given texts.

Everything here runs on CPU in seconds; torch and transformers are imported inside the functions.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

log = logging.getLogger(__name__)

SPECIAL_TOKENS = ("<s>", "</s>", "<pad>", "<unk>")

#: plain-text role markers; ``add_generation_prompt`` opens the assistant turn
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

ChatMessages = Sequence[dict[str, str]]


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread: tiny models gain nothing from more, and on a small busy machine several
    threads spin against each other (training here went from about 1 s to 100 s on 2 shared cores)."""
    if importlib.util.find_spec("torch") is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_tokenizer(texts: Sequence[str] = DEFAULT_TEXTS, *, vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``texts`` (every byte stays encodable), with the special tokens
    ``<s> </s> <pad> <unk>`` and :data:`CHAT_TEMPLATE` as its chat template."""
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
                         seed: int = 0, hidden_size: int = 64, vocab_size: int = 400) -> Path:
    """Save a random-init 2-layer causal LM (``family`` "llama" or "qwen2") and its tokenizer to ``path``."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(texts, vocab_size=vocab_size)
    common: dict[str, Any] = dict(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id)
    if family == "llama":
        config = LlamaConfig(**common)
    elif family == "qwen2":
        config = Qwen2Config(**common)
    else:
        raise ValueError(f"unknown model family {family!r} (llama or qwen2)")
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def train_to_answer(path: str | Path, pairs: Sequence[tuple[ChatMessages, str]], *, steps: int = 300,
                    lr: float = 3e-3, seed: int = 0, target_loss: float = 1e-3) -> float:
    """Teach the model saved at ``path`` to answer each chat prompt with its text (then ``</s>``), and save
    it back. Loss is on the answer tokens only; stops early below ``target_loss``. Returns the last loss."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    rows: list[tuple[list[int], list[int]]] = []
    for messages, answer in pairs:
        prompt = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        rows.append((prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in rows])
    labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in rows])
    attention = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows])

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    loss_value = float("inf")
    for step in range(steps):
        loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_value = loss.detach().item()
        if loss_value < target_loss:
            log.debug("train_to_answer: loss %.2e after %d steps", loss_value, step + 1)
            break
    model.eval()
    model.save_pretrained(path)
    return loss_value
