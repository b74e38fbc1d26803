"""Checks of a candidate answer against its question: a few numbers a critic's head reads beside the text.

Most disagreements between fine-tuned generators that a vote settles wrongly have a plain tell that a small
encoder reading the text misses: the majority's query filters on a value the database does not hold and
comes back with no rows, or with one row of zeros (a count of nothing, an average of nothing); it orders the
wrong way for the superlative the question asks for; it leaves out a value the question names, or filters on
one the question never mentions. Each check reads the question's wording, the query's text and what it
returned, so it means the same for any generator and any database. The critic compares the options of one
question, so a check that comes out the same for all of them changes nothing.

:data:`CHECKS` names them in the order :func:`answer_checks` returns them.
"""

from __future__ import annotations

import math
import re

from mscsql.types import ExecutionResult

#: the checks, in the order :func:`answer_checks` returns them
CHECKS = (
    "no_answer",           # 1.0: the query ran and returned no rows, or one row of only zeros and NULLs
    "direction_conflict",  # 1.0: the question asks for the smallest (largest), the query keeps the largest (smallest)
    "values_missing",      # the share of the values the question names (quoted text, numbers) the query leaves out
    "values_unasked",      # log(1 + the text values the query compares with that the question does not name)
)

_ASCENDING = re.compile(r"\b(least|lowest|smallest|fewest|minimum|min|cheapest|shortest|lightest|worst)\b")
_DESCENDING = re.compile(r"\b(most|highest|largest|biggest|greatest|maximum|max|top|longest|heaviest|best)\b")
_QUOTED = re.compile(r"[\"“'‘]([^\"”'’]{1,60})[\"”'’]")
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w.])")
_SQL_STRING = re.compile(r"'((?:[^']|'')*)'|\"((?:[^\"]|\"\")*)\"")


def no_answer(result: ExecutionResult) -> bool:
    """Whether a successful query answered nothing: no rows, or a single row of zeros and NULLs only (what
    COUNT, SUM or AVG give when the filter matches nothing)."""
    if not result.ok:
        return False
    if result.row_count == 0:
        return True
    return result.row_count == 1 and bool(result.rows) and all(cell in (0, None) for cell in result.rows[0])


def order_direction(sql: str) -> str | None:
    """The direction of the query's last ORDER BY (``ASC`` when none is written), or None without one. String
    literals are blanked first, so a value that reads "order by" is not taken for the clause."""
    keywords = " ".join(_SQL_STRING.sub("''", sql).upper().split())
    if "ORDER BY" not in keywords:
        return None
    clause = keywords.rsplit("ORDER BY", 1)[1].split(" LIMIT ", 1)[0]
    return "DESC" if re.search(r"\bDESC\b", clause) else "ASC"


def question_values(question: str) -> list[str]:
    """The values a question names, lower-cased: quoted text and numbers."""
    quoted = [q.strip().lower() for q in _QUOTED.findall(question) if q.strip()]
    return list(dict.fromkeys(quoted + _NUMBER.findall(question)))


def answer_checks(question: str, evidence: str | None, sql: str, result: ExecutionResult) -> tuple[float, ...]:
    """The values of :data:`CHECKS` for ``sql`` (which returned ``result``) as an answer to ``question``; a query
    that failed gets 0 for the checks of its result."""
    text = f"{question} {evidence or ''}".lower()
    lowered = sql.lower()
    keeps_first = bool(re.search(r"\blimit\b", _SQL_STRING.sub("''", lowered)))
    direction = order_direction(sql)
    up, down = bool(_ASCENDING.search(text)), bool(_DESCENDING.search(text))
    conflict = keeps_first and ((up and not down and direction == "DESC") or (down and not up and direction == "ASC"))
    values = question_values(question)
    missing = sum(v not in lowered for v in values)
    literals = [a or b for a, b in _SQL_STRING.findall(sql)]
    unasked = sum(1 for s in literals if s.strip("% ") and s.strip("% ").lower() not in text)
    return (float(no_answer(result)), float(conflict), missing / len(values) if values else 0.0,
            math.log1p(unasked))
