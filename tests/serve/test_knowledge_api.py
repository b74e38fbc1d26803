"""Verified examples, notes, promotion and conversations through a live ``mscsql serve`` (and the same store
through the ``mscsql examples`` / ``mscsql notes`` commands): writes need an admin key, reads any key."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pipeline.test_quick_start import ANSWER, ANSWER_BOX, _Server, local_server  # noqa: F401
from tests.serve.test_api import Served, _serve

KEY, ADMIN = "reader-key-1", "admin-key-2"
CANCELLED = "SELECT count(*) FROM orders WHERE status = 'cancelled'"


@pytest.fixture()
def served(tmp_path: Path, local_server: str) -> Iterator[Served]:  # noqa: F811
    yield from _serve(tmp_path, local_server, keys=KEY, admin_keys=ADMIN)


def _mscsql(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mscsql", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def _user_prompts() -> list[str]:
    return [m["content"] for r in _Server.requests for m in r.get("messages", []) if m["role"] == "user"]


def test_examples_and_notes_need_an_admin_key_to_change(served: Served) -> None:
    with served.client(KEY) as reader, served.client(ADMIN) as admin:
        example = {"question": "How many orders were cancelled?", "sql": CANCELLED}
        refused = reader.post("/v1/databases/demo/examples", json=example)
        assert refused.status_code == 403 and refused.json()["error"]["type"] == "forbidden"
        assert served.client().post("/v1/databases/demo/examples", json=example).status_code == 401
        kept = admin.post("/v1/databases/demo/examples", json=example)
        assert kept.status_code == 201, kept.text
        assert kept.json()["question"] == example["question"] and kept.json()["source"] == "added"
        # the SQL is checked: a write is refused by the guard, a failing query is refused with its error
        bad = admin.post("/v1/databases/demo/examples", json={"question": "Drop it", "sql": "DROP TABLE orders"})
        assert bad.status_code == 400 and "read-only guard" in bad.json()["error"]["message"]
        broken = admin.post("/v1/databases/demo/examples", json={"question": "q", "sql": "SELECT nope FROM orders"})
        assert broken.status_code == 400 and "does not run" in broken.json()["error"]["message"]
        assert admin.post("/v1/databases/nowhere/examples", json=example).status_code == 404
        assert admin.post("/v1/databases/demo/examples", json={"question": "q"}).status_code == 422
        listed = reader.get("/v1/databases/demo/examples").json()["examples"]
        assert [e["sql"] for e in listed] == [CANCELLED]
        # a question asked again is answered with the verified query, without the generators
        before = len(_Server.requests)
        answer = reader.post("/v1/ask", json={"database": "demo", "question": "How many orders were cancelled?"})
        assert answer.status_code == 200 and answer.json()["source"] == "verified"
        assert answer.json()["sql"] == CANCELLED and len(_Server.requests) == before
        # notes go into the prompts
        assert reader.post("/v1/databases/demo/notes", json={"text": "x"}).status_code == 403
        note = admin.post("/v1/databases/demo/notes", json={"text": "Segment SMB means small businesses."})
        assert note.status_code == 201
        reader.post("/v1/ask", json={"database": "demo", "question": "How many small business customers?"})
        prompt = _user_prompts()[-1]
        assert "Segment SMB means small businesses." in prompt and CANCELLED in prompt
        assert [n["text"] for n in reader.get("/v1/databases/demo/notes").json()["notes"]] == [
            "Segment SMB means small businesses."]
        assert reader.delete(f"/v1/databases/demo/notes/{note.json()['id']}").status_code == 403
        assert admin.delete(f"/v1/databases/demo/notes/{note.json()['id']}").status_code == 204
        assert admin.delete(f"/v1/databases/demo/examples/{kept.json()['id']}").status_code == 204
        assert admin.delete(f"/v1/databases/demo/examples/{kept.json()['id']}").status_code == 404
        assert reader.get("/v1/databases/demo/examples").json()["examples"] == []


def test_a_confirmed_or_corrected_answer_is_promoted(served: Served) -> None:
    with served.client(KEY) as reader, served.client(ADMIN) as admin:
        first = reader.post("/v1/ask", json={"database": "demo", "question": "How many customers are there?"}).json()
        unconfirmed = admin.post(f"/v1/answers/{first['id']}/promote")
        assert unconfirmed.status_code == 400 and "no feedback" in unconfirmed.json()["error"]["message"]
        assert reader.post(f"/v1/answers/{first['id']}/feedback", json={"correct": True}).status_code == 201
        assert reader.post(f"/v1/answers/{first['id']}/promote").status_code == 403
        promoted = admin.post(f"/v1/answers/{first['id']}/promote")
        assert promoted.status_code == 201, promoted.text
        assert promoted.json()["sql"] == ANSWER and promoted.json()["source"] == "promoted"
        assert promoted.json()["answer_id"] == first["id"]
        wrong = reader.post("/v1/ask", json={"database": "demo", "question": "How many regions?"}).json()
        reader.post(f"/v1/answers/{wrong['id']}/feedback", json={"correct": False})
        assert admin.post(f"/v1/answers/{wrong['id']}/promote").status_code == 400  # wrong, with no correction
        reader.post(f"/v1/answers/{wrong['id']}/feedback",
                    json={"correct": False, "sql": "SELECT count(*) FROM regions"})
        corrected = admin.post(f"/v1/answers/{wrong['id']}/promote").json()
        assert corrected["sql"] == "SELECT count(*) FROM regions" and corrected["question"] == "How many regions?"
        assert admin.post("/v1/answers/feedface/promote").status_code == 404
        questions = [e["question"] for e in reader.get("/v1/databases/demo/examples").json()["examples"]]
        assert questions == ["How many customers are there?", "How many regions?"]


def test_conversations_over_http_and_mcp_style_follow_ups(served: Served) -> None:
    with served.client(KEY) as client:
        first = client.post("/v1/ask", json={"database": "demo", "question": "How many customers are there?"}).json()
        assert first["conversation_id"] and first["turn"] == 0
        ANSWER_BOX[0] = "SELECT count(*) AS customers FROM customers WHERE segment = 'SMB'"
        follow = client.post("/v1/ask", json={"database": "demo", "question": "And how many of them are SMB?",
                                              "conversation_id": first["conversation_id"], "stream": True})
        answer = json.loads(follow.text.strip().split("\n\n")[-1].split("data: ", 1)[1])
        assert answer["conversation_id"] == first["conversation_id"] and answer["turn"] == 1
        assert "Earlier questions in this conversation" in _user_prompts()[-1]
        kept = client.get(f"/v1/conversations/{first['conversation_id']}").json()
        assert [t["question"] for t in kept["turns"]] == ["How many customers are there?",
                                                          "And how many of them are SMB?"]
        assert [t["answer_id"] for t in kept["turns"]] == [first["id"], answer["id"]]
        missing = client.post("/v1/ask", json={"database": "demo", "question": "And?", "conversation_id": "f" * 32})
        assert missing.status_code == 404
        assert client.get(f"/v1/conversations/{'f' * 32}").status_code == 404


def test_the_examples_and_notes_commands_use_the_serve_store(tmp_path: Path, local_server: str) -> None:  # noqa: F811
    served = _serve(tmp_path, local_server, keys=KEY)  # no admin key: HTTP writes are refused
    service = next(served)
    config = tmp_path / "serve.yaml"
    try:
        with service.client(KEY) as client:
            refused = client.post("/v1/databases/demo/examples", json={"question": "q", "sql": "SELECT 1"})
            assert refused.status_code == 403 and "MSCSQL_ADMIN_KEYS" in refused.json()["error"]["hint"]
        (tmp_path / "examples.jsonl").write_text(
            json.dumps({"question": "How many orders were cancelled?", "sql": CANCELLED}) + "\n"
            + json.dumps({"question": "List the regions", "sql": "SELECT name FROM regions",
                          "evidence": "regions are sales regions"}) + "\n")
        (tmp_path / "bad.json").write_text(json.dumps([{"question": "ok", "sql": "SELECT 1"},
                                                       {"question": "bad", "sql": "DELETE FROM orders"}]))
        args = ("--config", str(config), "--database", "demo")
        imported = _mscsql("examples", "import", str(tmp_path / "examples.jsonl"), *args, cwd=tmp_path)
        assert imported.returncode == 0 and "2 examples kept for demo\n" in imported.stderr, imported.stderr
        again = _mscsql("examples", "import", str(tmp_path / "examples.jsonl"), *args, cwd=tmp_path)
        assert again.returncode == 0 and "2 examples kept for demo (2 of them already were)" in again.stderr
        failed = _mscsql("examples", "import", str(tmp_path / "bad.json"), *args, cwd=tmp_path)
        assert failed.returncode == 2 and "1 of 2 examples" in failed.stderr and "none was kept" in failed.stderr
        malformed = tmp_path / "malformed.jsonl"
        malformed.write_text('{"question": "q"}\nnot json\n')
        unreadable = _mscsql("examples", "import", str(malformed), *args, cwd=tmp_path)
        assert unreadable.returncode == 2 and "line 2, is not a JSON object" in unreadable.stderr
        assert "Traceback" not in unreadable.stderr
        added = _mscsql("examples", "add", "How many products?", "SELECT count(*) FROM products", *args, cwd=tmp_path)
        assert added.returncode == 0, added.stderr
        listed = json.loads(_mscsql("examples", "list", *args, "--json", cwd=tmp_path).stdout)
        assert [(e["question"], e["source"]) for e in listed] == [
            ("How many orders were cancelled?", "imported"), ("List the regions", "imported"),
            ("How many products?", "added")]
        assert listed[1]["evidence"] == "regions are sales regions"
        removed = _mscsql("examples", "remove", str(listed[2]["id"]), *args, cwd=tmp_path)
        assert removed.returncode == 0
        assert _mscsql("examples", "remove", "999", *args, cwd=tmp_path).returncode == 2
        assert _mscsql("notes", "add", "Revenue excludes cancelled orders.", *args, cwd=tmp_path).returncode == 0
        with service.client(KEY) as client:  # the service reads the same store
            assert len(client.get("/v1/databases/demo/examples").json()["examples"]) == 2
            assert client.get("/v1/databases/demo/notes").json()["notes"][0]["text"] == \
                "Revenue excludes cancelled orders."
            answer = client.post("/v1/ask", json={"database": "demo", "question": "How many customers?"}).json()
            client.post(f"/v1/answers/{answer['id']}/feedback", json={"correct": True})
        promoted = _mscsql("examples", "promote", answer["id"], "--config", str(config), cwd=tmp_path)
        assert promoted.returncode == 0 and "is now example" in promoted.stderr, promoted.stderr
        neither = _mscsql("examples", "list", cwd=tmp_path)
        assert neither.returncode == 2 and "--config serve.yaml --database NAME or with --db" in neither.stderr
        unknown = _mscsql("examples", "list", "--config", str(config), "--database", "nowhere", cwd=tmp_path)
        assert unknown.returncode == 2 and "its databases: demo" in unknown.stderr
    finally:
        served.close()


def test_an_admin_imports_examples_all_or_none(served: Served) -> None:
    good = [{"question": "How many orders were cancelled?", "sql": CANCELLED},
            {"question": "How many regions are there?", "sql": "SELECT count(*) FROM regions", "evidence": "all"}]
    bad = {"question": "Drop the orders", "sql": "DROP TABLE orders"}
    with served.client(KEY) as reader, served.client(ADMIN) as admin:
        url = "/v1/databases/demo/examples/import"
        assert reader.post(url, json={"examples": good}).status_code == 403
        refused = admin.post(url, json={"examples": [*good, bad]})
        assert refused.status_code == 400 and "1 of 3 examples" in refused.json()["error"]["message"]
        assert "3: 'Drop the orders'" in refused.json()["error"]["message"]
        assert reader.get("/v1/databases/demo/examples").json()["examples"] == []  # none kept
        kept = admin.post(url, json={"examples": [*good, bad], "skip_invalid": True})
        assert kept.status_code == 201, kept.text
        body = kept.json()
        assert [e["sql"] for e in body["kept"]] == [CANCELLED, "SELECT count(*) FROM regions"]
        assert list(body["failed"]) == ["3"] and body["already"] == 0
        assert admin.post(url, json={"examples": good}).json()["already"] == 2  # kept once
        assert [e["source"] for e in reader.get("/v1/databases/demo/examples").json()["examples"]] == ["imported"] * 2
        assert admin.post(url, json={"examples": []}).status_code == 422
        assert admin.post("/v1/databases/nowhere/examples/import", json={"examples": good}).status_code == 404
