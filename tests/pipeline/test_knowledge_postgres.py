"""Verified examples, notes, conversations and confidence on PostgreSQL: the demo database loaded into a new
PostgreSQL database, the store in another one (as several replicas of the service would share it). Nothing the
pipeline does changes the demo database."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from mscsql import TextToSQL
from mscsql.db.copy import copy_sqlite
from mscsql.demo import create_demo
from mscsql.errors import RejectedInput, UnsafeSQLError
from mscsql.store import Store
from tests import conftest, dbutil
from tests.pipeline.test_quick_start import ANSWER, ANSWERS_BY_MODEL, _Server, local_server  # noqa: F401

CANCELLED = "SELECT count(*) FROM orders WHERE status = 'cancelled'"


@pytest.fixture()
def two_databases(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(the demo loaded into a new PostgreSQL database, an empty PostgreSQL database for the store)."""
    conftest._server_or_skip("postgresql")
    names = [f"mscsql_test_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    urls = [dbutil.create_empty_database("postgresql", name) for name in names]
    try:
        copy_sqlite(create_demo(tmp_path / "demo.sqlite"), urls[0])
        yield urls[0], urls[1]
    finally:
        for name in names:
            dbutil.drop_server_database("postgresql", name)


def test_knowledge_on_postgresql(two_databases: tuple[str, str], local_server: str,  # noqa: F811
                                 tmp_path: Path) -> None:
    demo, store_url = two_databases
    before = dbutil.fingerprint(demo)
    member = {"backend": "openai", "n": 2, "temperature": 0.5, "options": {"base_url": local_server}}
    config = {"use_values": False, "linking": {"linkers": ["keep-all"]},
              "generators": [{**member, "name": "first", "model": "first"},
                             {**member, "name": "second", "model": "second"}]}
    with Store(store_url) as store:
        with TextToSQL.from_config(config, db=demo, store=store, name="shop") as t2s:
            with pytest.raises(UnsafeSQLError):
                t2s.add_example("Empty it", "TRUNCATE orders")
            with pytest.raises(RejectedInput, match="does not run"):
                t2s.add_example("From nowhere", "SELECT count(*) FROM invoices")
            t2s.add_example("How many orders were cancelled?", CANCELLED)
            t2s.add_note("Cancelled orders bring no revenue.")
            verified = t2s.ask("How many orders were cancelled")
            asked = len(_Server.requests)
            ANSWERS_BY_MODEL["second"] = "SELECT count(*) FROM regions"
            generated = t2s.ask("How many customers are there?")
            follow = t2s.ask("And how many regions?", conversation=generated.conversation_id)
            prompts = [r["messages"][-1]["content"] for r in _Server.requests[asked:]]
            # elsewhere, first agreed with the other generators on 20 of 200 questions, second on 190
            doubted = tmp_path / "reliability.json"
            doubted.write_text(json.dumps({"questions": 200, "generators": {"first": {"agreed": 20, "judged": 200},
                                                                            "second": {"agreed": 190, "judged": 200}}}))
        with TextToSQL.from_config({**config, "selection": {"reliability": str(doubted)}}, db=demo, store=store,
                                   name="shop") as t2s:
            unreliable = t2s.ask("How many customers are there?")
        with store.engine.connect() as conn:  # the store's tables are in the store's database
            tables = set(sa.inspect(conn).get_table_names())
    assert verified.source == "verified" and verified.confidence == 1.0 and verified.result.rows[0][0] > 0
    assert generated.source == "generated" and generated.sql == ANSWER and len(generated.groups) == 2
    assert 0 < generated.confidence < 1
    # the chosen result's generator seldom agrees with the others elsewhere: the same answer is less sure
    assert unreliable.sql == generated.sql and 0 < unreliable.confidence < generated.confidence
    assert all(CANCELLED in p and "Cancelled orders bring no revenue." in p for p in prompts)
    assert follow.turn == 1 and "Earlier questions in this conversation" in prompts[-1]
    assert {"mscsql_examples", "mscsql_notes", "mscsql_conversations", "mscsql_turns"} <= tables
    assert dbutil.fingerprint(demo) == before  # nothing of this changed the user's database
