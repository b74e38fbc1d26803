"""Verified examples: questions with SQL that people checked, kept per database. Every example's SQL passes
the read-only guard and runs before it is stored (:func:`verify_sql`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from mscsql.errors import NotFound, RejectedInput
from mscsql.fileio import read_text_file
from mscsql.store.engine import utc_iso
from mscsql.store.migrations import examples_table
from mscsql.types import ExecutionItem, ExecutionResult, VerifiedExample

#: how an example came to be
SOURCES = ("added", "imported", "promoted")


def verify_sql(db: Any, sql: str, timeout_s: float) -> ExecutionResult:
    """Run ``sql`` as an example's query: one statement the guard admits (else :class:`UnsafeSQLError`), run
    read-only within ``timeout_s`` (a failure is a :class:`RejectedInput` with the database's message)."""
    from mscsql.db import execute_many

    if not sql.strip():
        raise RejectedInput("the example's SQL is empty", hint="give the query that answers the question")
    db.check(sql)
    [result] = execute_many([ExecutionItem(db, sql)], timeout_s=timeout_s, max_rows=10)
    if not result.ok:
        raise RejectedInput(f"the example's SQL does not run ({result.status.value}): {result.error or ''}".rstrip(),
                            hint="fix the query so it runs on the database as it is now")
    return result


def read_examples_file(path: str | Path) -> list[dict[str, Any]]:
    """The examples of a JSON file (a list of objects) or a JSONL file (one object a line), each with ``question``
    and ``sql`` and optionally ``evidence``; one :class:`RejectedInput` names every entry that is not."""
    text = read_text_file(path, "examples file", RejectedInput)
    entries: list[tuple[str, Any]] = []
    hint = 'give [{"question": ..., "sql": ...}, ...] or one such object a line'
    if text.lstrip().startswith("["):
        try:
            entries = [(f"entry {i + 1}", e) for i, e in enumerate(json.loads(text))]
        except json.JSONDecodeError as err:
            raise RejectedInput(f"examples file {path} is not JSON: {err}", hint=hint) from None
    else:  # JSON Lines: each line read alone, so a broken one is named by its own number
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                entries.append((f"line {number}", json.loads(line)))
            except json.JSONDecodeError as err:
                raise RejectedInput(f"examples file {path}, line {number}, is not a JSON object: {err.msg} "
                                    f"(column {err.colno})", hint=hint) from None
    return checked_examples(entries, f"examples file {path}")


def checked_examples(entries: Sequence[tuple[str, Any]], source: str) -> list[dict[str, Any]]:
    """The examples among ``entries`` (where each is, the entry), each with ``question``, ``sql`` and ``evidence``;
    one :class:`RejectedInput` names every entry that is not an example (``source`` says where they come from)."""
    problems, examples = [], []
    for where, entry in entries:
        if not isinstance(entry, dict):
            problems.append(f"{where}: not an object")
            continue
        unknown = set(entry) - {"question", "sql", "evidence"}
        missing = [k for k in ("question", "sql") if not isinstance(entry.get(k), str) or not entry[k].strip()]
        if missing or unknown or not isinstance(entry.get("evidence", ""), str | None):
            problems.append(f"{where}: " + "; ".join(
                [f"no {k!r} text" for k in missing] + [f"unknown field {k!r}" for k in sorted(unknown)]
                + (["'evidence' is not text"] if not isinstance(entry.get("evidence", ""), str | None) else [])))
            continue
        examples.append({"question": entry["question"], "sql": entry["sql"], "evidence": entry.get("evidence")})
    if problems:
        raise RejectedInput(f"{source} has entries that are not examples:\n  " + "\n  ".join(problems),
                            hint='each entry is {"question": "...", "sql": "...", "evidence": "..." (optional)}')
    if not examples:
        raise RejectedInput(f"{source} has no examples")
    return examples


def promoted_example(answer: dict[str, Any]) -> tuple[str, str | None, str]:
    """(question, evidence, SQL) of the verified example a stored answer (with its ``feedback``) becomes: its SQL
    when the latest feedback confirms it, the corrected SQL when the latest feedback gives one; else a
    :class:`RejectedInput` saying what is missing."""
    feedback = answer.get("feedback") or []
    if not feedback:
        raise RejectedInput(f"answer {answer.get('id')!r} has no feedback: only a confirmed or corrected answer can "
                            "become a verified example",
                            hint="confirm it (feedback with correct: true) or correct it (correct: false with sql)")
    latest = feedback[-1]
    if latest.get("sql"):
        sql = str(latest["sql"])
    elif latest.get("correct") and answer.get("sql"):
        sql = str(answer["sql"])
    else:
        raise RejectedInput(f"the latest feedback on answer {answer.get('id')!r} says it was wrong and gives no "
                            "corrected query", hint="send feedback with the right SQL, then promote it")
    return str(answer.get("question") or ""), answer.get("evidence"), sql


class ExampleStore:
    """The verified examples of every database, in the store's database."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def add(self, database: str, question: str, sql: str, evidence: str | None = None, *, source: str = "added",
            answer_id: str | None = None) -> dict[str, Any]:
        """Keep an example (its SQL checked by the caller with :func:`verify_sql`); the same question, evidence
        and SQL a second time gives back the first one."""
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}")
        question, sql, evidence = question.strip(), sql.strip(), (evidence or "").strip() or None
        if not question:
            raise RejectedInput("the example's question is empty")
        table = examples_table
        with self.engine.begin() as conn:
            same = conn.execute(sa.select(table).where(
                table.c.database == database, table.c.question == question, table.c.sql == sql,
                table.c.evidence.is_(None) if evidence is None else table.c.evidence == evidence)).mappings().first()
            if same is not None:
                return _record(same)
            now = datetime.now(UTC)
            number = conn.execute(table.insert().values(database=database, question=question, evidence=evidence,
                                                        sql=sql, source=source, answer_id=answer_id,
                                                        created_at=now)).inserted_primary_key[0]
        return {"id": int(number), "database": database, "question": question, "evidence": evidence, "sql": sql,
                "source": source, "answer_id": answer_id, "created_at": now.isoformat()}

    def list(self, database: str) -> list[dict[str, Any]]:
        """The database's examples, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(examples_table).where(examples_table.c.database == database)
                                .order_by(examples_table.c.id)).mappings().all()
        return [_record(r) for r in rows]

    def verified(self, database: str) -> tuple[VerifiedExample, ...]:
        """The database's examples as the pipeline reads them."""
        return tuple(VerifiedExample(r["question"], r["sql"], r["evidence"], r["id"]) for r in self.list(database))

    def version(self, database: str) -> tuple[int, int]:
        """(how many, the highest id): changes whenever an example is added or removed."""
        with self.engine.connect() as conn:
            count, highest = conn.execute(sa.select(sa.func.count(), sa.func.max(examples_table.c.id))
                                          .where(examples_table.c.database == database)).one()
        return int(count), int(highest or 0)

    def remove(self, database: str, example_id: int) -> None:
        """Delete one example of ``database`` (an unknown id is a :class:`NotFound`)."""
        with self.engine.begin() as conn:
            gone = conn.execute(examples_table.delete().where(examples_table.c.database == database,
                                                              examples_table.c.id == example_id)).rowcount
        if not gone:
            raise NotFound(f"database {database!r} has no example {example_id}",
                           hint="list them with `mscsql examples list` or GET /v1/databases/{name}/examples")


def _record(row: Any) -> dict[str, Any]:
    return {"id": int(row["id"]), "database": row["database"], "question": row["question"],
            "evidence": row["evidence"], "sql": row["sql"], "source": row["source"], "answer_id": row["answer_id"],
            "created_at": utc_iso(row["created_at"])}
