"""Critic training data from feedback on stored answers: no benchmark, labels from people's verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mscsql.demo import create_demo
from mscsql.store import Store
from tests.test_cli import mscsql

ALL = "SELECT count(*) FROM customers"
SMB = "SELECT count(*) FROM customers WHERE segment = 'SMB'"
ENTERPRISE = "SELECT count(*) FROM customers WHERE segment = 'Enterprise'"


def _answer(question: str, chosen: str, others: list[str]) -> dict:
    """An answer as the service stores it: the chosen SQL and every candidate with its generators."""
    candidates = [{"sql": chosen, "generators": {"a": 2, "b": 1}, "status": "ok", "error": None, "row_count": 1,
                   "group": 0}]
    candidates += [{"sql": sql, "generators": {"b": 1}, "status": "ok", "error": None, "row_count": 1, "group": i + 1}
                   for i, sql in enumerate(others)]
    return {"question": question, "evidence": None, "sql": chosen, "candidates": candidates}


def test_feedback_labels_the_groups_and_makes_critic_rows(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    db = create_demo(tmp_path / "demo.sqlite")
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    with Store(url) as store:
        confirmed = store.answers.put("demo", _answer("How many customers?", ALL, [SMB]))
        store.answers.add_feedback(confirmed, True)
        corrected = store.answers.put("demo", _answer("How many SMB customers?", ALL, [SMB, ENTERPRISE]))
        store.answers.add_feedback(corrected, False, "SELECT COUNT(*) FROM customers c WHERE c.segment = 'SMB'")
        only_wrong = store.answers.put("demo", _answer("How many enterprise customers?", SMB, [ENTERPRISE]))
        store.answers.add_feedback(only_wrong, False)
        unmatched = store.answers.put("demo", _answer("How many consumers?", ALL, [SMB]))
        store.answers.add_feedback(unmatched, False, "SELECT count(*) FROM customers WHERE segment = 'Consumer'")
        store.answers.put("demo", _answer("No feedback on this one", ALL, [SMB]))
        alone = store.answers.put("demo", _answer("One option only", ALL, []))
        store.answers.add_feedback(alone, True)
        store.answers.put("other", _answer("Another database", ALL, [SMB]))
    out = tmp_path / "critic-feedback"
    made = mscsql("train", "data", "critic", "--feedback", url, "--database", "demo", "--db", str(db),
                  "--output", str(out), "--eval-fraction", "0", "--orderings", "2")
    assert made.returncode == 0, made.stderr
    card = json.loads((out / "card.json").read_text())
    assert card["feedback"] == {"answers": 5, "kept": 3, "unmatched": 1, "unlabelled": 0, "one_option": 1}
    from datasets import load_from_disk

    rows = list(load_from_disk(str(out / "data"))["train"])
    assert {r["question"] for r in rows} == {"Question: How many customers?", "Question: How many SMB customers?",
                                             "Question: How many enterprise customers?"}
    for row in rows:  # one right option, and the LLM critic's completion names it
        assert sum(row["labels"]) == 1 and row["completion"] == "ABCDEFGH"[row["labels"].index(1)]
    smb = next(r for r in rows if r["question"] == "Question: How many SMB customers?")
    right_text = smb["group_texts"][smb["labels"].index(1)]
    assert "segment = 'SMB'" in right_text  # the group with the corrected query's result
    # not a benchmark run: --benchmark and --feedback do not mix, and --feedback needs the database
    assert mscsql("train", "data", "critic", "--feedback", url, "--output", str(tmp_path / "x")).returncode == 2
    empty = mscsql("train", "data", "critic", "--feedback", url, "--database", "nowhere", "--db", str(db),
                   "--output", str(tmp_path / "y"))
    assert empty.returncode == 2 and "no answer with feedback" in empty.stderr


def test_feedback_that_teaches_nothing_says_why(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    db = create_demo(tmp_path / "demo.sqlite")
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    with Store(url) as store:
        alone = store.answers.put("demo", _answer("How many customers?", ALL, []))
        store.answers.add_feedback(alone, False, "SELECT count(*) FROM customers WHERE segment = 'SMB'")
    made = mscsql("train", "data", "critic", "--feedback", url, "--database", "demo", "--db", str(db),
                  "--output", str(tmp_path / "out"))
    assert made.returncode == 2
    assert "none of the 1 answers with feedback for 'demo' makes a critic example" in made.stderr
    assert "1 all of whose candidates gave one result" in made.stderr
    assert not (tmp_path / "out" / "card.json").exists()


def test_a_follow_up_s_rows_show_the_conversation_its_critic_read(tmp_path: Path) -> None:
    """Feedback on a follow-up question teaches the critic with the earlier turns in the prompt, as the critic
    read them; a database the store names by its SQLite path needs no --db."""
    pytest.importorskip("datasets")
    from mscsql.types import Turn

    db = create_demo(tmp_path / "demo.sqlite")
    name = str(db)  # the name mscsql ask gives a file it was not given a name for
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    with Store(url) as store:
        conversation = store.conversations.start(name)
        store.conversations.add_turn(conversation, Turn("How many customers are there?", ALL, ("count",)))
        store.conversations.add_turn(conversation, Turn("And in the SMB segment?", SMB, ("count",)))
        follow = store.answers.put(name, {**_answer("And in the SMB segment?", SMB, [ALL]),
                                          "conversation_id": conversation, "turn": 1})
        store.answers.add_feedback(follow, True)
        alone = store.answers.put(name, _answer("How many enterprise customers?", ENTERPRISE, [ALL]))
        store.answers.add_feedback(alone, True)
    out = tmp_path / "critic-feedback"
    made = mscsql("train", "data", "critic", "--feedback", url, "--database", name, "--output", str(out),
                  "--eval-fraction", "0", "--orderings", "2")
    assert made.returncode == 0, made.stderr
    from datasets import load_from_disk

    rows = list(load_from_disk(str(out / "data"))["train"])
    prompts = {r["question"]: r["messages"][-1]["content"] for r in rows}
    followed = prompts["Question: And in the SMB segment?"]
    assert "Earlier questions in this conversation" in followed
    assert followed.index("How many customers are there?") < followed.index(ALL) < followed.index(
        "Question: And in the SMB segment?")
    assert "Earlier questions" not in prompts["Question: How many enterprise customers?"]
