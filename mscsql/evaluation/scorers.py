"""Named scorers. Each says which text runs for the gold query and for a prediction, on which databases,
how results are compared, and how text that is not valid UTF-8 is decoded (see the README for the rules).

- ``bird``: BIRD's official execution accuracy (``evaluation_ex.py``): prediction and gold run as written;
  ``set(prediction rows) == set(gold rows)``; an error or a timeout of either scores 0; invalid UTF-8
  text is an error (Python's default decoding); a blank prediction runs as an empty statement and
  returns no rows.
- ``spider-exec``: the Spider test-suite evaluator's execution match on the plain ``database/`` folder
  (the rules of ``spider_rules`` and ``matching.spider_match``); invalid UTF-8 bytes are dropped.
- ``test-suite``: the same match, required on every database variant of the question's db_id in
  ``test_suite_database/`` (test-suite accuracy).
- ``soft-f1``: BIRD mini-dev's Soft-F1 (``evaluation_f1.py``): run as ``bird`` runs, a graded score per
  question (:func:`matching.soft_f1`), right when it is 1.
- ``r-ves`` / ``ves``: the ``bird`` verdict, and each right prediction timed against its gold query
  (:mod:`mscsql.evaluation.efficiency`).
- ``exact-match``: Spider's exact-set-match (``evaluation.py --etype match``): the queries' text, read and
  compared as the official tools do (:mod:`mscsql.evaluation.exact_match`); nothing runs.
- ``strict``: mscsql's own check: texts as written, same number of columns in the order written, rows
  compared as multisets (as lists when the gold query's outermost query has ORDER BY).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import sqlglot
from sqlglot import exp

from mscsql.benchmarks.loaders import BenchmarkItem
from mscsql.errors import ConfigError
from mscsql.evaluation import matching, spider_rules
from mscsql.types import ExecutionResult


@dataclass(frozen=True)
class PreparedGold:
    text: str
    order_matters: bool


class Scorer:
    name: str = ""
    text_decoding: str = "replace"
    #: a blank prediction returns no rows instead of failing (BIRD's evaluator runs it as is)
    blank_prediction_is_empty_result: bool = False
    #: the scorer gives a score in [0, 1] besides the verdict (``score`` in results.jsonl; right means 1)
    graded: bool = False
    #: the scorer times right predictions against their gold query (:mod:`mscsql.evaluation.efficiency`), in
    #: ``repeats`` rounds
    timed: bool = False
    repeats: int = 0
    #: the scorer runs the queries (else it compares their text, as exact-match does)
    executes: bool = True

    def databases(self, item: BenchmarkItem) -> tuple[str, ...]:
        return (item.database,) if item.database else ()

    def prepare_gold(self, item: BenchmarkItem) -> PreparedGold:
        raise NotImplementedError

    def prepare_prediction(self, sql: str) -> str:
        raise NotImplementedError

    def matches(self, gold: PreparedGold, gold_result: ExecutionResult, pred_result: ExecutionResult) -> bool:
        raise NotImplementedError

    def score(self, gold: PreparedGold, gold_result: ExecutionResult, pred_result: ExecutionResult) -> float:
        """The graded score of a prediction that ran (1 for a match; a verdict scorer has only 0 and 1)."""
        return 1.0 if self.matches(gold, gold_result, pred_result) else 0.0


class BirdScorer(Scorer):
    name = "bird"
    text_decoding = "strict"
    blank_prediction_is_empty_result = True

    def prepare_gold(self, item: BenchmarkItem) -> PreparedGold:
        return PreparedGold(text=item.gold_sql, order_matters=False)

    def prepare_prediction(self, sql: str) -> str:
        return sql

    def matches(self, gold: PreparedGold, gold_result: ExecutionResult, pred_result: ExecutionResult) -> bool:
        return matching.bird_match(gold_result.rows, pred_result.rows)


class SoftF1Scorer(BirdScorer):
    """BIRD mini-dev's Soft-F1: run as BIRD runs, scored by :func:`matching.soft_f1`; right when it is 1."""

    name = "soft-f1"
    graded = True

    def score(self, gold: PreparedGold, gold_result: ExecutionResult, pred_result: ExecutionResult) -> float:
        return matching.soft_f1(gold_result.rows, pred_result.rows)

    def matches(self, gold: PreparedGold, gold_result: ExecutionResult, pred_result: ExecutionResult) -> bool:
        return self.score(gold, gold_result, pred_result) == 1.0


