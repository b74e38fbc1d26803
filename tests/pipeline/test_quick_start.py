"""The README's quick start as a newcomer runs it: the demo database, then ``mscsql ask --config local-server``
against a local OpenAI-compatible server (here one the test starts, answering one fixed query, and ignoring
``n`` as Ollama and llama.cpp do)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

ANSWER = "SELECT count(*) AS customers FROM customers"
#: what the server answers (a test may change it)
ANSWER_BOX = [ANSWER]
#: seconds the server waits before each answer (a test may change it)
DELAY_BOX = [0.0]
#: what the server answers a table-selection prompt (the llm-tables linker's)
TABLES = '["orders", "customers"]'
#: the HTTP status of every completion (a test may make the server fail)
STATUS_BOX = [200]
#: model name -> what the server answers that model instead of ANSWER_BOX (a test may fill it)
ANSWERS_BY_MODEL: dict[str, str] = {}


class _Server(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict]] = []

    def _send(self, payload: dict, status: int = 200) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send({"object": "list", "data": [{"id": "qwen2.5-coder:7b"}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        type(self).requests.append(body)
        if DELAY_BOX[0]:
            time.sleep(DELAY_BOX[0])
        if STATUS_BOX[0] != 200:
            self._send({"error": {"message": "the model refused the request"}}, STATUS_BOX[0])
            return
        asks_for_tables = "you select the tables" in json.dumps(body.get("messages", []))
        sql = ANSWERS_BY_MODEL.get(str(body.get("model")), ANSWER_BOX[0])
        content = TABLES if asks_for_tables else f"```sql\n{sql}\n```"
        self._send({"choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}]})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def local_server() -> Iterator[str]:
    _Server.requests = []
    ANSWER_BOX[0] = ANSWER
    DELAY_BOX[0] = 0.0
    STATUS_BOX[0] = 200
    ANSWERS_BY_MODEL.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_demo_then_ask_a_local_server(local_server: str, tmp_path: Path) -> None:
    env = {**os.environ, "MSCSQL_LOCAL_URL": local_server, "COLUMNS": "200", "HF_HUB_OFFLINE": "1",
           "MSCSQL_CACHE_DIR": str(tmp_path / "cache")}

    def mscsql(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mscsql", *args], capture_output=True, text=True, cwd=tmp_path,
                              env=env, timeout=300)

    created = mscsql("demo", "create")
    assert created.returncode == 0, created.stderr
    asked = mscsql("ask", "--config", "local-server", "--db", "demo.sqlite", "How many customers are there?")
    assert asked.returncode == 0, asked.stderr
    assert ANSWER in asked.stdout and "120" in asked.stdout
    assert "Counts the customers." in asked.stderr  # what the SQL does, in plain English
    assert len(_Server.requests) == 4  # n: 4 asked once, then the three other samples one by one
    as_json = mscsql("ask", "--config", "local-server", "--db", "demo.sqlite", "How many customers?", "--json",
                     "--max-rows", "5", "--timeout", "2")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["result"]["rows"] == [[120]]
    # a failed answer exits 1 with --json, as it does without
    ANSWER_BOX[0] = "SELECT nope FROM customers"
    failed = mscsql("ask", "--config", "local-server", "--db", "demo.sqlite", "Anything?", "--json")
    assert failed.returncode == 1 and json.loads(failed.stdout)["result"]["status"] == "error", failed.stderr


def test_the_llm_tables_linker_is_configured_in_the_pipeline_config(local_server: str, tmp_path: Path) -> None:
    from mscsql import TextToSQL
    from mscsql.demo import create_demo

    def member(name: str) -> dict:
        return {"name": name, "backend": "openai", "model": "qwen2.5-coder:7b", "n": 1, "temperature": 0,
                "options": {"base_url": local_server}}

    config = {"use_values": False, "generators": [member("sql")],
              "linking": {"linkers": ["llm-tables"], "llm_tables": {"model": member("tables"), "samples": 2}}}
    with TextToSQL.from_config(config, db=create_demo(tmp_path / "demo.sqlite")) as t2s:
        answer = t2s.ask("How many customers placed orders?")
    assert sorted(answer.linked_schema.table_names) == ["customers", "orders"]
    assert answer.ok and answer.sql == ANSWER
    asked_for_tables = [r for r in _Server.requests if "you select the tables" in json.dumps(r["messages"])]
    assert asked_for_tables and "regions" in json.dumps(asked_for_tables[0]["messages"])  # it saw the whole schema
    from mscsql.config import ConfigError, PipelineConfig, load_generation_config

    with pytest.raises(ConfigError, match="llm-tables linker needs llm_tables"):
        load_generation_config({**config, "linking": {"linkers": ["llm-tables"]}}, PipelineConfig)


def test_a_whole_config_is_checked_before_any_stage_runs(local_server: str, tmp_path: Path) -> None:
    """A replayed prediction file (which only a benchmark run can match to questions) and a missing encoder
    checkpoint are reported before the first generator is asked anything."""
    from mscsql import TextToSQL
    from mscsql.demo import create_demo
    from mscsql.errors import ConfigError, DatasetError

    db = create_demo(tmp_path / "demo.sqlite")
    predictions = tmp_path / "predictions.sql"
    predictions.write_text("SELECT 1\n")
    server = {"name": "sql", "backend": "openai", "model": "qwen2.5-coder:7b", "n": 1, "temperature": 0,
              "options": {"base_url": local_server}}
    replayed = {"name": "published", "backend": "replay", "n": 1, "options": {"predictions": str(predictions)}}
    base = {"use_values": False, "linking": {"linkers": ["keep-all"]}}
    _Server.requests = []
    with TextToSQL.from_config({**base, "generators": [server, replayed]}, db=db) as t2s, \
            pytest.raises(DatasetError, match="only a benchmark run can match"):
        t2s.ask("How many customers are there?")
    missing = {**base, "generators": [server], "selection": {"selector": "encoder",
                                                             "encoder": str(tmp_path / "no-critic")}}
    with TextToSQL.from_config(missing, db=db) as t2s, pytest.raises(ConfigError, match="not an encoder critic"):
        t2s.ask("How many customers are there?")
    assert [r for r in _Server.requests if "messages" in r] == []


def test_each_question_can_be_kept_to_its_own_tables(local_server: str, tmp_path: Path) -> None:
    from mscsql import TextToSQL
    from mscsql.demo import create_demo
    from mscsql.stages import Limits
    from mscsql.types import TablePolicy

    ANSWER_BOX[0] = "SELECT name FROM products ORDER BY unit_price DESC LIMIT 1"
    config = {"use_values": False, "linking": {"linkers": ["keep-all"]},
              "generators": [{"name": "sql", "backend": "openai", "model": "qwen2.5-coder:7b", "n": 1,
                              "temperature": 0, "options": {"base_url": local_server}}]}
    question = "What is the most expensive product?"
    with TextToSQL.from_config(config, db=create_demo(tmp_path / "demo.sqlite")) as t2s:
        kept, free = t2s.run_batch([question, question], limits=[
            Limits(timeout_s=5, max_rows=10, tables=TablePolicy.of(allow=["customers", "orders"])),
            Limits(timeout_s=5, max_rows=10)])
    assert kept is not None and free is not None
    assert kept.result.status.value == "rejected" and "products" in kept.result.error
    assert sorted(kept.linked_schema.table_names) == ["customers", "orders"]
    assert free.ok and free.result.rows and "products" in free.linked_schema.table_names
    shown = [json.dumps(r["messages"]) for r in _Server.requests if "messages" in r]
    assert any("products" not in text for text in shown) and any("products" in text for text in shown)


def test_ask_runs_the_paper_config_with_every_model_replaced_by_set(local_server: str, tmp_path: Path) -> None:
    """``mscsql ask --config paper`` with every model moved to the local server by ``--set``: the table selector
    is sampled 5 times at temperature 1.0, each generator once greedily, and the pairwise critic is not asked
    when every candidate returns the same result."""
    from mscsql.demo import create_demo

    create_demo(tmp_path / "demo.sqlite")
    server = f"{{base_url: {local_server}}}"
    sets = ["linking.llm_tables.model.backend=openai", "linking.llm_tables.model.model=qwen2.5-coder:7b",
            f"linking.llm_tables.model.options={server}", "use_values=false"]
    for item in ("generators.mistral-7b", "generators.llama-3-8b", "generators.gemma-2-9b",
                 "selection.critic.models.0", "selection.critic.models.1", "selection.critic.models.2"):
        sets += [f"{item}.backend=openai", f"{item}.model=qwen2.5-coder:7b", f"{item}.options={server}"]
    env = {**os.environ, "COLUMNS": "200", "HF_HUB_OFFLINE": "1", "MSCSQL_CACHE_DIR": str(tmp_path / "cache")}
    asked = subprocess.run([sys.executable, "-m", "mscsql", "ask", "--config", "paper", "--db", "demo.sqlite",
                            "How many customers are there?", "--json", *[x for s in sets for x in ("--set", s)]],
                           capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["result"]["rows"] == [[120]] and answer["unanimous"] and answer["selector"] == "critic"
    assert sorted(answer["linked_tables"]) == ["customers", "orders"]
    tables = [r for r in _Server.requests if "you select the tables" in json.dumps(r.get("messages", []))]
    sql = [r for r in _Server.requests if "messages" in r and r not in tables]
    # five answers: asked for n=5 once, then (the server ignoring n) for the four others one by one
    assert tables[0]["n"] == 5 and len(tables) == 5 and {r["temperature"] for r in tables} == {1.0}
    assert len(sql) == 3 and {r["temperature"] for r in sql} == {0.0} and {r.get("n", 1) for r in sql} == {1}
    assert not any(r.get("top_logprobs") for r in _Server.requests)  # one result: no critic call

    wrong = subprocess.run([sys.executable, "-m", "mscsql", "ask", "--config", "paper", "--db", "demo.sqlite",
                            "How many?", "--set", "generators.gpt-4.model=x"],
                           capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert wrong.returncode == 2 and "no item named 'gpt-4'" in wrong.stderr and "mistral-7b" in wrong.stderr
    assert "Traceback" not in wrong.stderr
