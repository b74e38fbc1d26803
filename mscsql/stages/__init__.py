"""The stages every question goes through, written once: ``TextToSQL.ask_batch``, ``mscsql eval run``,
``mscsql generate``, ``mscsql select`` and the critic data builders call them.

prepare (values, link, render, prompt) -> sample (every generator; replay; the sample store) -> execute
(candidates, read-only execution) -> choose (the selector over the groups) -> answers.
"""

from mscsql.stages.choose import answers, choose
from mscsql.stages.events import STAGES, BatchControl, StageEvent
from mscsql.stages.execute import Limits, candidate_pools, execute
from mscsql.stages.models import Models
from mscsql.stages.prepare import Prepared, prepare, retrieve_values
from mscsql.stages.sample import sample

__all__ = ["STAGES", "BatchControl", "Limits", "Models", "Prepared", "StageEvent", "answers", "candidate_pools",
           "choose", "execute", "prepare", "retrieve_values", "sample"]
