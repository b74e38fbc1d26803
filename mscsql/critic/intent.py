"""Does a query do what its question asks? Numbers a selector's head and the confidence model read.

Two candidates that disagree often differ in one plain way: one counts where the question asks "how many", the
other lists; one orders and keeps the first row for "the oldest", the other does not; one groups for "each
department", one reads a word of the question the other leaves out. These features read the question's wording,
the query's syntax tree (sqlglot) and the size of its result; a listwise head compares them across the options of
one question, so a feature that comes out the same for every option changes nothing there.

:data:`INTENT_FEATURES` names what :func:`intent_features` returns, in order:

- the query's shape: joins, subqueries, grouping, ordering with a limit, DISTINCT, set operations, LIKE,
  HAVING, negation, the number of selected columns, aggregates, and Spider's hardness level (0 to 3);
- what the question asks that the query does not do: a count without an aggregate, a superlative without
  ordering or an aggregate, "each"/"per" without grouping, a negation without NOT, "different"/"distinct"
  without DISTINCT;
- the share of the question's content words the query's names and values cover;
- the result's size: log(1 + rows) / 5 and whether it is one row (0 for a failed query).

Only the question, the SQL and its result are read: never a label. Queries are read in the dialect given (the
encoder critic's groups carry none, so it reads them as SQLite; a query that reader cannot parse gets no known
shape and the hardest level).
"""

from __future__ import annotations

import math
import re

from mscsql.db import sqltext
from mscsql.types import ExecutionResult, Schema

#: the query's shape, as :func:`query_shape` gives it
SHAPE_FEATURES = ("joins", "subqueries", "group_by", "order_limit", "distinct", "set_operation", "like", "having",
                  "negation", "select_columns", "aggregate", "hardness")
#: what the question asks and the query leaves undone
MISMATCH_FEATURES = ("count_without_aggregate", "superlative_without_order", "each_without_group",
                     "negation_without_not", "distinct_without_distinct")
#: what :func:`intent_features` returns, in order
INTENT_FEATURES = (*SHAPE_FEATURES, *MISMATCH_FEATURES, "question_coverage", "result_log_rows", "result_one_row")

_LEVELS = {"easy": 0.0, "medium": 1.0, "hard": 2.0, "extra": 3.0}
#: what a question's wording asks for, as patterns on its lower-cased text
ASKS = {
    "asks_count": r"how many|number of|\bcount",
    "asks_superlative": r"\b(most|least|highest|lowest|largest|smallest|maximum|minimum|max|min|top|oldest|youngest|"
                        r"best|worst|longest|shortest|fewest|earliest|latest)\b",
    "asks_each": r"\b(each|per|every|for all)\b",
    "asks_negation": r"\b(not|never|without|no|don't|doesn't|didn't|except)\b",
    "asks_both": r"\b(both|and also|as well as)\b",
    "asks_or": r"\bor\b",
    "asks_distinct": r"\b(distinct|different|unique)\b",
    "asks_average": r"\b(average|mean)\b",
}


def asks(question: str) -> dict[str, float]:
    """Which of :data:`ASKS` the question's wording asks for (1.0 or 0.0 each)."""
    text = question.lower()
    return {name: float(bool(re.search(pattern, text))) for name, pattern in ASKS.items()}


def query_shape(sql: str, dialect: str) -> dict[str, float]:
    """:data:`SHAPE_FEATURES` of ``sql``; a query sqlglot cannot read counts as the hardest, with no known shape."""
    from sqlglot import exp

    from mscsql.benchmarks.hardness import hardness_counts

    shape = dict.fromkeys(SHAPE_FEATURES, 0.0)
    tree = sqltext.tree(sql, dialect)
    if tree is None:
        return {**shape, "hardness": 3.0}
    try:
        shape["hardness"] = _LEVELS.get(hardness_counts(sql).level, 3.0)
    except Exception:  # Spider's hardness rules read SQLite; another dialect's query may not parse there
        shape["hardness"] = 3.0
    select = tree if isinstance(tree, exp.Select) else tree.find(exp.Select)
    shape.update({
        "joins": float(len(list(tree.find_all(exp.Join)))),
        "subqueries": float(max(0, len(list(tree.find_all(exp.Select))) - 1)),
        "group_by": float(tree.find(exp.Group) is not None),
        "order_limit": float(tree.find(exp.Order) is not None and tree.find(exp.Limit) is not None),
        "distinct": float(tree.find(exp.Distinct) is not None),
        "set_operation": float(isinstance(tree, exp.SetOperation) or tree.find(exp.SetOperation) is not None),
        "like": float(tree.find(exp.Like) is not None),
        "having": float(tree.find(exp.Having) is not None),
        "negation": float(tree.find(exp.Not) is not None or tree.find(exp.NEQ) is not None
                          or isinstance(tree, exp.Except)),
        "select_columns": float(len(select.expressions) if select is not None else 0),
        "aggregate": float(tree.find(exp.AggFunc) is not None),
    })
    return shape


def mismatches(asked: dict[str, float], shape: dict[str, float]) -> dict[str, float]:
    """:data:`MISMATCH_FEATURES`: what the question asks (:func:`asks`) that the query (:func:`query_shape`)
    does not do."""
    return {"count_without_aggregate": asked["asks_count"] * (1 - shape["aggregate"]),
            "superlative_without_order": asked["asks_superlative"] * (1 - max(shape["order_limit"],
                                                                              shape["aggregate"])),
            "each_without_group": asked["asks_each"] * (1 - shape["group_by"]),
            "negation_without_not": asked["asks_negation"] * (1 - shape["negation"]),
            "distinct_without_distinct": asked["asks_distinct"] * (1 - shape["distinct"])}


def query_words(sql: str, dialect: str) -> set[str]:
    """The word stems of the query's names and text values (and its numbers)."""
    from sqlglot.tokens import TokenType

    from mscsql.retrieval.text import split_identifier, stem

    words: set[str] = set()
    for token in sqltext.tokens(sql, dialect) or []:
        if token.token_type in (TokenType.VAR, TokenType.IDENTIFIER, TokenType.STRING):
            words |= {stem(w) for w in split_identifier(token.text).split()}
        elif token.token_type == TokenType.NUMBER:
            words.add(token.text)
    return words


def coverage(question: str, sql: str, schema: Schema | None, dialect: str) -> dict[str, float]:
    """How much of the question the query covers: the share of its content words found in the query, and the
    words that name the schema's tables and columns (with a schema) that the query leaves out."""
    from mscsql.retrieval.examples import schema_vocabulary
    from mscsql.retrieval.text import STOPWORDS, normalize, stem

    asked = {stem(w) for w in normalize(question).split() if w not in STOPWORDS}
    used = query_words(sql, dialect)
    named = {w for w in asked if w in schema_vocabulary(schema)} if schema is not None else set()
    return {"question_coverage": len(asked & used) / max(1, len(asked)),
            "schema_words_unused": float(len(named - used)),
            "schema_words_unused_share": len(named - used) / max(1, len(named))}


def intent_features(question: str, sql: str, result: ExecutionResult, dialect: str = "sqlite") -> tuple[float, ...]:
    """:data:`INTENT_FEATURES` of ``sql`` (which returned ``result``) as an answer to ``question``."""
    shape = query_shape(sql, dialect)
    found = {**shape, **mismatches(asks(question), shape),
             "question_coverage": coverage(question, sql, None, dialect)["question_coverage"],
             "result_log_rows": math.log1p(result.row_count) / 5 if result.ok else 0.0,
             "result_one_row": float(result.ok and result.row_count == 1)}
    return tuple(float(found[name]) for name in INTENT_FEATURES)
