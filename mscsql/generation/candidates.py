"""Candidate pooling: the distinct statements that several generators' samples propose for one question.

Each sample's text goes through :func:`~mscsql.generation.extract.extract_sql` (or, when the generation stage
already set ``Sample.sql``, that statement through :func:`~mscsql.generation.extract.resolve_sql`).
Statements with the same :func:`~mscsql.generation.extract.normalized_key` are one candidate, which counts
how many samples of each generator proposed it. Statements that do not parse are candidates too (keyed by
their whitespace-collapsed text), so that the critic and the reports see them; samples with no statement at
all are left out (the count of each candidate is therefore at most the number of samples).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mscsql.generation.base import Sample
from mscsql.generation.extract import extract_sql, normalized_key, resolve_sql
from mscsql.generation.transpile import ExtractedSQL, ExtractionStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """One distinct statement and the samples that proposed it."""

    #: the statement as its first proposing sample wrote it (transpiled into the target dialect if needed)
    sql: str
    #: the deduplication key (see :func:`~mscsql.generation.extract.normalized_key`)
    key: str
    status: ExtractionStatus
    #: the parser's message for a syntax error, else None
    error: str | None
    #: the dialect the first proposing sample was written in, when it had to be transpiled
    source_dialect: str | None
    #: generator name -> how many of its samples proposed this statement (generators in first-seen order)
    generators: dict[str, int]
    #: how many samples proposed it, over all generators
    count: int
    #: (generator name, sample index) of every proposing sample, in the order they were read
    samples: tuple[tuple[str, int], ...]
    #: the highest total log-probability among the proposing samples that have one
    best_logprob: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def stored(cls, sql: str, generators: dict[str, int]) -> Candidate:
        """A candidate read back from where it was kept (a prediction file, ``candidates.jsonl``): its SQL as
        written, proposed by ``generators`` (name -> samples)."""
        return cls(sql=sql, key=text_key(sql), status="ok", error=None, source_dialect=None,
                   generators=dict(generators), count=sum(generators.values()),
                   samples=tuple((name, i) for name, n in generators.items() for i in range(n)))


@dataclass
class _Group:
    first: ExtractedSQL
    key: str
    generators: dict[str, int] = field(default_factory=dict)
    samples: list[tuple[str, int]] = field(default_factory=list)
    best_logprob: float | None = None

    def add(self, generator: str, index: int, logprob: float | None) -> None:
        self.generators[generator] = self.generators.get(generator, 0) + 1
        self.samples.append((generator, index))
        if logprob is not None and (self.best_logprob is None or logprob > self.best_logprob):
            self.best_logprob = logprob

    def candidate(self) -> Candidate:
        return Candidate(sql=self.first.sql, key=self.key, status=self.first.status, error=self.first.error,
                         source_dialect=self.first.source_dialect, generators=dict(self.generators),
                         count=len(self.samples), samples=tuple(self.samples), best_logprob=self.best_logprob)


def text_key(sql: str) -> str:
    """The key of a statement that does not parse: its whitespace-collapsed text without trailing semicolons."""
    return " ".join(sql.strip().rstrip(";").split())


def extract_sample(sample: Sample, dialect: str) -> ExtractedSQL:
    """The statement a sample proposes: ``sample.sql`` when the generation stage set it, else the one in its
    text."""
    if sample.sql is not None:
        return resolve_sql(sample.sql, dialect)
    return extract_sql(sample.text, dialect)


def collect_candidates(samples_by_generator: Mapping[str, Sequence[Sample]], dialect: str) -> list[Candidate]:
    """The distinct statements proposed by the samples of every generator, most proposed first; ties keep
    the order of first appearance (generators in mapping order, samples in sequence order)."""
    groups: dict[tuple[bool, str], _Group] = {}
    empty = 0
    for generator, samples in samples_by_generator.items():
        for index, sample in enumerate(samples):
            extracted = extract_sample(sample, dialect)
            if extracted.status == "empty":
                empty += 1
                continue
            # parsed and unparsed statements never share a group, whatever their keys
            key = normalized_key(extracted.sql, dialect) if extracted.ok else text_key(extracted.sql)
            group = groups.setdefault((extracted.ok, key), _Group(first=extracted, key=key))
            group.add(generator, index, sample.logprob)
    if empty:
        logger.debug("%d sample(s) proposed no SQL statement", empty)
    # dicts keep insertion order and sorted() is stable: ties stay in order of first appearance
    return sorted((group.candidate() for group in groups.values()), key=lambda c: -c.count)
