"""What ``ask`` returns: the chosen SQL and its result, with every candidate, the groups they formed, the
linked schema and how long each stage took (``mscsql ask --json`` prints :meth:`Answer.to_dict`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mscsql.types import ExecutionResult, LinkedSchema, Question


@dataclass(frozen=True)
class CandidateInfo:
    sql: str
    #: generator name -> how many of its samples proposed this statement
    generators: dict[str, int]
    status: str  # the execution status, or "syntax_error"
    error: str | None
    row_count: int
    #: index into ``Answer.groups`` (candidates with the same result share one)
    group: int


@dataclass(frozen=True)
class GroupInfo:
    count: int  # samples that proposed a member
    ok: bool
    score: float | None = None  # the selector's score, when it has one
    #: what the group's first query does, in plain English (successful groups: the options of an answer that
    #: abstains are shown with it)
    explanation: str = ""


@dataclass(frozen=True)
class Answer:
    question: Question
    #: the chosen SQL; None only when no generator proposed anything
    sql: str | None
    result: ExecutionResult | None
    candidates: tuple[CandidateInfo, ...]
    groups: tuple[GroupInfo, ...]
    chosen_group: int | None
    linked_schema: LinkedSchema
    selector: str
    #: True when every successful candidate agreed, so no choice was needed
    unanimous: bool
    timings: dict[str, float] = field(default_factory=dict)
    config_hash: str = ""
    prompt_hash: str = ""
    #: what the chosen SQL does, in plain English (:func:`mscsql.explain.explain`)
    explanation: str = ""
    #: "generated" (chosen among the generators' candidates) or "verified" (a verified example's SQL)
    source: str = "generated"
    #: the verified example that answered, for ``source == "verified"``
    example_id: int | None = None
    #: the conversation this answer belongs to (pass it back to ask a follow-up) and its place in it
    conversation_id: str | None = None
    turn: int | None = None
    #: how likely the answer is right, in [0, 1] (:mod:`mscsql.critic.confidence`; 1 for a verified answer)
    confidence: float | None = None
    #: True when ``confidence`` is below the config's ``selection.min_confidence``: ``sql`` is the best candidate,
    #: but the answer is not sure of it and shows the candidates as options
    abstained: bool = False
    #: what the confidence model read (:data:`~mscsql.critic.confidence.FEATURES`), kept so that a benchmark run
    #: can record it for refitting (``mscsql eval calibrate``); not part of :meth:`to_dict`
    confidence_features: dict[str, float] | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.result is not None and self.result.ok

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question.text, "evidence": self.question.evidence, "sql": self.sql,
                "explanation": self.explanation,
                "result": self.result.to_dict() if self.result else None,
                "candidates": [c.__dict__ for c in self.candidates], "groups": [g.__dict__ for g in self.groups],
                "chosen_group": self.chosen_group, "selector": self.selector, "unanimous": self.unanimous,
                "linked_tables": self.linked_schema.table_names, "timings": self.timings,
                "config_hash": self.config_hash, "prompt_hash": self.prompt_hash, "source": self.source,
                "confidence": self.confidence, "abstained": self.abstained, "example_id": self.example_id,
                "conversation_id": self.conversation_id, "turn": self.turn}


def answer_json(answer: Answer) -> str:
    return json.dumps(answer.to_dict(), ensure_ascii=False, default=str)
