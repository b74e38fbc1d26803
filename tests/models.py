"""Tiny real language models built offline for tests: a byte-level BPE tokenizer trained on given texts and
a random-init Llama/Qwen2 causal LM saved with ``save_pretrained`` (both from :mod:`mscsql.training.tiny`),
and a short training loop that teaches such a model to answer given chat prompts with given texts.

Everything here runs on CPU in seconds; torch and transformers are imported inside the functions.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from mscsql.training.tiny import CHAT_TEMPLATE, DEFAULT_TEXTS, SPECIAL_TOKENS, build_tiny_causal_lm, train_tokenizer

__all__ = ["CHAT_TEMPLATE", "DEFAULT_TEXTS", "SPECIAL_TOKENS", "build_tiny_causal_lm", "one_torch_thread",
           "train_to_answer", "train_tokenizer"]

log = logging.getLogger(__name__)

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
