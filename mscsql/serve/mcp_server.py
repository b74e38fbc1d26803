"""The MCP server: the service's read-only tools for MCP clients (assistants, IDEs), over stdio
(``mscsql mcp``) or mounted at ``/mcp`` of ``mscsql serve`` (streamable HTTP, the same API keys).

Tools: ``list_databases``, ``describe_database``, ``list_examples``, ``ask`` and ``run_sql``, annotated read-only
(results carry the server's row cap and a ``truncated`` flag), and ``give_feedback``, which writes only to the
service's store, never to a database (whether an answer was right, and the right query: what people say through
``POST /v1/answers/{id}/feedback``). Built on the official SDK (``mcp`` 2, ``MCPServer``)."""

from __future__ import annotations

import asyncio
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

from mscsql.errors import MscSqlError
from mscsql.serve.errors import redact
from mscsql.serve.service import Service

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                            open_world_hint=False)
#: a tool that adds a record to the service's own store (no database is written)
RECORDS = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                          open_world_hint=False)

INSTRUCTIONS = ("Answers questions about the listed databases in SQL, read-only. List the databases, describe one "
                "to see its tables, then ask a question in plain language (the answer holds the chosen SQL, its "
                "result and the candidates it was chosen among; pass its conversation_id back with a follow-up "
                "question) or run one read-only SQL query. When you learn whether an answer was right, say so with "
                "give_feedback (the right SQL too, when it was wrong); list_examples shows the questions people "
                "verified.")


class ToolFailure(ToolError):
    """A tool's error, as its message tells it (never a traceback, a key or a URL with credentials): the call
    returns ``is_error`` with the message for the model to read."""


def _checked(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except MscSqlError as err:
        raise ToolFailure(redact(str(err))) from None


def build_mcp(service: Service) -> MCPServer:
    server: MCPServer = MCPServer(name="mscsql", instructions=INSTRUCTIONS)

    @server.tool(annotations=READ_ONLY)
    async def list_databases() -> dict[str, Any]:
        """The databases this server answers questions about: name, dialect, description and tables."""
        return {"databases": await asyncio.to_thread(_checked, service.describe)}

    @server.tool(annotations=READ_ONLY)
    async def describe_database(database: str) -> dict[str, Any]:
        """One database's tables, with their columns (name, type, primary key) and foreign keys."""
        return await asyncio.to_thread(_checked, service.schema, database)

    @server.tool(annotations=READ_ONLY)
    async def ask(database: str, question: str, evidence: str | None = None,
                  conversation_id: str | None = None) -> dict[str, Any]:
        """Answer a question about a database: several SQL candidates are generated, run read-only, and one
        is chosen. Returns the chosen SQL, its result (rows capped; ``truncated`` says when more exist), the
        candidates and their groups, the answer's id and its ``conversation_id``: pass that back with a
        follow-up question ("and last year?") so it is read with the earlier ones."""
        problem = service.question_problem(question)
        if problem is not None:
            raise ToolFailure(problem)
        if not service.ready.is_set():
            raise ToolFailure("the models are still loading; retry in a few seconds")
        try:
            answer = await service.ask(database, question, evidence, conversation=conversation_id)
        except MscSqlError as err:
            raise ToolFailure(redact(str(err))) from None
        return {**answer, "max_rows": service.row_cap(None)}

    @server.tool(annotations=READ_ONLY)
    async def list_examples(database: str) -> dict[str, Any]:
        """The verified examples of a database: questions people checked, with their SQL (a question asked again
        is answered with its example's SQL)."""
        return {"examples": await asyncio.to_thread(_checked, service.examples, database)}

    @server.tool(annotations=RECORDS)
    async def give_feedback(answer_id: str, correct: bool, sql: str | None = None) -> dict[str, Any]:
        """Say whether an answer (its ``id`` from ``ask``) was right; when it was wrong, ``sql`` may give the right
        query (one read-only statement, checked). Kept with the answer in the service's store: a follow-up
        question builds on a corrected query, and people may make it a verified example."""
        return await asyncio.to_thread(_checked, service.add_feedback, answer_id, correct, sql)

    @server.tool(annotations=READ_ONLY)
    async def run_sql(database: str, sql: str, max_rows: int | None = None) -> dict[str, Any]:
        """Run one read-only SQL query (SELECT) on a database; anything else is refused. Returns the status,
        columns, rows (capped by the server; ``truncated`` says when more exist), the row count and any error."""
        result = await asyncio.to_thread(_checked, service.run_sql, database, sql, max_rows)
        return {**result, "max_rows": service.row_cap(max_rows)}

    return server
