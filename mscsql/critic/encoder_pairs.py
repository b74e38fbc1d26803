"""What the encoder critic reads of each candidate group: a text pair (the question with its evidence; a compact
description of the group) and the numeric features its head can read (the group's share of the samples, whether
it holds the first generator's answer, the shape of its result, the answer checks of
:mod:`mscsql.critic.checks`, its graded agreement with the other groups of :mod:`mscsql.critic.agreement`,
whether its query does what the question asks, :mod:`mscsql.critic.intent`).
Training data are rendered with the same functions.

Everything in a description that comes from a model or from the database is quoted as
:mod:`mscsql.critic.metadata` quotes it (one-line JSON strings, backticks and special-token shapes escaped).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from mscsql.critic.agreement import AGREEMENT_FEATURES, agreement_features
from mscsql.critic.checks import CHECKS, answer_checks
from mscsql.critic.grouping import ResultGroup
from mscsql.critic.intent import INTENT_FEATURES, intent_features
from mscsql.critic.metadata import MetadataOptions, quote_sql, row_count_line, shown_table, status_line
from mscsql.prompts.generator import defuse_special_tokens


def compact_metadata() -> MetadataOptions:
    return MetadataOptions(max_rows=3, max_columns=6, max_cell_chars=30, max_sql_chars=600, max_error_chars=120)


class GroupPair(NamedTuple):
    """One text pair the encoder reads: the question side, the group side, the group's share of the samples
    (in (0, 1]; the log-share feature of the head) and whether it holds the first generator's answer (the
    priority feature)."""

    question: str
    group: str
    agreement: float = 1.0
    first: float = 0.0
    #: the result's shape (:func:`result_shape`)
    shape: tuple[float, ...] = ()
    #: the answer checks (:func:`mscsql.critic.checks.answer_checks`)
    checks: tuple[float, ...] = ()
    #: the graded agreement (:func:`mscsql.critic.agreement.agreement_features`)
    graded: tuple[float, ...] = ()
    #: whether the query does what the question asks (:func:`mscsql.critic.intent.intent_features`)
    intent: tuple[float, ...] = ()


def question_text(question: str, evidence: str | None) -> str:
    """The first text of every pair of a question: the question and its evidence (special-token shapes
    defused, as in the LLM critic's prompt)."""
    text = f"Question: {defuse_special_tokens(question.strip())}"
    if evidence and evidence.strip():
        text += f"\nEvidence: {defuse_special_tokens(evidence.strip())}"
    return text


def describe_group(group: ResultGroup, total_samples: int, options: MetadataOptions | None = None) -> str:
    """The second text of a pair: a compact description of ``group``. Untrusted text (the SQL, column names,
    cells, error messages) appears only as quoted, one-line JSON literals. The SQL comes before the rows, so
    when the pair is too long for the encoder it is the last rows that are cut."""
    options = options or compact_metadata()
    result = group.result
    sql = group.sql
    count = group.count
    lines = [f"Proposed by {count} of {max(total_samples, count)} sample{'s' if total_samples != 1 else ''}",
             f"Status: {status_line(result, options)}",
             f"SQL: {quote_sql(sql, options.max_sql_chars)}"]
    if not result.ok:
        return "\n".join(lines)
    names, hidden, rows = shown_table(result, options)
    lines.append(f"Columns ({len(result.columns)}): [{names}]" + (f" (+{hidden} more)" if hidden else ""))
    lines.append(row_count_line(result, len(rows)).strip())
    lines += [f"Row {number}: [{cells}]" for number, cells in enumerate(rows, start=1)]
    return "\n".join(lines)


def agreement_shares(groups: Sequence[ResultGroup]) -> list[float]:
    """Each group's share of all samples (failed groups count among the samples); equal shares when no
    group names a source."""
    counts = [max(g.count, 0) for g in groups]
    total = sum(counts)
    if not total:
        return [1.0 / len(groups)] * len(groups) if groups else []
    return [c / total for c in counts]


#: what the result-shape features of the head are, in order
RESULT_FEATURES = ("empty", "one_row", "only_nulls", "log_rows")


#: the numeric blocks a head can read beside the agreement and the priority, in the order it reads them: the
#: setting that turns one on, the :class:`GroupPair` field that holds it, its names and what it is
FEATURE_BLOCKS = (
    ("result_features", "shape", RESULT_FEATURES, "result shape"),
    ("answer_checks", "checks", CHECKS, "answer checks"),
    ("graded_agreement", "graded", AGREEMENT_FEATURES, "graded agreement"),
    ("intent_features", "intent", INTENT_FEATURES, "intent features"),
)


def result_shape(group: ResultGroup) -> tuple[float, ...]:
    """The group's result as numbers (:data:`RESULT_FEATURES`): no rows, one row, rows that hold only NULLs,
    and log(1 + rows) / 10; all 0 for a failed query."""
    result = group.result
    if not result.ok:
        return (0.0,) * len(RESULT_FEATURES)
    rows = result.row_count
    only_nulls = rows > 0 and bool(result.rows) and all(cell is None for row in result.rows for cell in row)
    return (float(rows == 0), float(rows == 1), float(only_nulls), math.log1p(rows) / 10)


def first_flags(groups: Sequence[ResultGroup], sources: Sequence[str]) -> list[float]:
    """1.0 for the groups holding an answer of the first of ``sources`` (the generators in priority order),
    else 0.0; all 0.0 when no priority is given."""
    if not sources:
        return [0.0] * len(groups)
    first = sources[0]
    return [1.0 if any(first in m.sources for m in g.members) else 0.0 for g in groups]


def most_agreed(shares: Sequence[float], firsts: Sequence[float]) -> int:
    """The option the vote picks: the largest share, ties to the first generator's, then to the first shown."""
    flags = list(firsts) or [0.0] * len(shares)
    return max(range(len(shares)), key=lambda i: (shares[i], flags[i], -i))


def group_pairs(question: str, evidence: str | None, groups: Sequence[ResultGroup], shown: Sequence[int] | None = None,
                sources: Sequence[str] = (), options: MetadataOptions | None = None, *,
                checks: bool = True, graded: bool = True, intent: bool = True) -> list[GroupPair]:
    """The pairs the critic reads for ``groups`` (those at the indexes ``shown``, in that order, when given):
    the question text, each group's description, its share of the samples, whether it holds the first of
    ``sources``' answers, its result shape, its answer checks (of the SQL the description shows), its graded
    agreement with all the groups (shown or not) and its intent features (of the same SQL). A head that does
    not read the checks, the graded agreement or the intent gets them empty (``checks=False``, ``graded=False``,
    ``intent=False``); training data have all."""
    indexes = list(range(len(groups))) if shown is None else list(shown)
    text = question_text(question, evidence)
    shares = agreement_shares(groups)
    flags = first_flags(groups, sources)
    total = sum(max(g.count, 0) for g in groups)
    agreement = agreement_features(groups) if graded else [()] * len(groups)
    return [GroupPair(text, describe_group(groups[i], total, options), shares[i], flags[i], result_shape(groups[i]),
                      group_checks(question, evidence, groups[i]) if checks else (), agreement[i],
                      group_intent(question, groups[i]) if intent else ())
            for i in indexes]


def group_checks(question: str, evidence: str | None, group: ResultGroup) -> tuple[float, ...]:
    """The answer checks of ``group``: those of the SQL its description shows, with the group's result."""
    return answer_checks(question, evidence, group.sql, group.result)


def group_intent(question: str, group: ResultGroup) -> tuple[float, ...]:
    """The intent features of ``group``: those of the SQL its description shows, with the group's result."""
    return intent_features(question, group.sql, group.result)
