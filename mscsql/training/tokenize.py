"""Tokenisation for the fine-tuning recipe: loss on the completion only, the prompt rendered exactly as the
generators render it at inference (see :mod:`mscsql.training.recipe`), and the collator that pads a batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mscsql.errors import ConfigError
from mscsql.generation.base import render_chat

#: the label of tokens that carry no loss (prompt and padding)
IGNORE_INDEX = -100


def render_prompt(tokenizer: Any, messages: Sequence[dict[str, str]], completion: str | None = None) -> str:
    """The chat template's text of ``messages`` with the generation prompt, or (given ``completion``) of the
    whole conversation with the assistant's answer: the generators' own rendering
    (:func:`~mscsql.generation.base.render_chat`)."""
    return render_chat(tokenizer, messages, completion, what="the base model")


def completion_text(tokenizer: Any, messages: Sequence[dict[str, str]], completion: str) -> tuple[str, str]:
    """``(prompt, completion part)``: the rendered prompt, and what the template writes after it for the
    whole conversation (the answer and the template's end of turn). A template whose whole conversation does
    not begin with its prompt (one that rewrites earlier turns) gets the plain completion and the
    end-of-sequence token instead."""
    prompt = render_prompt(tokenizer, messages)
    try:
        full = render_prompt(tokenizer, messages, completion)
    except ConfigError:
        full = ""
    if full.startswith(prompt) and len(full) > len(prompt):
        return prompt, full[len(prompt):]
    return prompt, completion + (tokenizer.eos_token or "")


@dataclass
class TokenizeStats:
    """Counts of one split's tokenisation."""

    kept: int = 0
    truncated: int = 0
    dropped: int = 0


def tokenize_example(tokenizer: Any, messages: Sequence[dict[str, str]], completion: str, max_length: int,
                     stats: TokenizeStats | None = None) -> dict[str, list[int]] | None:
    """``input_ids``, ``attention_mask`` and ``labels`` of one example: prompt and completion tokenised
    apart (the prompt as the generators tokenise it, without added special tokens), labels -100 on every
    prompt token. The end-of-sequence token is appended to a completion without one. Longer than
    ``max_length``: the prompt is cut from its left (its first token kept when it is the begin-of-sequence
    token), never the completion; an example whose completion leaves no room for a prompt token is dropped
    (None)."""
    prompt, answer = completion_text(tokenizer, messages, completion)
    prompt_ids = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    answer_ids = list(tokenizer(answer, add_special_tokens=False)["input_ids"])
    eos = tokenizer.eos_token_id
    if eos is not None and eos not in answer_ids:
        answer_ids.append(eos)
    if len(answer_ids) >= max_length:
        if stats is not None:
            stats.dropped += 1
        return None
    room = max_length - len(answer_ids)
    if len(prompt_ids) > room:
        bos = tokenizer.bos_token_id
        keep_bos = bos is not None and prompt_ids[0] == bos and room > 1
        prompt_ids = [bos, *prompt_ids[len(prompt_ids) - room + 1:]] if keep_bos else prompt_ids[-room:]
        if stats is not None:
            stats.truncated += 1
    if stats is not None:
        stats.kept += 1
    ids = prompt_ids + answer_ids
    return {"input_ids": ids, "attention_mask": [1] * len(ids),
            "labels": [IGNORE_INDEX] * len(prompt_ids) + answer_ids}


@dataclass
class CompletionCollator:
    """Pads a batch of tokenised examples on the right: ``pad_token_id`` in the inputs, 0 in the attention
    mask, -100 in the labels."""

    pad_token_id: int
    #: round the padded length up to a multiple of this (8 suits tensor cores); 1: the longest example
    pad_to_multiple_of: int = 1

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        columns: dict[str, list[list[int]]] = {"input_ids": [], "attention_mask": [], "labels": []}
        for f in features:
            gap = width - len(f["input_ids"])
            columns["input_ids"].append(list(f["input_ids"]) + [self.pad_token_id] * gap)
            columns["attention_mask"].append(list(f["attention_mask"]) + [0] * gap)
            columns["labels"].append(list(f["labels"]) + [IGNORE_INDEX] * gap)
        return {key: torch.tensor(rows, dtype=torch.long) for key, rows in columns.items()}
