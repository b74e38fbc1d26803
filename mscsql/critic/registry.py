"""Selectors by name: the one place a pipeline config's ``selection.selector`` becomes a
:class:`~mscsql.critic.base.Selector` (model-free rules, the encoder critic, the LLM critic or an ensemble)."""

from __future__ import annotations

from collections.abc import Sequence

from mscsql.config import SelectionConfig, parse_config
from mscsql.critic.base import SelectionItem, Selector
from mscsql.critic.grouping import CandidateResult
from mscsql.registry import load_entry

#: every selector a config can name; each class builds itself with ``from_config(SelectionConfig)``
SELECTORS: dict[str, str] = {
    "vote": "mscsql.critic.selectors:VoteSelector",
    "mbr": "mscsql.critic.mbr:MBRSelector",
    "first-valid": "mscsql.critic.selectors:FirstValidSelector",
    "max-logprob": "mscsql.critic.selectors:MaxLogprobSelector",
    "encoder": "mscsql.critic.encoder:EncoderCritic",
    "critic": "mscsql.critic.llm:LLMCritic",
}


def build_selector(selection: SelectionConfig | str) -> Selector:
    """The selector a ``selection:`` section (or a bare name, for selectors that need no settings) names;
    model-based selectors load their models now."""
    name = selection if isinstance(selection, str) else selection.selector
    factory = load_entry(SELECTORS, name, "selector")
    if isinstance(selection, str):
        selection = parse_config(SelectionConfig, {"selector": name}, f"selector {name!r}")
    selector: Selector = factory.from_config(selection)
    return selector


def select(name: str, candidates: Sequence[CandidateResult], sources: Sequence[str]) -> CandidateResult | None:
    """One question's choice by the selector ``name`` (for selectors that need no settings: vote,
    mbr, first-valid, max-logprob, or an untrained encoder critic)."""
    selector = build_selector(name)
    return selector.choose([SelectionItem("", None, "", tuple(candidates), tuple(sources))])[0].candidate
