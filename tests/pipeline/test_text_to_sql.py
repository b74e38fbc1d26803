"""`TextToSQL` end to end on CPU: the demo database, two tiny real generators trained here on the very
prompts the pipeline builds, n > 1 sampling, read-only execution, grouping and selection."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from mscsql import Answer, TextToSQL
from mscsql.demo import create_demo
from tests import models

pytest.importorskip("transformers")
pytest.importorskip("sentence_transformers")

QUESTIONS = {
    "How many customers are there?": "SELECT count(*) FROM customers",
    "Which products cost more than 2000 dollars?": "SELECT name FROM products WHERE unit_price > 2000",
    "How many orders were cancelled?": "SELECT count(*) FROM orders WHERE status = 'cancelled'",
}
#: what the second generator was taught for the last question: a plausible but wrong query
WRONG = "SELECT count(*) FROM orders"


def fence(sql: str) -> str:
    return f"```sql\n{sql}\n```"


def config(llama: Path, qwen: Path, selector: str) -> dict:
    # the wrong-prone generator comes first: first-valid trusts it, vote outnumbers it
    return {"linking": {"schema_budget_tokens": 400}, "selection": {"selector": selector},
            "generators": [
                {"name": "qwen", "backend": "hf", "model": str(qwen), "n": 1, "temperature": 0.0, "max_tokens": 40,
                 "options": {"device": "cpu", "dtype": "float32", "progress": False}},
                {"name": "llama", "backend": "hf", "model": str(llama), "n": 3, "temperature": 0.3, "max_tokens": 40,
                 "options": {"device": "cpu", "dtype": "float32", "progress": False}}]}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("pipeline")
    db = create_demo(root / "demo.sqlite")
    placeholder = config(root / "llama", root / "qwen", "vote")
    with models.one_torch_thread():
        # the prompts come from the pipeline itself (values, linking, rendering), then the models learn them
        with TextToSQL.from_config(placeholder, db=db) as t2s:
            prompts = t2s.prompts(list(QUESTIONS))
        texts = [m["content"] for p in prompts for m in p.messages] + [fence(s) for s in QUESTIONS.values()]
        llama = models.build_tiny_causal_lm(root / "llama", "llama", texts, seed=0, vocab_size=600)
        qwen = models.build_tiny_causal_lm(root / "qwen", "qwen2", [*texts, fence(WRONG)], seed=1, vocab_size=600)
        right = [(list(p.messages), fence(sql)) for p, sql in zip(prompts, QUESTIONS.values(), strict=True)]
        models.train_to_answer(llama, right, steps=300)
        models.train_to_answer(qwen, [*right[:-1], (list(prompts[-1].messages), fence(WRONG))], steps=300)
    return db, llama, qwen


def truth(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return [tuple(r) for r in conn.execute(sql).fetchall()]
    finally:
        conn.close()


def test_vote_answers_every_question_correctly(setup) -> None:
    db, llama, qwen = setup
    with models.one_torch_thread(), TextToSQL.from_config(config(llama, qwen, "vote"), db=db) as t2s:
        answers = t2s.ask_batch(list(QUESTIONS))
    for answer, (question, sql) in zip(answers, QUESTIONS.items(), strict=True):
        assert isinstance(answer, Answer) and answer.ok and answer.question.text == question
        assert sorted(answer.result.rows) == sorted(truth(db, sql))
        assert answer.selector == "vote" and answer.prompt_hash and answer.config_hash
        assert set(answer.timings) >= {"retrieval_s", "linking_s", "generation_s", "execution_s", "selection_s"}
        # every sample is accounted for: 1 from qwen, 3 from llama
        assert sum(sum(c.generators.values()) for c in answer.candidates) == 4
    contested = answers[-1]
    assert not contested.unanimous and len([g for g in contested.groups if g.ok]) == 2
    assert contested.groups[contested.chosen_group].count == 3  # llama's three samples outvote qwen's one
    assert all(a.unanimous for a in answers[:-1])


def test_first_valid_trusts_the_first_generator(setup) -> None:
    db, llama, qwen = setup
    with models.one_torch_thread(), TextToSQL.from_config(config(llama, qwen, "first-valid"), db=db) as t2s:
        answer = t2s.ask("How many orders were cancelled?")
    assert answer.sql.strip().rstrip(";") == WRONG
    assert answer.result.rows == tuple(truth(db, WRONG))


def test_a_model_that_cannot_be_found_is_one_clear_error(tmp_path: Path) -> None:
    from mscsql.errors import MscSqlError

    db = create_demo(tmp_path / "demo.sqlite")
    cfg = {"use_values": False, "generators": [{"name": "ghost", "backend": "hf", "model": str(tmp_path / "none"),
                                                 "n": 1, "temperature": 0.0}]}
    with TextToSQL.from_config(cfg, db=db) as t2s, pytest.raises(MscSqlError, match="none"):
        t2s.ask("How many customers are there?")


def test_the_critic_reads_the_groups_and_picks_the_right_one(setup, tmp_path: Path) -> None:
    """A tiny critic trained on the very prompts the pipeline shows it (both orderings) chooses the right
    group, even though the first generator proposed the wrong one."""
    db, llama, qwen = setup
    critic_path = tmp_path / "critic"
    contested = "How many orders were cancelled?"
    settings = config(llama, qwen, "critic")
    settings["selection"]["critic"] = {"models": [{"name": "judge", "backend": "hf", "model": str(critic_path),
                                                   "n": 1, "temperature": 0.0,
                                                   "options": {"device": "cpu", "dtype": "float32",
                                                               "progress": False}}], "orderings": 2}
    with models.one_torch_thread():
        with TextToSQL.from_config(config(llama, qwen, "vote"), db=db) as voter:
            reference = voter.ask(contested)
        right = reference.groups[reference.chosen_group]
        assert right.count == 3
        # a placeholder model is enough to see the critic's prompts; the real one learns them, answering
        # with the right group's letter
        models.build_tiny_causal_lm(critic_path, "llama", ["A B C", contested], seed=2, vocab_size=300)
        with TextToSQL.from_config(settings, db=db) as judge:
            prompts = judge.critic_prompts(reference)
        assert len(prompts) == 2 and prompts[0].prompt_hash != prompts[1].prompt_hash
        texts = [m["content"] for p in prompts for m in p.messages]
        models.build_tiny_causal_lm(critic_path, "llama", [*texts, "A", "B"], seed=2, vocab_size=600)
        letters = ["A", "B"]  # identity order: the right group (most samples) comes first; reversed, second
        models.train_to_answer(critic_path, [(list(p.messages), letter) for p, letter in zip(prompts, letters,
                                                                                            strict=True)], steps=200)
        with TextToSQL.from_config(settings, db=db) as t2s:
            answer = t2s.ask(contested)
    assert answer.selector == "critic" and answer.ok
    assert sorted(answer.result.rows) == sorted(truth(db, QUESTIONS[contested]))
    assert answer.groups[answer.chosen_group].score > 0.5
    assert abs(sum(g.score for g in answer.groups) - 1.0) < 1e-6


def test_a_trace_keeps_every_stage_and_replays_without_the_models(setup, tmp_path: Path) -> None:
    db, llama, qwen = setup
    trace = tmp_path / "trace"
    with models.one_torch_thread(), TextToSQL.from_config(config(llama, qwen, "vote"), db=db,
                                                          trace_dir=trace) as t2s:
        answers = t2s.ask_batch(list(QUESTIONS))
    records = [json.loads(line) for line in (trace / "trace.jsonl").read_text().splitlines()]
    assert [r["question"] for r in records] == list(QUESTIONS)
    assert all({len(v) for v in r["samples"].values()} <= {1, 3} and r["prompt_hash"] for r in records)
    assert all(r["linked_columns"] and r["sql"] == a.sql for r, a in zip(records, answers, strict=True))
    # what each confidence read: the share is the chosen group's samples of all (three generators' samples)
    for r in records:
        samples = sum(g["count"] for g in r["groups"])
        assert r["confidence_features"]["share"] == r["groups"][r["chosen_group"]]["count"] / samples
    # the stored samples replay the run: no model is loaded, the same answers come back
    replay = {"linking": {"schema_budget_tokens": 400}, "generators": [
        {"name": name, "backend": "replay", "n": 1, "options": {"samples": str(trace / "samples.jsonl"),
                                                               "generator": name}} for name in ("qwen", "llama")]}
    with TextToSQL.from_config(replay, db=db) as replayed:
        again = replayed.ask_batch(list(QUESTIONS))
    assert [a.sql for a in again] == [a.sql for a in answers]


def test_the_encoder_critic_runs_from_a_checkpoint(setup, tmp_path: Path) -> None:
    """A saved encoder critic (here with its fresh head, which follows agreement) selects in the pipeline."""
    from mscsql.critic.encoder import EncoderCritic

    db, llama, qwen = setup
    with models.one_torch_thread():
        EncoderCritic.from_pretrained().save(tmp_path / "encoder-critic")
        settings = config(llama, qwen, "encoder")
        settings["selection"]["encoder"] = str(tmp_path / "encoder-critic")
        with TextToSQL.from_config(settings, db=db) as t2s:
            answer = t2s.ask("How many orders were cancelled?")
    assert answer.selector == "encoder" and answer.ok
    assert sorted(answer.result.rows) == sorted(truth(db, QUESTIONS["How many orders were cancelled?"]))
    scores = [g.score for g in answer.groups]
    assert abs(sum(scores) - 1.0) < 1e-6 and answer.groups[answer.chosen_group].score == max(scores)


def _replay_config(trace: Path, selector: dict) -> dict:
    return {"linking": {"schema_budget_tokens": 400}, "selection": selector, "generators": [
        {"name": name, "backend": "replay", "n": 1, "options": {"samples": str(trace / "samples.jsonl"),
                                                               "generator": name}} for name in ("qwen", "llama")]}


def test_concurrent_asks_get_each_selector_s_sequential_answers(setup, tmp_path: Path) -> None:
    """Several threads sharing one TextToSQL: every answer (its choice and the selector's scores, which depend
    on the question's own schema text for a critic) is the one the same question gets alone."""
    from concurrent.futures import ThreadPoolExecutor

    db, llama, qwen = setup
    trace = tmp_path / "trace"
    with models.one_torch_thread(), TextToSQL.from_config(config(llama, qwen, "vote"), db=db,
                                                          trace_dir=trace) as t2s:
        t2s.ask_batch(list(QUESTIONS))
    judge = models.build_tiny_causal_lm(tmp_path / "judge", "llama", ["A B C", *QUESTIONS], seed=3, vocab_size=300)
    critic = {"models": [{"name": "judge", "backend": "hf", "model": str(judge), "n": 1, "temperature": 0.0,
                          "options": {"device": "cpu", "dtype": "float32", "progress": False}}]}
    selectors = [{"selector": "vote"}, {"selector": "first-valid"}, {"selector": "max-logprob"},
                 {"selector": "encoder"}, {"selector": "critic", "critic": critic}]
    asked = [*QUESTIONS, *QUESTIONS, *QUESTIONS]
    with models.one_torch_thread():
        for selector in selectors:
            with TextToSQL.from_config(_replay_config(trace, selector), db=db) as t2s:
                alone = {q: t2s.ask(q) for q in QUESTIONS}
                with ThreadPoolExecutor(max_workers=4) as pool:
                    together = list(pool.map(t2s.ask, asked))
            for question, answer in zip(asked, together, strict=True):
                expected = alone[question]
                assert answer.question.text == question
                assert (answer.sql, answer.chosen_group, answer.prompt_hash) == \
                    (expected.sql, expected.chosen_group, expected.prompt_hash), selector["selector"]
                assert [g.score for g in answer.groups] == pytest.approx([g.score for g in expected.groups]) \
                    if expected.groups[0].score is not None else all(g.score is None for g in answer.groups)


def test_stages_report_progress_and_a_cancelled_question_is_dropped(setup, tmp_path: Path) -> None:
    from mscsql.stages import BatchControl, StageEvent

    db, llama, qwen = setup
    trace = tmp_path / "trace"
    with models.one_torch_thread(), TextToSQL.from_config(config(llama, qwen, "vote"), db=db,
                                                          trace_dir=trace) as t2s:
        t2s.ask_batch(list(QUESTIONS))
    events: list[StageEvent] = []
    cancelled: set[int] = {2}  # the last question is cancelled before anything runs

    def watch(event: StageEvent) -> None:
        events.append(event)
        if event.stage == "generation" and event.status == "finished" and event.generator == "qwen":
            cancelled.add(0)  # the first is cancelled while the generators run

    with TextToSQL.from_config(_replay_config(trace, {"selector": "vote"}), db=db) as t2s:
        answers = t2s.run_batch(list(QUESTIONS), control=BatchControl(on_event=watch,
                                                                     cancelled=lambda i: i in cancelled))
    assert answers[0] is None and answers[2] is None
    assert answers[1] is not None and answers[1].question.text == list(QUESTIONS)[1] and answers[1].ok
    steps = [(e.stage, e.status, e.generator) for e in events]
    assert steps == [("linking", "started", None), ("linking", "finished", None),
                     ("generation", "started", "qwen"), ("generation", "finished", "qwen"),
                     ("generation", "started", "llama"), ("generation", "finished", "llama"),
                     ("execution", "started", None), ("execution", "finished", None),
                     ("selection", "started", None), ("selection", "finished", None)]
    by_step = {(e.stage, e.status, e.generator): e for e in events}
    assert by_step[("linking", "started", None)].questions == (0, 1)
    assert by_step[("generation", "started", "qwen")].questions == (0, 1)
    assert by_step[("generation", "started", "llama")].questions == (1,)
    assert by_step[("selection", "finished", None)].questions == (1,)
    assert by_step[("generation", "finished", "llama")].detail["samples"] == 3
    assert all(e.elapsed_s is not None and e.elapsed_s >= 0 for e in events if e.status == "finished")
