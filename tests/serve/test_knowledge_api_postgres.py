"""What people teach and say, through a live ``mscsql serve`` on PostgreSQL: the demo database loaded into a new
PostgreSQL database and the service's store in another. Verified examples (admin writes only, checked by the
guard), answers with explanations, feedback, promotion and a follow-up question; nothing changes the demo
database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import dbutil
from tests.pipeline.test_knowledge_postgres import two_databases  # noqa: F401
from tests.pipeline.test_quick_start import ANSWER, ANSWER_BOX, _Server, local_server  # noqa: F401
from tests.serve.test_api import Served, _serve

KEY, ADMIN = "reader-key-pg", "admin-key-pg"
CANCELLED = "SELECT count(*) FROM orders WHERE status = 'cancelled'"
SMB = "SELECT count(*) FROM customers WHERE segment = 'SMB'"


@pytest.fixture()
def served_on_postgres(tmp_path: Path, local_server: str,  # noqa: F811
                       two_databases: tuple[str, str]) -> Iterator[tuple[Served, str]]:  # noqa: F811
    demo, store = two_databases
    # the test server's only login is a superuser (a read-only role is tested in tests/test_cli_safety.py)
    extra = f"databases:\n  shop: {{url: '{demo}', description: the demo on PostgreSQL, allow_superuser: true}}\n"
    folder = tmp_path / "service"  # the fixture's demo.sqlite (the copy's source) stays apart
    folder.mkdir()
    for served in _serve(folder, local_server, keys=KEY, admin_keys=ADMIN, extra=extra, store=store):
        yield served, demo


def test_examples_feedback_promotion_and_follow_ups_on_postgresql(
        served_on_postgres: tuple[Served, str]) -> None:
    served, demo = served_on_postgres
    before = dbutil.fingerprint(demo)
    ANSWER_BOX[0] = ANSWER
    with served.client(KEY) as reader, served.client(ADMIN) as admin:
        example = {"question": "How many orders were cancelled?", "sql": CANCELLED}
        assert reader.post("/v1/databases/shop/examples", json=example).status_code == 403
        refused = admin.post("/v1/databases/shop/examples", json={"question": "Empty it", "sql": "TRUNCATE orders"})
        assert refused.status_code == 400 and "read-only guard" in refused.json()["error"]["message"]
        assert admin.post("/v1/databases/shop/examples", json=example).status_code == 201
        assert [e["sql"] for e in reader.get("/v1/databases/shop/examples").json()["examples"]] == [CANCELLED]

        verified = reader.post("/v1/ask", json={"database": "shop", "question": "How many orders were cancelled?"})
        assert verified.status_code == 200 and verified.json()["source"] == "verified"
        assert verified.json()["confidence"] == 1.0

        asked = reader.post("/v1/ask", json={"database": "shop", "question": "How many SMB customers are there?"})
        assert asked.status_code == 200, asked.text
        answer = asked.json()
        assert (answer["source"], answer["sql"]) == ("generated", ANSWER)
        assert "customers" in answer["explanation"].lower() and 0 <= answer["confidence"] <= 1

        bad = reader.post(f"/v1/answers/{answer['id']}/feedback", json={"correct": False, "sql": "DELETE FROM orders"})
        assert bad.status_code == 400
        told = reader.post(f"/v1/answers/{answer['id']}/feedback", json={"correct": False, "sql": SMB})
        assert told.status_code == 201, told.text
        assert reader.post(f"/v1/answers/{answer['id']}/promote").status_code == 403
        promoted = admin.post(f"/v1/answers/{answer['id']}/promote")
        assert promoted.status_code == 201 and promoted.json()["sql"] == SMB
        again = reader.post("/v1/ask", json={"database": "shop", "question": "How many SMB customers are there?"})
        assert (again.json()["source"], again.json()["sql"]) == ("verified", SMB)

        follow = reader.post("/v1/ask", json={"database": "shop", "question": "And how many are Enterprise?",
                                              "conversation_id": answer["conversation_id"]})
        assert follow.status_code == 200 and follow.json()["turn"] == 1
        prompt = [m["content"] for m in _Server.requests[-1]["messages"] if m["role"] == "user"][-1]
        assert "How many SMB customers are there?" in prompt and SMB in prompt  # the corrected turn
        turns = reader.get(f"/v1/conversations/{answer['conversation_id']}").json()["turns"]
        assert [t["question"] for t in turns] == ["How many SMB customers are there?", "And how many are Enterprise?"]
    assert dbutil.fingerprint(demo) == before
