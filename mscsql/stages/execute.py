"""Stage 3, execute: each question's samples become distinct candidates (SQL extracted, normalised,
deduplicated; see :mod:`mscsql.generation.candidates`), and every candidate runs read-only on the database
(guarded, under a timeout, a row limit and a byte budget) to give the execution metadata."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mscsql.critic.grouping import CandidateResult, sample_sources
from mscsql.db import execute_many
from mscsql.generation.base import Sample
from mscsql.generation.candidates import Candidate, collect_candidates
from mscsql.stages.events import UNWATCHED, BatchControl
from mscsql.types import ExecutionItem, TablePolicy


@dataclass(frozen=True)
class Limits:
    """How one question's candidates run, and the tables they may read (None: the database's policy alone;
    the prepare stage shows the question only those tables too)."""

    timeout_s: float
    max_rows: int
    tables: TablePolicy | None = None


def candidate_pools(samples: Sequence[Mapping[str, Sequence[Sample]]], dialect: str) -> list[list[Candidate]]:
    """Each question's distinct candidates, with the samples (per generator) that proposed each."""
    return [collect_candidates({name: list(s) for name, s in per_question.items()}, dialect)
            for per_question in samples]


def execute(db: Any, pools: Sequence[Sequence[Candidate]], priority: Sequence[str], *,
            limits: Limits | Sequence[Limits], workers: int, control: BatchControl = UNWATCHED,
            positions: Sequence[int] | None = None) -> list[list[CandidateResult]]:
    """Every candidate of every question run on ``db`` (questions with the same limits in one
    :func:`~mscsql.db.execute_many` call); each result carries its candidate's sources, one per proposing
    sample in generator ``priority`` order."""
    per_question = [limits] * len(pools) if isinstance(limits, Limits) else list(limits)
    positions = list(range(len(pools))) if positions is None else list(positions)
    executed: list[list[CandidateResult]] = [[] for _ in pools]
    with control.stage("execution", positions) as detail:
        by_limits: dict[Limits, list[int]] = {}
        for i, limit in enumerate(per_question):
            by_limits.setdefault(limit, []).append(i)
        for limit, questions in by_limits.items():
            flat = [(i, c) for i in questions for c in pools[i]]
            results = execute_many([ExecutionItem(db, c.sql, tables=limit.tables) for _i, c in flat],
                                   workers=workers, timeout_s=limit.timeout_s, max_rows=limit.max_rows)
            for (i, candidate), result in zip(flat, results, strict=True):
                executed[i].append(CandidateResult(candidate.sql, sample_sources(candidate.generators, priority),
                                                   result, candidate.best_logprob))
        detail["candidates"] = sum(len(e) for e in executed)
    return executed


def top_ties(db: Any, choices: Sequence[Any], *, limits: Limits | Sequence[Limits], workers: int = 1,
             skip: Sequence[bool] | None = None) -> list[float]:
    """For each :class:`~mscsql.critic.base.Choice`, 1 when its chosen query keeps the one top row of an ordering
    and the next row ties with it (:func:`mscsql.critic.ties.probe_ties`), else 0: what the answers' confidence
    reads. One more read-only query for each such query only (each distinct one once), under its question's
    ``limits`` (timeout and tables), those of a batch together; ``skip``: questions not to probe (cancelled)."""
    from mscsql.critic.ties import probe_ties

    per_question = [limits] * len(choices) if isinstance(limits, Limits) else list(limits)
    wanted: dict[Limits, dict[str, list[int]]] = {}
    for i, choice in enumerate(choices):
        chosen = choice.candidate
        if (skip is not None and skip[i]) or chosen is None or not chosen.result.ok or not chosen.result.rows:
            continue
        wanted.setdefault(per_question[i], {}).setdefault(chosen.sql, []).append(i)
    out = [0.0] * len(choices)
    for limit, statements in wanted.items():
        found = probe_ties(db, list(statements), timeout_s=limit.timeout_s, tables=limit.tables, workers=workers)
        for tied, questions in zip(found, statements.values(), strict=True):
            for i in questions:
                out[i] = tied
    return out
