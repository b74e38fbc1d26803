"""What a confidence model reads about a chosen answer: only what any selector sees, never a label.

- agreement: how many samples and generators agree with the chosen result, by what margin, how many failed,
  how varied the agreeing SQL is and how many different statements there were, the selector's own score
  (none of them can make more agreement less confident: features that did, fitted, were left out);
- graded agreement (:mod:`mscsql.critic.agreement`): the chosen group's share with partly agreeing results
  counted by their similarity, and the share times the log of the number of samples (a unanimous pair of
  samples is weaker evidence than a unanimous eight);
- the chosen group's share with each sample counted by its generator's reliability, estimated without labels
  over a run of questions (:mod:`mscsql.critic.reliability`; the plain share without an estimate);
- the answer checks of :mod:`mscsql.critic.checks` (an empty answer, an order against the question's
  superlative, values left out or added);
- the chosen query's shape (joins, subqueries, grouping, ordering with a limit, set operations, negation,
  aggregates, its Spider hardness level) and its result's (rows, columns, NULLs, repeated rows);
- the question's wording (length; whether it asks to count, for a superlative, per group, for a negation,
  for both of two things, for distinct values, for an average) and whether the query does what that wording
  asks (a count without an aggregate, a superlative without ordering, "each" without grouping, a negation
  without NOT);
- how much of the question the query covers: the question's content words found in the query, and the words
  that name the database's tables and columns (with a schema) that the query leaves out;
- whether the chosen query keeps the one top row of an ordering whose next row ties with it
  (:mod:`mscsql.critic.ties`: "the airline with the fewest flights" when two have as few).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from mscsql.critic.agreement import graded_support
from mscsql.critic.base import Choice
from mscsql.critic.checks import answer_checks
from mscsql.critic.grouping import CandidateResult
from mscsql.critic.intent import asks, coverage, mismatches, query_shape
from mscsql.critic.reliability import reliable_share
from mscsql.types import ExecutionResult, Schema

#: the features, in the order a model reads them
FEATURES = (
    # agreement
    "share", "margin", "generators", "failed", "score", "sql_variety", "candidates_per_sample",
    # graded agreement, the number of samples, and agreement weighted by each generator's reliability
    "graded_share", "share_x_log_samples", "reliable_share",
    # answer checks
    "no_answer", "direction_conflict", "values_missing", "values_unasked",
    # the query
    "hardness", "chosen_failed", "joins", "subqueries", "group_by", "order_limit", "distinct", "set_operation",
    "like", "having", "negation", "select_columns", "aggregate",
    # its result
    "result_rows", "result_columns", "result_nulls", "one_row", "duplicate_rows",
    # the question, and whether the query does what it asks
    "question_words", "asks_count", "asks_superlative", "asks_each", "asks_negation", "asks_both", "asks_or",
    "asks_distinct", "asks_average", "count_without_aggregate", "superlative_without_order", "each_without_group",
    "negation_without_not",
    # coverage of the question's words
    "question_coverage", "schema_words_unused", "schema_words_unused_share",
    # the one top row of an ordering tied with the next (mscsql.critic.ties)
    "top_tied",
)

def _result_shape(result: ExecutionResult) -> dict[str, float]:
    if not result.ok:
        return {"result_rows": 0.0, "result_columns": 0.0, "result_nulls": 0.0, "one_row": 0.0, "duplicate_rows": 0.0}
    rows = result.rows
    return {"result_rows": math.log1p(result.row_count), "result_columns": float(len(result.columns)),
            "result_nulls": float(any(v is None for row in rows for v in row)), "one_row": float(result.row_count == 1),
            "duplicate_rows": 1 - len(set(rows)) / len(rows) if rows else 0.0}


def _graded(choice: Choice, share: float, total: int) -> dict[str, float]:
    """The chosen group's graded share (its samples, plus every other sample counted by how close its result
    is), and the share times the log of the number of samples."""
    assert choice.group is not None
    support = graded_support(choice.groups)
    return {"graded_share": support[choice.group], "share_x_log_samples": share * math.log(total)}


def features(question: str, evidence: str | None, candidates: Sequence[CandidateResult], choice: Choice,
             schema: Schema | None = None, weights: Mapping[str, float] | None = None, *,
             top_tied: float = 0.0) -> dict[str, float]:
    """The :data:`FEATURES` of ``choice`` among ``candidates`` (each candidate's ``sources``: one entry per
    sample that proposed it); ``schema``: the database's, for the words that name its tables and columns;
    ``weights``: each generator's, estimated over a run of questions (:mod:`mscsql.critic.reliability`; without
    them every generator weighs the same); ``top_tied``: whether the chosen query's one top row ties with the
    next (:func:`mscsql.critic.ties.top_tied`, which needs the database: the caller runs it)."""
    total = sum(len(c.sources) for c in candidates)
    chosen = choice.candidate
    if chosen is None or choice.group is None or total == 0:
        return {**dict.fromkeys(FEATURES, 0.0), "chosen_failed": 1.0, "hardness": 3.0}
    groups = choice.groups
    group = groups[choice.group]
    others = sorted((g.count for i, g in enumerate(groups) if i != choice.group and g.ok), reverse=True)
    proposers = {s for c in candidates for s in c.sources}
    share = group.count / total
    found: dict[str, Any] = {
        "share": share, "margin": (group.count - (others[0] if others else 0)) / total,
        "generators": len({s for m in group.members for s in m.sources}) / max(1, len(proposers)),
        "failed": sum(len(c.sources) for c in candidates if not c.result.ok) / total,
        "score": float(choice.scores[choice.group]) if choice.scores is not None else share,
        "sql_variety": len(group.members) / group.count, "candidates_per_sample": len(candidates) / total,
        "chosen_failed": 0.0 if chosen.result.ok else 1.0,
    }
    found.update(_graded(choice, share, total))
    found["reliable_share"] = reliable_share(groups, choice.group, weights or {})
    found.update(zip(("no_answer", "direction_conflict", "values_missing", "values_unasked"),
                     answer_checks(question, evidence, chosen.sql, chosen.result), strict=True))
    dialect = schema.dialect if schema is not None else "sqlite"
    found.update(query_shape(chosen.sql, dialect))
    found.update(_result_shape(chosen.result))
    found["question_words"] = float(len(question.lower().split()))
    found.update(asks(question))
    found.update(mismatches(found, found))  # the one of them not in FEATURES is dropped below
    found.update(coverage(question, chosen.sql, schema, dialect))
    found["top_tied"] = top_tied if chosen.result.ok else 0.0
    return {name: float(found[name]) for name in FEATURES}
