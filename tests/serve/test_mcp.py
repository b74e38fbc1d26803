"""The MCP server through the official `mcp` client: over stdio (`mscsql mcp`) and at `/mcp` of a live
`mscsql serve` (streamable HTTP, with its API key): the four read-only tools listed and called."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from mscsql.demo import create_demo
from tests.pipeline.test_quick_start import ANSWER, local_server  # noqa: F401
from tests.serve.test_api import KEY, _pipeline, _serve

pytest.importorskip("mcp")

TOOLS = {"list_databases", "describe_database", "list_examples", "ask", "run_sql", "give_feedback"}


async def _exercise(client: Any) -> dict[str, Any]:
    tools = (await client.list_tools()).tools
    seen = {tool.name: tool for tool in tools}
    assert set(seen) == TOOLS
    # every tool but feedback is read-only; feedback only adds to the service's store
    assert all(tool.annotations is not None and tool.annotations.read_only_hint is (name != "give_feedback")
               for name, tool in seen.items())
    assert seen["give_feedback"].annotations.destructive_hint is False
    results = {}
    for name, arguments in [("list_databases", {}), ("describe_database", {"database": "demo"}),
                            ("ask", {"database": "demo", "question": "How many customers are there?"}),
                            ("run_sql", {"database": "demo", "sql": "SELECT order_id FROM orders", "max_rows": 500}),
                            ("run_sql", {"database": "demo", "sql": "DROP TABLE orders"}),
                            ("describe_database", {"database": "nope"})]:
        result = await client.call_tool(name, arguments)
        results[f"{name} {arguments.get('sql', arguments.get('database', ''))}"] = result
    first = results["ask demo"].structured_content  # a follow-up in the same conversation, and an unknown one
    results["follow-up"] = await client.call_tool("ask", {"database": "demo", "question": "And how many are SMB?",
                                                          "conversation_id": first["conversation_id"]})
    results["unknown conversation"] = await client.call_tool(
        "ask", {"database": "demo", "question": "And?", "conversation_id": "f" * 32})
    right = "SELECT count(*) FROM customers WHERE segment = 'SMB'"
    results["feedback"] = await client.call_tool("give_feedback", {"answer_id": first["id"], "correct": False,
                                                                   "sql": right})
    results["unsafe feedback"] = await client.call_tool(
        "give_feedback", {"answer_id": first["id"], "correct": False, "sql": "DELETE FROM orders"})
    results["unknown answer"] = await client.call_tool("give_feedback", {"answer_id": "0123", "correct": True})
    results["examples"] = await client.call_tool("list_examples", {"database": "demo"})
    return results


def _check(results: dict[str, Any]) -> None:
    listed = results["list_databases "].structured_content
    assert [d["name"] for d in listed["databases"]] == ["demo"]
    described = results["describe_database demo"].structured_content
    assert {t["name"] for t in described["tables"]} == {"regions", "customers", "products", "orders"}
    answer = results["ask demo"].structured_content
    assert answer["sql"] == ANSWER and answer["result"]["rows"] == [[120]] and answer["id"]
    assert 0 < answer["confidence"] <= 1 and answer["abstained"] is False and answer["turn"] == 0
    follow = results["follow-up"].structured_content
    assert follow["conversation_id"] == answer["conversation_id"] and follow["turn"] == 1
    unknown = results["unknown conversation"]
    assert unknown.is_error and "no conversation with id" in unknown.content[0].text
    capped = results["run_sql SELECT order_id FROM orders"].structured_content
    assert len(capped["rows"]) == 50 and capped["truncated"] is True and capped["max_rows"] == 50
    refused = results["run_sql DROP TABLE orders"]
    assert refused.is_error and "only SELECT" in refused.content[0].text
    missing = results["describe_database nope"]
    assert missing.is_error and "no database named 'nope'" in missing.content[0].text
    told = results["feedback"].structured_content
    assert not results["feedback"].is_error and told["answer_id"] == answer["id"] and told["correct"] is False
    assert results["unsafe feedback"].is_error and results["unknown answer"].is_error
    assert "no answer with id" in results["unknown answer"].content[0].text
    assert results["examples"].structured_content == {"examples": []}


def test_the_mcp_tools_over_stdio(tmp_path: Path, local_server: str) -> None:  # noqa: F811
    from mcp import Client, StdioServerParameters

    db = create_demo(tmp_path / "demo.sqlite")
    config = tmp_path / "serve.yaml"
    config.write_text(f"pipeline: {_pipeline(local_server)}\ndatabases:\n  demo: {{url: {db}}}\n"
                      f"store: sqlite:///{tmp_path / 'store.sqlite'}\nlimits: {{max_rows: 50}}\n")
    before = db.read_bytes()
    server = StdioServerParameters(command=sys.executable, args=["-m", "mscsql", "mcp", "--config", str(config)],
                                   env={**os.environ, "MSCSQL_CACHE_DIR": str(tmp_path / "cache")}, cwd=str(tmp_path))

    async def run() -> dict[str, Any]:
        async with Client(server, read_timeout_seconds=120) as client:
            return await _exercise(client)

    _check(asyncio.run(run()))
    assert db.read_bytes() == before


def test_the_mcp_tools_at_slash_mcp_with_the_api_key(tmp_path: Path, local_server: str) -> None:  # noqa: F811
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    for served in _serve(tmp_path, local_server, keys=KEY):
        async def run(key: str, url: str = served.url) -> dict[str, Any]:
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=120) as http, \
                    Client(_Transport(streamable_http_client(f"{url}/mcp", http_client=http))) as client:
                return await _exercise(client)

        _check(asyncio.run(run(KEY)))
        with pytest.raises(Exception):  # noqa: B017 - refused before any MCP message: the client fails
            asyncio.run(run("wrong"))
        # /mcp itself answers (no redirect to /mcp/, whose http:// could be wrong behind a TLS proxy)
        import httpx

        hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                 "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                            "clientInfo": {"name": "test", "version": "0"}}}
        direct = httpx.post(f"{served.url}/mcp", json=hello, follow_redirects=False, timeout=60,
                            headers={"Authorization": f"Bearer {KEY}", "Accept": "application/json, text/event-stream"})
        assert direct.status_code == 200, (direct.status_code, direct.headers.get("location"))
        assert "serverInfo" in direct.text


class _Transport:
    """An already-built transport context for ``mcp.Client``."""

    def __init__(self, context: Any) -> None:
        self._context = context

    async def __aenter__(self) -> Any:
        return await self._context.__aenter__()

    async def __aexit__(self, *exc: object) -> Any:
        return await self._context.__aexit__(*exc)
