"""Feedback without the service: the library keeps an answer, takes feedback on it and promotes it; ``mscsql ask``
keeps every answer in its store and prints its id, which ``mscsql feedback`` and ``mscsql examples promote``
take without a serve config (the store names the SQLite file the answer came from)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mscsql import TextToSQL
from mscsql.demo import create_demo
from mscsql.errors import NotFound, RejectedInput, UnsafeSQLError
from mscsql.store import Store
from tests.pipeline.test_knowledge import _config, cli_in
from tests.pipeline.test_quick_start import ANSWER, ANSWER_BOX, _Server, local_server  # noqa: F401

QUESTION = "How many customers are in the SMB segment?"
RIGHT = "SELECT count(*) FROM customers WHERE segment = 'SMB'"


def test_the_library_keeps_an_answer_takes_feedback_and_promotes_it(tmp_path: Path,
                                                                    local_server: str) -> None:  # noqa: F811
    db = create_demo(tmp_path / "demo.sqlite")
    other = create_demo(tmp_path / "other.sqlite")
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    ANSWER_BOX[0] = ANSWER  # counts every customer: the wrong answer
    try:
        with TextToSQL.from_config(_config(local_server), db=db, store=store) as t2s:
            answer = t2s.ask(QUESTION)
            assert answer.source == "generated" and answer.sql == ANSWER
            answer_id = t2s.keep(answer)
            kept = t2s.kept_answer(answer_id)
            assert (kept["question"], kept["sql"], kept["feedback"]) == (QUESTION, ANSWER, [])

            with pytest.raises(UnsafeSQLError):  # a correction is one read-only statement
                t2s.feedback(answer_id, False, "DELETE FROM customers")
            with pytest.raises(RejectedInput):  # a confirmation carries no other query
                t2s.feedback(answer_id, True, RIGHT)
            with pytest.raises(NotFound):
                t2s.feedback("0123", False)
            saved = t2s.feedback(answer_id, False, RIGHT)
            assert (saved["answer_id"], saved["correct"], saved["sql"]) == (answer_id, False, RIGHT)
            assert [(f["correct"], f["sql"]) for f in t2s.kept_answer(answer_id)["feedback"]] == [(False, RIGHT)]

            example = t2s.promote(answer_id)
            assert (example["question"], example["sql"], example["source"]) == (QUESTION, RIGHT, "promoted")
            again = t2s.ask(QUESTION)
            assert again.source == "verified" and again.sql == RIGHT
            assert again.result is not None and again.result.rows[0][0] == sqlite3_count(db, "SMB")
        with TextToSQL.from_config(_config(local_server), db=other, store=store) as elsewhere, \
                pytest.raises(NotFound):  # an answer is another database's to correct
            elsewhere.feedback(answer_id, True)
    finally:
        store.close()


def sqlite3_count(db: Path, segment: str) -> int:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM customers WHERE segment = ?", (segment,)).fetchone()[0])


def test_mscsql_ask_prints_an_id_that_feedback_and_promote_take(tmp_path: Path, local_server: str) -> None:  # noqa: F811
    mscsql = cli_in(tmp_path, local_server)

    create_demo(tmp_path / "demo.sqlite")
    ANSWER_BOX[0] = ANSWER
    asked = mscsql("ask", "--config", "local-server", "--db", "demo.sqlite", QUESTION, "--json")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["sql"] == ANSWER and answer["database"] == str(tmp_path / "demo.sqlite")
    plain = mscsql("ask", "--config", "local-server", "--db", "demo.sqlite", "How many customers are there?")
    assert plain.returncode == 0 and "mscsql feedback " in plain.stderr, plain.stderr

    refused = mscsql("feedback", answer["id"], "--wrong", "--sql", "DROP TABLE customers")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    unknown = mscsql("feedback", "0123", "--correct")
    assert unknown.returncode != 0 and "no answer with id '0123'" in unknown.stderr
    told = mscsql("feedback", answer["id"], "--wrong", "--sql", RIGHT)
    assert told.returncode == 0, told.stderr
    promoted = mscsql("examples", "promote", answer["id"])
    assert promoted.returncode == 0 and f"answer {answer['id']} is now example" in promoted.stderr, promoted.stderr

    again = mscsql("ask", "--config", "local-server", "--db", "demo.sqlite", QUESTION, "--json")
    assert again.returncode == 0, again.stderr
    verified = json.loads(again.stdout)
    assert (verified["source"], verified["sql"]) == ("verified", RIGHT)
    assert verified["result"]["rows"] == [[sqlite3_count(tmp_path / "demo.sqlite", "SMB")]]

    # a store that names a database which is not a file here needs to be told where it is
    with Store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        elsewhere = store.answers.put("warehouse", {"question": "q", "sql": "SELECT 1"})
    lost = mscsql("feedback", elsewhere, "--wrong", "--sql", "SELECT 2")
    assert lost.returncode != 0 and "--db" in lost.stderr and "Traceback" not in lost.stderr
    # a verdict alone is checked against nothing, so it needs no database
    assert mscsql("feedback", elsewhere, "--correct").returncode == 0
    both = mscsql("feedback", elsewhere, "--correct", "--config", "serve.yaml", "--db", "demo.sqlite")
    assert both.returncode == 2 and "leave --db out" in both.stderr
