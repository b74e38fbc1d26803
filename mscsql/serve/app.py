"""The HTTP API of ``mscsql serve`` (FastAPI; OpenAPI at ``/openapi.json`` and ``/docs``)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from mscsql.serve import errors
from mscsql.serve.auth import Auth
from mscsql.serve.errors import ServiceError
from mscsql.serve.knowledge_routes import knowledge_router
from mscsql.serve.metrics import Metrics
from mscsql.serve.service import AskTimedOut, Service
from mscsql.stages import StageEvent

log = logging.getLogger("mscsql.serve")


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    database: str
    question: str = Field(min_length=1)
    evidence: str | None = None
    max_rows: int | None = Field(None, ge=1)
    stream: bool = False
    conversation_id: str | None = Field(None, description="an earlier answer's conversation_id: ask a follow-up")


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    correct: bool
    sql: str | None = Field(None, min_length=1, description="the right query, when the answer was wrong")


class SqlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    database: str
    sql: str = Field(min_length=1)
    max_rows: int | None = Field(None, ge=1)


def create_app(service: Service, *, host: str = "127.0.0.1") -> FastAPI:
    """The API over ``service`` (its models are loaded by the caller), with the MCP server at ``/mcp``;
    ``host``: the address the server listens on (the MCP transport checks Host headers against it)."""
    mcp_app = _mcp_app(service, host)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if mcp_app is None:
            yield
            return
        async with mcp_app.router.lifespan_context(mcp_app):
            yield

    app = FastAPI(title="mscsql", version="1", summary="Questions about databases answered in SQL, read-only",
                  lifespan=lifespan)
    app.state.service = service
    metrics = Metrics()
    app.state.metrics = metrics
    service.observe(metrics.stage)
    keys, admin = service.config.auth.keys()
    auth = Auth(keys, admin, service.config.auth.admin_keys_env)
    limits = service.config.limits
    in_flight = asyncio.Semaphore(limits.max_concurrent_asks)
    errors.install(app)

    @app.middleware("http")
    async def mcp_keys(request: Request, call_next: Any) -> Response:
        if request.url.path.startswith("/mcp"):
            try:
                authorised(request)
            except ServiceError as err:
                return JSONResponse(errors.body(err.kind, err.message, err.hint), status_code=err.status,
                                    headers=err.headers)
            if request.scope["path"] == "/mcp":  # the endpoint as documented, without a redirect to /mcp/
                request.scope["path"], request.scope["raw_path"] = "/mcp/", b"/mcp/"
        return await call_next(request)

    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.requests.labels(path, str(response.status_code)).inc()
        metrics.latency.labels(path).observe(time.perf_counter() - started)
        if response.status_code >= 400:
            metrics.errors.labels(str(response.status_code)).inc()
        return response

    authorised = auth.key

    def ready() -> None:
        if not service.ready.is_set():
            raise ServiceError(503, "not_ready", "the models are still loading", "retry in a few seconds",
                               headers={"Retry-After": "5"})

    web = resources.files("mscsql.serve") / "web"

    @app.get("/", include_in_schema=False)
    async def page() -> Response:
        return Response((web / "index.html").read_bytes(), media_type="text/html; charset=utf-8",
                        headers=_PAGE_HEADERS)

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in _STATIC:
            raise ServiceError(404, "not_found", f"no file {name!r}")
        return Response((web / name).read_bytes(), media_type=_STATIC[name], headers=_PAGE_HEADERS)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        if service.ready.is_set():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "loading"}, status_code=503)

    @app.get("/metrics")
    async def prometheus() -> Response:
        metrics.queue.set(service.queue_depth)
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/databases", dependencies=[Depends(authorised)])
    async def databases() -> dict[str, Any]:
        return {"databases": await asyncio.to_thread(service.describe)}

    @app.get("/v1/databases/{name}/schema", dependencies=[Depends(authorised)])
    async def schema(name: str) -> dict[str, Any]:
        return await asyncio.to_thread(service.schema, name)

    @app.get("/v1/answers/{answer_id}", dependencies=[Depends(authorised)])
    async def stored(answer_id: str) -> dict[str, Any]:
        return await asyncio.to_thread(service.answer, answer_id)

    @app.post("/v1/answers/{answer_id}/feedback", dependencies=[Depends(authorised)], status_code=201)
    async def feedback(answer_id: str, request: FeedbackRequest) -> dict[str, Any]:
        if request.sql is not None and len(request.sql) > limits.max_sql_chars:
            raise ServiceError(413, "too_long", f"the SQL has {len(request.sql)} characters; at most "
                                                f"{limits.max_sql_chars} are accepted")
        return await asyncio.to_thread(service.add_feedback, answer_id, request.correct, request.sql)

    @app.post("/v1/sql", dependencies=[Depends(authorised)])
    async def run_sql(request: SqlRequest) -> dict[str, Any]:
        if len(request.sql) > limits.max_sql_chars:
            raise ServiceError(413, "too_long", f"the SQL has {len(request.sql)} characters; at most "
                                                f"{limits.max_sql_chars} are accepted")
        service.database(request.database)
        return await asyncio.to_thread(service.run_sql, request.database, request.sql, request.max_rows)

    @app.post("/v1/ask", dependencies=[Depends(authorised), Depends(ready)])
    async def ask(request: AskRequest, http: Request) -> Any:
        problem = service.question_problem(request.question)
        if problem is not None:
            raise ServiceError(413, "too_long", problem)
        service.database(request.database)
        if in_flight.locked():
            raise ServiceError(429, "busy", "too many questions are being answered", "retry shortly",
                               headers={"Retry-After": "1"})
        streaming = request.stream or "text/event-stream" in http.headers.get("accept", "")
        if streaming:
            return StreamingResponse(_stream(request, http), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        async with in_flight:
            return await _answer(request, None)

    async def _answer(request: AskRequest, events: asyncio.Queue[StageEvent] | None) -> dict[str, Any]:
        loop = asyncio.get_running_loop()

        def listen(event: StageEvent) -> None:
            if events is not None:
                loop.call_soon_threadsafe(events.put_nowait, event)

        metrics.in_flight.inc()
        try:
            return await service.ask(request.database, request.question, request.evidence, request.max_rows, listen,
                                     request.conversation_id)
        except AskTimedOut as err:
            metrics.cancelled.inc()
            raise ServiceError(504, "timeout", err.message) from None
        except asyncio.CancelledError:  # the client went away: the batch drops this question
            metrics.cancelled.inc()
            raise
        finally:
            metrics.in_flight.dec()

    async def _stream(request: AskRequest, http: Request) -> AsyncIterator[str]:
        events: asyncio.Queue[StageEvent] = asyncio.Queue()
        async with in_flight:
            task = asyncio.create_task(_answer(request, events))
            try:
                while not task.done() or not events.empty():
                    getter = asyncio.create_task(events.get())
                    done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                    if getter in done:
                        event = getter.result()
                        if event.status == "finished":
                            yield _sse(event.stage, {"stage": event.stage, "generator": event.generator,
                                                     "elapsed_s": event.elapsed_s, "batch": len(event.questions),
                                                     **_jsonable(event.detail)})
                    else:
                        getter.cancel()
                    if await http.is_disconnected():
                        task.cancel()
                        return
                try:
                    yield _sse("answer", task.result())
                except Exception as err:  # the stream has begun: the error is its last event
                    yield _sse("error", errors.streamed(err))
            finally:
                if not task.done():
                    task.cancel()

    app.include_router(knowledge_router(service, auth))
    if mcp_app is not None:
        app.mount("/mcp", mcp_app)
    return app


#: the web page's files and their types (the page fetches nothing from elsewhere)
_STATIC = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
_PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; object-src 'none'",
                 "X-Content-Type-Options": "nosniff"}


def _mcp_app(service: Service, host: str) -> Any:
    """The MCP server's streamable HTTP app (None without the mcp package)."""
    try:
        from mscsql.serve.mcp_server import build_mcp
    except ImportError:
        log.warning("the mcp package is not installed: no MCP server at /mcp (pip install 'mscsql[serve]')")
        return None
    from mcp.server.transport_security import TransportSecuritySettings

    keys, _admin = service.config.auth.keys()
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False) if keys else None
    return build_mcp(service).streamable_http_app(streamable_http_path="/", host=host, transport_security=security,
                                                  stateless_http=True)


def _jsonable(detail: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(detail, default=str))


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"
