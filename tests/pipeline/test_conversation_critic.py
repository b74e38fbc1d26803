"""A follow-up question's critic reads the conversation: the LLM critic (a tiny real model) is shown the earlier
turns, with the SQL that answered them, exactly as the generators were; a first question's critic prompt holds
none. ``TextToSQL.critic_prompts`` rebuilds the same prompts for inspecting an answer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from mscsql import TextToSQL
from mscsql.demo import create_demo
from mscsql.prompts.generator import FOLLOW_UP
from mscsql.stages.models import Models
from tests.models import build_tiny_causal_lm, one_torch_thread
from tests.pipeline.test_quick_start import ANSWERS_BY_MODEL, local_server  # noqa: F401

pytest.importorskip("transformers")

FIRST = "How many customers are there?"
FOLLOW = "And how many of them are in the SMB segment?"
COUNT = "SELECT count(*) FROM customers"
OTHER = "SELECT count(*) FROM orders"


class Recorded:
    """The real critic model, with every prompt it is asked to score kept (in the order asked)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.prompts: list[Any] = []

    def option_logprobs(self, prompts: Sequence[Any], options: Sequence[str]) -> list[list[float]]:
        self.prompts.extend(prompts)
        return self.model.option_logprobs(prompts, options)

    def close(self) -> None:
        self.model.close()


def _text(prompt: Any) -> str:
    return json.dumps(list(prompt), sort_keys=True)


def test_the_critic_of_a_follow_up_reads_the_earlier_turns(tmp_path: Path, local_server: str) -> None:  # noqa: F811
    critic = build_tiny_causal_lm(tmp_path / "critic", "llama", seed=0)
    member = {"backend": "openai", "n": 1, "temperature": 0, "options": {"base_url": local_server}}
    config = {"use_values": False, "linking": {"linkers": ["keep-all"]},
              "generators": [{**member, "name": "first", "model": "first"},
                             {**member, "name": "second", "model": "second"}],
              "selection": {"selector": "critic", "critic": {"orderings": 2, "models": [
                  {"name": "judge", "backend": "hf", "model": str(critic), "n": 1, "temperature": 0.0,
                   "options": {"device": "cpu", "dtype": "float32", "progress": False}}]}}}
    ANSWERS_BY_MODEL.update(first=COUNT, second=OTHER)  # two results: the critic is asked every time
    db = create_demo(tmp_path / "demo.sqlite")
    with one_torch_thread(), TextToSQL.from_config(config, db=db) as t2s:
        models = Models(t2s.config)
        t2s.models = models
        recorded = Recorded(models.selector.scorer)
        models.selector.scorer = recorded
        first = t2s.ask(FIRST)
        asked_first = [m["content"] for p in recorded.prompts for m in p if m["role"] == "user"]
        recorded.prompts.clear()
        follow = t2s.ask(FOLLOW, conversation=first.conversation_id)
        asked_follow = [m["content"] for p in recorded.prompts for m in p if m["role"] == "user"]
        rebuilt = {_text(p.messages) for p in t2s.critic_prompts(follow)}
        seen = {_text(p) for p in recorded.prompts}
        rebuilt_first = {_text(p.messages) for p in t2s.critic_prompts(first)}
    assert follow.turn == 1 and first.selector == "critic" and follow.selector == "critic"
    assert len(asked_first) == 2 and len(asked_follow) == 2  # two orderings of two groups
    assert not any("Earlier questions in this conversation" in text for text in asked_first)
    for text in asked_follow:  # the earlier question, the query chosen for it, then the follow-up
        assert "Earlier questions in this conversation" in text and FOLLOW_UP in text
        assert text.index(FIRST) < text.index(first.sql) < text.index(FOLLOW)
    assert rebuilt == seen  # the inspection shows what the critic read
    assert not any("Earlier questions" in text for text in rebuilt_first)
