"""Stage 4: candidates grouped by their execution results, and the selectors that pick one group."""

from mscsql.critic.grouping import CandidateResult, ResultGroup, group_by_result, result_key
from mscsql.critic.selectors import SELECTORS, select

__all__ = ["SELECTORS", "CandidateResult", "ResultGroup", "group_by_result", "result_key", "select"]
