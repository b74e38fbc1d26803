"""The stages every question goes through, written once: ``TextToSQL.ask_batch``, ``mscsql eval run``,
``mscsql generate``, ``mscsql select`` and the critic data builders call them.

prepare (values, link, render, prompt) -> sample (every generator; replay; the sample store) -> execute
(candidates, read-only execution) -> choose (the selector over the groups) -> answers.

Harnesses reach linking, prompts, generation and the critics only through this package: the names below are
what they need of them (an import-layering contract checks it).
"""

from mscsql.critic.base import Choice, SelectionItem, Selector
from mscsql.critic.confidence import FEATURES as CONFIDENCE_FEATURES
from mscsql.critic.confidence import ConfidenceModel
from mscsql.critic.confidence import features as confidence_features
from mscsql.critic.grouping import CandidateResult, group_by_result
from mscsql.critic.reliability import (
    Reliability,
    answers_observed,
    estimate_reliability,
    keep_reliability,
    observed,
)
from mscsql.critic.selectors import VoteSelector
from mscsql.generation.base import Sample
from mscsql.generation.candidates import Candidate
from mscsql.generation.preflight import configured_models, require_runnable
from mscsql.generation.store import SampleStore
from mscsql.prompts import GENERATOR_TEMPLATE_VERSION
from mscsql.stages.check import check_before_stages
from mscsql.stages.choose import answers, choose
from mscsql.stages.events import STAGES, BatchControl, StageEvent
from mscsql.stages.execute import Limits, candidate_pools, execute, top_ties
from mscsql.stages.models import Models
from mscsql.stages.prepare import Prepared, prepare, retrieve_values, whole_schema_text
from mscsql.stages.sample import sample

__all__ = ["CONFIDENCE_FEATURES", "GENERATOR_TEMPLATE_VERSION", "STAGES", "BatchControl", "Candidate",
           "CandidateResult", "Choice", "ConfidenceModel", "Limits", "Models", "Prepared", "Reliability", "Sample",
           "SampleStore", "SelectionItem", "Selector", "StageEvent", "VoteSelector", "answers", "answers_observed",
           "candidate_pools", "check_before_stages", "choose", "confidence_features", "configured_models",
           "estimate_reliability", "execute", "group_by_result", "keep_reliability", "observed", "prepare",
           "require_runnable", "retrieve_values", "sample", "top_ties", "whole_schema_text"]
