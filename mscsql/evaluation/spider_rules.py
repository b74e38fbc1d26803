"""The Spider test-suite evaluator's text rules, applied before execution (``evaluation.py`` and
``exec_eval.py`` of taoyds/test-suite-sql-eval), reproduced so that verdicts agree question by question:

1. every occurrence of the substring ``value`` in a prediction becomes ``1`` (also inside names);
2. ``> =``, ``< =`` and ``! =`` are closed up, in prediction and gold;
3. DISTINCT is removed: the text is tokenised by sqlparse, **only its first statement is kept** (so
   trailing prose after a ``;`` disappears), and every token spelled ``distinct`` is dropped;
4. ``YEAR(CURDATE())`` becomes ``2020``;
5. row order matters exactly when the processed gold text contains ``order by`` (lower-cased substring).
"""

from __future__ import annotations

import re
from functools import lru_cache

_GO = re.compile(r"\bgo\b", flags=re.IGNORECASE)  # sqlparse also ends a statement at GO
_CURRENT_YEAR = re.compile(r"YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*", flags=re.IGNORECASE)


def close_operators(query: str) -> str:
    return query.replace("> =", ">=").replace("< =", "<=").replace("! =", "!=")


@lru_cache(maxsize=65536)
def remove_distinct(query: str) -> str:
    """The first statement of ``query`` without any ``distinct`` token ('' when there is no statement)."""
    if query.strip() and ";" not in query and "distinct" not in query.lower() and not _GO.search(query):
        # one statement and nothing to drop: sqlparse's tokens join back to the very same text
        return query
    import sqlparse

    statements = sqlparse.parse(query)
    if not statements:
        return ""
    return "".join(token.value for token in statements[0].flatten() if token.value.lower() != "distinct")


def replace_current_year(query: str) -> str:
    return _CURRENT_YEAR.sub("2020", query)


def prepare_gold(gold: str) -> str:
    return remove_distinct(close_operators(gold))


def prepare_prediction(prediction: str) -> str:
    return remove_distinct(close_operators(prediction.replace("value", "1")))


def order_matters(prepared_gold: str) -> bool:
    return "order by" in prepared_gold.lower()


def executable(prepared: str) -> str:
    """The text that is run, after the rules above."""
    return replace_current_year(prepared)