class EfficiencyScorer(BirdScorer):
    """BIRD's VES (``ves``) or mini-dev's R-VES (``r-ves``): the ``bird`` verdict, and right predictions timed
    against the gold query (:mod:`mscsql.evaluation.efficiency`)."""

    timed = True

    def __init__(self, name: str, repeats: int = 10) -> None:
        if repeats < 1:
            raise ConfigError(f"{name} needs at least one timing round", hint="--repeats 10 (the official tools: 100)")
        self.name, self.repeats = name, repeats


class ExactMatchScorer(Scorer):
    """Spider's exact-set-match (:mod:`mscsql.evaluation.exact_match`): nothing runs; the schema is read from the
    question's SQLite file and the foreign keys from tables.json, as the official tools do."""

    name = "exact-match"
    executes = False


class SpiderExecScorer(Scorer):
    name = "spider-exec"
    text_decoding = "ignore"

    def databases(self, item: BenchmarkItem) -> tuple[str, ...]:
        if not item.database:
            return ()
        return _folder_databases(item.database)

    def prepare_gold(self, item: BenchmarkItem) -> PreparedGold:
        prepared = spider_rules.prepare_gold(item.gold_sql)
        return PreparedGold(text=spider_rules.executable(prepared), order_matters=spider_rules.order_matters(prepared))

    def prepare_prediction(self, sql: str) -> str:
        return spider_rules.executable(spider_rules.prepare_prediction(sql))

    def matches(self, gold: PreparedGold, gold_result: ExecutionResult, pred_result: ExecutionResult) -> bool:
        return matching.spider_match(gold_result.rows, pred_result.rows, gold.order_matters)


@lru_cache(maxsize=4096)
def _folder_databases(database: str) -> tuple[str, ...]:
    """The official tool runs on every file of the database's folder whose name contains ".sqlite" (a server
    database is one database)."""
    if "://" in database:
        return (database,)
    folder = Path(database).parent
    return tuple(sorted(str(p) for p in folder.iterdir() if ".sqlite" in p.name)) or (database,)


class TestSuiteScorer(SpiderExecScorer):
    name = "test-suite"

    def databases(self, item: BenchmarkItem) -> tuple[str, ...]:
        return item.variants if item.database else ()


def _has_outer_order_by(sql: str, dialect: str) -> bool:
    try:
        tree = sqlglot.parse_one(sql, read=dialect if dialect != "postgresql" else "postgres")
    except sqlglot.errors.SqlglotError:
        return "order by" in sql.lower()
    while isinstance(tree, exp.Subquery):
        tree = tree.this
    return tree.args.get("order") is not None


class StrictScorer(Scorer):
    name = "strict"

    def __init__(self, dialect: str = "sqlite") -> None:
        self.dialect = dialect

    def prepare_gold(self, item: BenchmarkItem) -> PreparedGold:
        return PreparedGold(text=item.gold_sql, order_matters=_has_outer_order_by(item.gold_sql, self.dialect))

    def prepare_prediction(self, sql: str) -> str:
        return sql

    def matches(self, gold: PreparedGold, gold_result: ExecutionResult, pred_result: ExecutionResult) -> bool:
        return matching.strict_match(gold_result.rows, pred_result.rows, gold.order_matters,
                                     len(gold_result.columns), len(pred_result.columns))


SCORERS = ("bird", "soft-f1", "r-ves", "ves", "spider-exec", "test-suite", "exact-match", "strict")


def get_scorer(name: str, dialect: str = "sqlite", *, repeats: int = 10) -> Scorer:
    """The scorer called ``name``; ``repeats``: timing rounds of ``r-ves`` and ``ves``."""
    if name == "bird":
        return BirdScorer()
    if name == "soft-f1":
        return SoftF1Scorer()
    if name in ("r-ves", "ves"):
        return EfficiencyScorer(name, repeats)
    if name == "exact-match":
        return ExactMatchScorer()
    if name == "spider-exec":
        return SpiderExecScorer()
    if name == "test-suite":
        return TestSuiteScorer()
    if name == "strict":
        return StrictScorer(dialect)
    raise ConfigError(f"unknown scorer {name!r}", hint=f"choose one of: {', '.join(SCORERS)}")
