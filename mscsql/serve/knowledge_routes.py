"""The HTTP routes for what people teach the service: verified examples and notes per database (reads with any
key, writes with an admin key), promoting a confirmed or corrected answer, and conversations."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from mscsql.serve.auth import Auth
from mscsql.serve.errors import ServiceError
from mscsql.serve.service import Service


class ExampleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1)
    sql: str = Field(min_length=1)
    evidence: str | None = None


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    examples: list[ExampleRequest] = Field(min_length=1, max_length=1000)
    #: keep the examples that pass and report the others (by default none is kept unless all pass)
    skip_invalid: bool = False


class NoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=4000)


def knowledge_router(service: Service, auth: Auth) -> APIRouter:
    router = APIRouter()
    any_key, admin = [Depends(auth.key)], [Depends(auth.admin_key)]
    limits = service.config.limits

    def short_enough(request: ExampleRequest) -> None:
        if len(request.sql) > limits.max_sql_chars or len(request.question) > limits.max_question_chars:
            raise ServiceError(413, "too_long", f"questions may have {limits.max_question_chars} characters and SQL "
                                                f"{limits.max_sql_chars}")

    @router.get("/v1/databases/{name}/examples", dependencies=any_key)
    async def examples(name: str) -> dict[str, Any]:
        return {"examples": await asyncio.to_thread(service.examples, name)}

    @router.post("/v1/databases/{name}/examples", dependencies=admin, status_code=201)
    async def add_example(name: str, request: ExampleRequest) -> dict[str, Any]:
        """Keep a verified example; its SQL must pass the read-only guard and run on the database."""
        short_enough(request)
        service.database(name)
        return await asyncio.to_thread(service.add_example, name, request.question, request.sql, request.evidence)

    @router.post("/v1/databases/{name}/examples/import", dependencies=admin, status_code=201)
    async def import_examples(name: str, request: ImportRequest) -> dict[str, Any]:
        """Keep many verified examples at once, each checked and run first; one that fails keeps none of them
        (400, naming each), unless ``skip_invalid``. Returns the examples kept, how many were kept before, and
        why the others failed (by their number, from 1)."""
        for example in request.examples:
            short_enough(example)
        service.database(name)
        report = await asyncio.to_thread(service.import_examples, name, [e.model_dump() for e in request.examples],
                                         request.skip_invalid)
        return {**report, "failed": {str(n): why for n, why in report["failed"].items()}}

    @router.delete("/v1/databases/{name}/examples/{example_id}", dependencies=admin, status_code=204)
    async def remove_example(name: str, example_id: int) -> Response:
        await asyncio.to_thread(service.remove_example, name, example_id)
        return Response(status_code=204)

    @router.post("/v1/answers/{answer_id}/promote", dependencies=admin, status_code=201)
    async def promote(answer_id: str) -> dict[str, Any]:
        """The answer, confirmed (or corrected) by feedback, becomes a verified example of its database."""
        return await asyncio.to_thread(service.promote, answer_id)

    @router.get("/v1/databases/{name}/notes", dependencies=any_key)
    async def notes(name: str) -> dict[str, Any]:
        return {"notes": await asyncio.to_thread(service.notes, name)}

    @router.post("/v1/databases/{name}/notes", dependencies=admin, status_code=201)
    async def add_note(name: str, request: NoteRequest) -> dict[str, Any]:
        """Keep a note about the database; it goes into every generator prompt for it."""
        service.database(name)
        return await asyncio.to_thread(service.add_note, name, request.text)

    @router.delete("/v1/databases/{name}/notes/{note_id}", dependencies=admin, status_code=204)
    async def remove_note(name: str, note_id: int) -> Response:
        await asyncio.to_thread(service.remove_note, name, note_id)
        return Response(status_code=204)

    @router.get("/v1/conversations/{conversation_id}", dependencies=any_key)
    async def conversation(conversation_id: str) -> dict[str, Any]:
        return await asyncio.to_thread(service.conversation, conversation_id)

    return router
