"""The service behind ``mscsql serve`` and ``mscsql mcp``: one set of loaded models shared by every configured
database, a batcher per database, and the answer store. Everything here is synchronous; the HTTP and MCP
layers call it from their own threads."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

from mscsql.db import connect, execute_many
from mscsql.errors import ConfigError, MscSqlError, NotFound
from mscsql.pipeline import TextToSQL
from mscsql.serve.batching import Batcher, PendingAsk
from mscsql.serve.config import ServeConfig
from mscsql.stages import Limits, Models, check_before_stages
from mscsql.store import Store
from mscsql.types import ExecutionItem, Question

log = logging.getLogger(__name__)


class AskTimedOut(MscSqlError):
    """No answer within the service's request timeout (the question is dropped from its batch)."""


class Service:
    """The databases, models, batchers and store of one ``mscsql serve`` process."""

    def __init__(self, config: ServeConfig, base: Path | None = None) -> None:
        self.config = config
        self.pipeline = config.pipeline_config(base)
        self.models = Models(self.pipeline)
        self.ready = threading.Event()
        self._checked = False
        self.databases: dict[str, TextToSQL] = {}
        opened: dict[str, Any] = {}
        try:
            for name, entry in config.databases.items():
                opened[name] = connect(entry.url, execution=self.pipeline.execution, tables_json=entry.tables_json,
                                       schema_settings=self.pipeline.schema_settings)
                if getattr(opened[name], "privileged", False) and not entry.allow_superuser:
                    raise ConfigError(f"database {name!r} is reached as a superuser or root, which generated SQL "
                                      "must never run as",
                                      hint=f"connect as a read-only role (mscsql db readonly-role), or set "
                                           f"databases.{name}.allow_superuser: true")
            self.store = Store(config.store)  # only once every database may be served: a refused start makes none
        except Exception:  # nothing is left open for a service that cannot start
            for db in opened.values():
                db.close()
            raise
        for name, db in opened.items():
            self.databases[name] = TextToSQL(self.pipeline, db, models=self.models, store=self.store, name=name)
        self.batchers = {name: Batcher(t2s.run_batch, window_s=config.batching.window_ms / 1000,
                                       max_batch=config.batching.max_batch, name=name)
                         for name, t2s in self.databases.items()}

    # -- readiness ------------------------------------------------------------------------------------------

    def check(self) -> None:
        """What would stop the service later (models that cannot run, replay sources, checkpoints), checked
        once and before anything loads."""
        if not self._checked:
            check_before_stages(self.pipeline, self.models)
            self._checked = True

    def load(self) -> None:
        """Check the config and load every model (the service is ready after this)."""
        self.check()
        for member in self.pipeline.generators:
            self.models.generator(member)
        _ = self.models.linker
        _ = self.models.selector
        for t2s in self.databases.values():
            t2s.db.schema()
            if self.pipeline.use_values:
                t2s.value_index()
        self.ready.set()
        log.info("ready: %d databases, %d generators", len(self.databases), len(self.pipeline.generators))

    # -- what clients can ask -------------------------------------------------------------------------------

    def database(self, name: str) -> TextToSQL:
        if name not in self.databases:
            raise NotFound(f"no database named {name!r}", hint=f"the service has: {', '.join(self.databases)}")
        return self.databases[name]

    def describe(self) -> list[dict[str, Any]]:
        return [{"name": name, "dialect": t2s.db.dialect, "description": self.config.databases[name].description,
                 "tables": t2s.db.schema().table_names} for name, t2s in self.databases.items()]

    def schema(self, name: str) -> dict[str, Any]:
        schema = self.database(name).db.schema()
        return {"name": name, "dialect": schema.dialect, "tables": [
            {"name": t.qualified_name, "kind": t.kind, "description": t.description,
             "columns": [{"name": c.name, "type": c.type, "primary_key": c.primary_key, "description":
                          c.description} for c in t.columns],
             "foreign_keys": [{"columns": list(fk.columns), "ref_table": fk.ref_table,
                               "ref_columns": list(fk.ref_columns)} for fk in t.foreign_keys]}
            for t in schema.tables]}

    def row_cap(self, asked: int | None) -> int:
        """The client's row limit, capped by the server's."""
        cap = self.config.limits.max_rows
        return cap if asked is None else max(1, min(asked, cap))

    def submit_ask(self, database: str, question: str, evidence: str | None, max_rows: int | None,
                   on_event: Any = None, conversation: str | None = None) -> PendingAsk:
        t2s = self.database(database)
        limits = Limits(timeout_s=t2s.config.execution.timeout_s, max_rows=self.row_cap(max_rows))
        ask = PendingAsk(Question(question, db_id=database, evidence=evidence, conversation=conversation), limits,
                         on_event)
        return self.batchers[database].submit(ask)

    def question_problem(self, question: str) -> str | None:
        """Why ``question`` is over the service's limits, or None."""
        most = self.config.limits.max_question_chars
        return None if len(question) <= most else f"the question has {len(question)} characters; at most {most} " \
                                                  "are accepted"

    async def ask(self, database: str, question: str, evidence: str | None = None, max_rows: int | None = None,
                  on_event: Any = None, conversation: str | None = None) -> dict[str, Any]:
        """Answer through the database's batcher and keep the answer; a timeout (:class:`AskTimedOut`) or the
        caller's cancellation drops the question from its batch. ``conversation``: an earlier answer's
        ``conversation_id`` (an unknown one, or one of another database, is refused before anything runs)."""
        if conversation is not None:
            self.database(database)
            await asyncio.to_thread(self.store.conversations.require, conversation, database)
        pending = self.submit_ask(database, question, evidence, max_rows, on_event, conversation)
        timeout = self.config.limits.request_timeout_s
        try:
            answer = await asyncio.wait_for(asyncio.wrap_future(pending.result), timeout)
        except TimeoutError:
            pending.cancelled.set()
            raise AskTimedOut(f"no answer within {timeout:g} s") from None
        except asyncio.CancelledError:
            pending.cancelled.set()
            raise
        if answer is None:  # cancelled between stages
            raise asyncio.CancelledError
        return await asyncio.to_thread(self.keep, database, answer)

    def keep(self, database: str, answer: Any) -> dict[str, Any]:
        """The answer as the API returns it, with the id it is stored under."""
        answer_id = self.database(database).keep(answer)
        return {**answer.to_dict(), "database": database, "id": answer_id}

    def answer(self, answer_id: str) -> dict[str, Any]:
        found = self.store.answers.get(answer_id)
        if found is None:
            raise NotFound(f"no answer with id {answer_id!r}")
        return {**found, "feedback": self.store.answers.feedback(answer_id)}

    def add_feedback(self, answer_id: str, correct: bool, sql: str | None) -> dict[str, Any]:
        """Feedback on a stored answer; a corrected query must be one read-only statement for its database."""
        found = self.answer(answer_id)
        return self.database(str(found.get("database"))).feedback(answer_id, correct, sql)

    # -- what people teach (writes need an admin key at the HTTP layer) ----------------------------------------

    def examples(self, database: str) -> list[dict[str, Any]]:
        return self.database(database).examples()

    def add_example(self, database: str, question: str, sql: str, evidence: str | None) -> dict[str, Any]:
        return self.database(database).add_example(question, sql, evidence)

    def import_examples(self, database: str, examples: list[dict[str, Any]], skip_invalid: bool) -> dict[str, Any]:
        return self.database(database).import_examples(examples, skip_invalid=skip_invalid)

    def remove_example(self, database: str, example_id: int) -> None:
        self.database(database).remove_example(example_id)

    def promote(self, answer_id: str) -> dict[str, Any]:
        """The stored answer ``answer_id``, confirmed or corrected by feedback, made a verified example."""
        found = self.answer(answer_id)
        return self.database(str(found.get("database"))).promote(found)

    def notes(self, database: str) -> list[dict[str, Any]]:
        return self.database(database).notes()

    def add_note(self, database: str, text: str) -> dict[str, Any]:
        return self.database(database).add_note(text)

    def remove_note(self, database: str, note_id: int) -> None:
        self.database(database).remove_note(note_id)

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        return self.store.conversations.get(conversation_id)

    def run_sql(self, database: str, sql: str, max_rows: int | None) -> dict[str, Any]:
        """One statement through the guard and the read-only execution (a refusal raises UnsafeSQLError)."""
        t2s = self.database(database)
        t2s.db.check(sql)  # refused statements are the client's error (400), not a result
        [result] = execute_many([ExecutionItem(t2s.db, sql)], timeout_s=t2s.config.execution.timeout_s,
                                max_rows=self.row_cap(max_rows))
        return result.to_dict()

    def observe(self, observer: Any) -> None:
        """``observer(event)`` receives every stage event of every batch once (the metrics)."""
        for batcher in self.batchers.values():
            batcher.observer = observer

    @property
    def queue_depth(self) -> int:
        return sum(b.depth for b in self.batchers.values())

    def close(self) -> None:
        for batcher in self.batchers.values():
            batcher.close()
        for t2s in self.databases.values():
            t2s.close()
        self.models.close()
        self.store.close()
