"""Stage 4: candidates grouped by their execution results, and the selectors that pick one group."""

from mscsql.critic.base import Choice, Critic, CriticJudgement, SelectionItem, Selector
from mscsql.critic.encoder import EncoderCritic
from mscsql.critic.grouping import CandidateResult, ResultGroup, group_by_result, result_key
from mscsql.critic.llm import EnsembleCritic, LLMCritic
from mscsql.critic.metadata import MetadataOptions, render_groups
from mscsql.critic.registry import SELECTORS, build_selector, select

__all__ = ["SELECTORS", "CandidateResult", "Choice", "Critic", "CriticJudgement", "EncoderCritic", "EnsembleCritic",
           "LLMCritic", "MetadataOptions", "ResultGroup", "SelectionItem", "Selector", "build_selector",
           "group_by_result", "render_groups", "result_key", "select"]
