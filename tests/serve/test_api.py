"""`mscsql serve` as a real process on 127.0.0.1: every endpoint and error status, answers streamed as
Server-Sent Events, API keys, and a database that no request can change. The generator is a local
OpenAI-compatible server the test starts (it answers every prompt with one SQL query the test sets)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mscsql.demo import create_demo
from tests.pipeline.test_quick_start import ANSWER, ANSWER_BOX, DELAY_BOX, STATUS_BOX, local_server  # noqa: F401

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")

KEY = "test-key-7f3a"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Served:
    def __init__(self, url: str, process: subprocess.Popen[str], db: Path, log: Path) -> None:
        self.url, self.process, self.db, self.log = url, process, db, log

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def _pipeline(generator_url: str) -> str:
    """A pipeline config (inline JSON) whose one generator is the local server at ``generator_url``."""
    return json.dumps({"use_values": False, "linking": {"linkers": ["keep-all"]}, "execution": {"timeout_s": 5},
                       "generators": [{"name": "local", "backend": "openai", "model": "qwen2.5-coder:7b", "n": 2,
                                       "temperature": 0.5, "options": {"base_url": generator_url}}]})


def _serve(tmp_path: Path, generator_url: str, *, keys: str = "", extra: str = "", admin_keys: str = "",
           pipeline: str | None = None, store: str | None = None) -> Iterator[Served]:
    """``mscsql serve`` on the demo database (a new SQLite file; ``extra`` with ``databases:`` names others) with
    a store in ``tmp_path`` (or at ``store``, a URL), until the generator ends."""
    db = create_demo(tmp_path / "demo.sqlite")
    config = tmp_path / "serve.yaml"
    databases = "" if "databases:" in extra else f"databases:\n  demo: {{url: {db}, description: the demo database}}\n"
    config.write_text(f"pipeline: {pipeline or _pipeline(generator_url)}\n{databases}"
                      f"store: {store or 'sqlite:///' + str(tmp_path / 'store.sqlite')}\n"
                      + ("" if "limits:" in extra else "limits: {max_rows: 50, max_question_chars: 200}\n") + extra)
    port = _free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "MSCSQL_API_KEYS": keys, "MSCSQL_ADMIN_KEYS": admin_keys,
           "MSCSQL_CACHE_DIR": str(tmp_path / "cache")}
    with log.open("w") as sink:
        process = subprocess.Popen([sys.executable, "-m", "mscsql", "serve", "--config", str(config), "--port",
                                    str(port)], stdout=sink, stderr=subprocess.STDOUT, text=True, env=env,
                                   cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"mscsql serve exited: {log.read_text()}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError(f"mscsql serve never became ready: {log.read_text()}")
        yield Served(url, process, db, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture()
def served(tmp_path: Path, local_server: str) -> Iterator[Served]:  # noqa: F811
    yield from _serve(tmp_path, local_server)


def _events(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_the_service_answers_describes_and_stores(served: Served) -> None:
    with served.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").status_code == 200
        listed = client.get("/v1/databases").json()["databases"]
        assert listed == [{"name": "demo", "dialect": "sqlite", "description": "the demo database",
                           "tables": ["regions", "customers", "products", "orders"]}]
        schema = client.get("/v1/databases/demo/schema").json()
        orders = next(t for t in schema["tables"] if t["name"] == "orders")
        assert {"name": "order_id", "type": "INTEGER", "primary_key": True, "description": None} in orders["columns"]
        assert any(fk["ref_table"] == "customers" for fk in orders["foreign_keys"])
        answer = client.post("/v1/ask", json={"database": "demo", "question": "How many customers are there?"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["sql"] == ANSWER and body["result"]["rows"] == [[120]] and body["result"]["status"] == "ok"
        assert body["result"]["truncated"] is False and body["unanimous"] is True and body["id"]
        assert body["explanation"] == "Counts the customers."
        assert sum(sum(c["generators"].values()) for c in body["candidates"]) == 2
        again = client.get(f"/v1/answers/{body['id']}")
        assert again.status_code == 200 and again.json()["sql"] == ANSWER and again.json()["id"] == body["id"]
        assert client.get("/openapi.json").json()["info"]["title"] == "mscsql"
        # feedback: kept with the answer; a corrected query must be one read-only statement
        right = client.post(f"/v1/answers/{body['id']}/feedback", json={"correct": True})
        assert right.status_code == 201 and right.json()["correct"] is True
        fixed = client.post(f"/v1/answers/{body['id']}/feedback",
                            json={"correct": False, "sql": "SELECT count(*) FROM customers WHERE segment = 'SMB'"})
        assert fixed.status_code == 201
        assert client.post(f"/v1/answers/{body['id']}/feedback",
                           json={"correct": False, "sql": "DELETE FROM customers"}).status_code == 400
        assert client.post("/v1/answers/0123/feedback", json={"correct": True}).status_code == 404
        assert client.post(f"/v1/answers/{body['id']}/feedback", json={"correct": "maybe"}).status_code == 422
        told = client.get(f"/v1/answers/{body['id']}").json()["feedback"]
        assert [(f["correct"], f["sql"]) for f in told] == [
            (True, None), (False, "SELECT count(*) FROM customers WHERE segment = 'SMB'")]
        cli = subprocess.run([sys.executable, "-m", "mscsql", "feedback", body["id"], "--config",
                              str(served.db.parent / "serve.yaml"), "--wrong", "--sql", "SELECT 1"],
                             capture_output=True, text=True, timeout=120, cwd=served.db.parent)
        assert cli.returncode == 0, cli.stderr
        assert len(client.get(f"/v1/answers/{body['id']}").json()["feedback"]) == 3
        metrics = client.get("/metrics").text
        assert 'mscsql_requests_total{route="/v1/ask",status="200"} 1.0' in metrics
        assert "mscsql_stage_seconds_count{stage=\"generation\"}" in metrics


def test_an_answer_streams_its_stages_before_it(served: Served) -> None:
    with served.client() as client:
        streamed = client.post("/v1/ask", json={"database": "demo", "question": "How many customers?",
                                                "stream": True})
        assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("text/event-stream")
        events = _events(streamed.text)
        assert [name for name, _ in events] == ["linking", "generation", "execution", "selection", "answer"]
        assert events[1][1]["generator"] == "local" and events[1][1]["samples"] == 2
        assert events[-1][1]["sql"] == ANSWER and events[-1][1]["result"]["rows"] == [[120]]
        # the Accept header asks for the same stream
        accepted = client.post("/v1/ask", json={"database": "demo", "question": "How many customers?"},
                               headers={"Accept": "text/event-stream"})
        assert [name for name, _ in _events(accepted.text)][-1] == "answer"


def test_errors_are_json_with_the_right_status(served: Served) -> None:
    with served.client() as client:
        def error(response: httpx.Response, status: int, kind: str | None = None) -> dict:
            assert response.status_code == status, response.text
            found = response.json()["error"]
            assert set(found) == {"type", "message", "hint"} and found["message"]
            assert kind is None or found["type"] == kind
            assert "Traceback" not in response.text and str(served.db) not in response.text
            return found

        error(client.post("/v1/ask", json={"database": "nope", "question": "x"}), 404, "not_found")
        error(client.get("/v1/databases/nope/schema"), 404, "not_found")
        error(client.get("/v1/answers/0123456789abcdef"), 404, "not_found")
        error(client.get("/v1/no-such-route"), 404, "not_found")
        error(client.post("/v1/ask", json={"database": "demo", "question": "x" * 201}), 413, "too_long")
        error(client.post("/v1/ask", json={"database": "demo"}), 422, "invalid_request")
        broken = error(client.post("/v1/ask", content=b"{not json", headers={"content-type": "application/json"}),
                       422, "invalid_request")
        assert broken["message"].startswith("the body is not valid JSON: ") and "(character 1)" in broken["message"]
        error(client.post("/v1/ask", json={"database": "demo", "question": "x", "colour": "red"}), 422)
        refused = error(client.post("/v1/sql", json={"database": "demo", "sql": "DROP TABLE orders"}), 400,
                        "unsafe_sql")
        assert "read-only" in refused["message"] or "only SELECT" in refused["message"]


def test_a_failing_generator_is_a_502_and_the_last_event_of_a_stream(served: Served) -> None:
    STATUS_BOX[0] = 400  # the generator's server refuses every completion (a 4xx is not retried)
    question = {"database": "demo", "question": "How many customers?"}
    with served.client() as client:
        plain = client.post("/v1/ask", json=question)
        assert plain.status_code == 502, plain.text
        failure = plain.json()["error"]
        assert failure["type"] == "generation_failed" and "400" in failure["message"]
        streamed = client.post("/v1/ask", json={**question, "stream": True})
    assert streamed.status_code == 200  # the stream had begun: the error is its last event
    name, event = _events(streamed.text)[-1]
    assert name == "error" and event == failure
    assert "Traceback" not in plain.text + streamed.text


def test_sql_runs_read_only_with_the_server_s_row_cap_and_nothing_changes_the_database(served: Served) -> None:
    before = _digest(served.db)
    with served.client() as client:
        capped = client.post("/v1/sql", json={"database": "demo", "sql": "SELECT order_id FROM orders",
                                              "max_rows": 500})
        assert capped.status_code == 200
        result = capped.json()
        assert len(result["rows"]) == 50 and result["truncated"] is True and result["status"] == "ok"
        small = client.post("/v1/sql", json={"database": "demo", "sql": "SELECT order_id FROM orders", "max_rows": 3})
        assert len(small.json()["rows"]) == 3
        failed = client.post("/v1/sql", json={"database": "demo", "sql": "SELECT nope FROM orders"})
        assert failed.status_code == 200 and failed.json()["status"] == "error"
        for attack in ["DELETE FROM orders", "SELECT 1; DROP TABLE orders", "UPDATE products SET unit_price = 0",
                       "ATTACH DATABASE 'x.sqlite' AS x", "PRAGMA writable_schema = 1"]:
            assert client.post("/v1/sql", json={"database": "demo", "sql": attack}).status_code == 400
        # a hostile generator: its answer is refused as a candidate, and the answer says so
        ANSWER_BOX[0] = "DELETE FROM orders"
        hostile = client.post("/v1/ask", json={"database": "demo", "question": "Remove every order"})
        assert hostile.status_code == 200 and hostile.json()["result"]["status"] == "rejected"
    assert _digest(served.db) == before


def test_api_keys_are_required_when_configured(tmp_path: Path, local_server: str) -> None:  # noqa: F811
    for served in _serve(tmp_path, local_server, keys=f"{KEY},other-key"):
        with served.client() as anonymous:
            assert anonymous.get("/healthz").status_code == 200  # probes need no key
            denied = anonymous.get("/v1/databases")
            assert denied.status_code == 401 and denied.json()["error"]["type"] == "unauthorized"
            assert anonymous.post("/v1/ask", json={"database": "demo", "question": "x"}).status_code == 401
        with served.client("wrong") as wrong:
            assert wrong.get("/v1/databases").status_code == 401
        with served.client(KEY) as client:
            assert client.get("/v1/databases").status_code == 200
            assert httpx.get(f"{served.url}/v1/databases", headers={"X-API-Key": "other-key"}).status_code == 200
        assert KEY not in served.log.read_text()


def test_without_keys_the_service_refuses_a_public_address(tmp_path: Path) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text("pipeline: tiny\ndatabases:\n  demo: {url: demo.sqlite}\n")
    done = subprocess.run([sys.executable, "-m", "mscsql", "serve", "--config", str(config), "--host", "0.0.0.0"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "MSCSQL_API_KEYS": ""},
                          cwd=tmp_path)
    assert done.returncode == 2 and "loopback" in done.stderr and "Traceback" not in done.stderr
    config.write_text("pipeline: tiny\ndatabases:\n  demo: {url: demo.sqlite}\ncolour: red\n")
    done = subprocess.run([sys.executable, "-m", "mscsql", "serve", "--config", str(config)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2 and "colour" in done.stderr


def test_concurrent_asks_on_one_database_share_a_batch(tmp_path: Path, local_server: str) -> None:  # noqa: F811
    from concurrent.futures import ThreadPoolExecutor

    DELAY_BOX[0] = 0.2
    for served in _serve(tmp_path, local_server, extra="batching: {window_ms: 400, max_batch: 8}\n"):
        def ask(i: int, served: Served = served) -> list[tuple[str, dict]]:
            with served.client() as client:
                reply = client.post("/v1/ask", json={"database": "demo", "question": f"How many customers? ({i})",
                                                     "stream": True})
                return _events(reply.text)

        with ThreadPoolExecutor(max_workers=6) as pool:
            streams = list(pool.map(ask, range(6)))
        assert all(events[-1][0] == "answer" and events[-1][1]["result"]["rows"] == [[120]] for events in streams)
        batches = [data["batch"] for events in streams for name, data in events if name == "generation"]
        assert max(batches) >= 2, batches  # several questions went through the generator in one call
        metrics = httpx.get(f"{served.url}/metrics").text
        assert "mscsql_batch_size_count" in metrics


def test_a_client_that_goes_away_cancels_its_question(tmp_path: Path, local_server: str) -> None:  # noqa: F811
    DELAY_BOX[0] = 3.0
    for served in _serve(tmp_path, local_server):
        with httpx.stream("POST", f"{served.url}/v1/ask", timeout=30,
                          json={"database": "demo", "question": "How many customers?", "stream": True}) as reply:
            for line in reply.iter_lines():
                if line.startswith("event: linking"):
                    break  # the client leaves while the generator is still working
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            metrics = httpx.get(f"{served.url}/metrics").text
            if "mscsql_asks_cancelled_total 1.0" in metrics:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the server never noticed the client had gone")


def test_a_postgresql_database_is_served_read_only_and_a_superuser_only_when_allowed(
        tmp_path: Path, local_server: str) -> None:  # noqa: F811
    import uuid

    from tests import conftest, dbutil

    conftest._server_or_skip("postgresql")
    name = f"mscsql_test_{uuid.uuid4().hex[:10]}"
    admin = dbutil.admin_connection("postgresql")
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        with dbutil.admin_connection("postgresql", name) as conn, conn.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")  # the fingerprint reads index pages
        loaded = subprocess.run([sys.executable, "-m", "mscsql", "demo", "create", "--db", url],
                                capture_output=True, text=True, timeout=120)
        assert loaded.returncode == 0, loaded.stderr
        shop = f"  shop: {{url: \"{url}\", description: the demo on PostgreSQL}}\n"
        config = tmp_path / "refused.yaml"
        config.write_text(f"pipeline: {_pipeline(local_server)}\ndatabases:\n{shop}")
        refused = subprocess.run([sys.executable, "-m", "mscsql", "serve", "--config", str(config)],
                                 capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert not (tmp_path / "mscsql-store.sqlite").exists()  # a service that cannot start makes no store
        assert refused.returncode == 2 and "superuser" in refused.stderr and "allow_superuser" in refused.stderr
        assert "postgres@" not in refused.stderr  # no URL with its user in the message
        before = dbutil.fingerprint(url)
        allowed = ("databases:\n" + shop.replace("}\n", ", allow_superuser: true}\n"))
        for served in _serve(tmp_path, local_server, extra=allowed):
            with served.client() as client:
                names = [d["name"] for d in client.get("/v1/databases").json()["databases"]]
                assert names == ["shop"]  # this config's databases: the demo database is not among them
                answer = client.post("/v1/ask", json={"database": "shop", "question": "How many customers?"})
                assert answer.status_code == 200 and answer.json()["result"]["rows"] == [[120]]
                for attack in ["DELETE FROM orders", "SELECT pg_terminate_backend(1)", "CREATE TABLE x (a int)",
                               "SELECT 1; DROP TABLE orders", "SELECT set_config('search_path', 'x', false)"]:
                    assert client.post("/v1/sql", json={"database": "shop", "sql": attack}).status_code == 400
                ANSWER_BOX[0] = "UPDATE products SET unit_price = 0"
                hostile = client.post("/v1/ask", json={"database": "shop", "question": "Make everything free"})
                assert hostile.json()["result"]["status"] == "rejected"
        assert dbutil.fingerprint(url) == before
    finally:
        dbutil.drop_server_database("postgresql", name)


def test_a_busy_or_slow_service_answers_429_and_504(tmp_path: Path, local_server: str) -> None:  # noqa: F811
    from concurrent.futures import ThreadPoolExecutor

    DELAY_BOX[0] = 2.0
    tight = "limits: {max_rows: 50, max_concurrent_asks: 1, request_timeout_s: 1}\n"
    for served in _serve(tmp_path, local_server, extra=tight):
        with served.client() as client, ThreadPoolExecutor(max_workers=1) as pool:
            slow = pool.submit(client.post, "/v1/ask", json={"database": "demo", "question": "How many customers?"})
            time.sleep(0.5)
            busy = client.post("/v1/ask", json={"database": "demo", "question": "And now?"})
            assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
            assert busy.json()["error"]["type"] == "busy"
            late = slow.result()
            assert late.status_code == 504 and late.json()["error"]["type"] == "timeout"


def test_before_the_models_are_loaded_asks_get_503(tmp_path: Path, local_server: str) -> None:  # noqa: F811
    from fastapi.testclient import TestClient

    from mscsql.serve.app import create_app
    from mscsql.serve.config import ServeConfig
    from mscsql.serve.service import Service

    db = create_demo(tmp_path / "demo.sqlite")
    config = ServeConfig.model_validate({"pipeline": json.loads(_pipeline(local_server)),
                                         "databases": {"demo": {"url": str(db)}},
                                         "store": f"sqlite:///{tmp_path / 'store.sqlite'}"})
    service = Service(config)
    try:
        with TestClient(create_app(service)) as client:
            assert client.get("/readyz").status_code == 503
            waiting = client.post("/v1/ask", json={"database": "demo", "question": "How many customers?"})
            assert waiting.status_code == 503 and waiting.headers["retry-after"] == "5"
            assert client.get("/v1/databases").status_code == 200  # describing needs no model
            service.load()
            assert client.get("/readyz").status_code == 200
            assert client.post("/v1/ask", json={"database": "demo", "question": "How many?"}).status_code == 200
    finally:
        service.close()


def test_a_key_written_twice_in_the_config_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text("pipeline: tiny\ndatabases:\n  demo: {url: a.sqlite}\ndatabases:\n  shop: {url: b.sqlite}\n")
    done = subprocess.run([sys.executable, "-m", "mscsql", "serve", "--config", str(config)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2 and "'databases' is written twice" in done.stderr
