"""Every error the service answers: JSON ``{"error": {"type", "message", "hint"}}`` with the right status,
never a traceback, a key or a database URL with credentials."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from mscsql.errors import (
    ConfigError,
    DatabaseError,
    GenerationError,
    MscSqlError,
    NotFound,
    RejectedInput,
    UnsafeSQLError,
    redact,
)


class ServiceError(Exception):
    """An error with its HTTP status, raised by the routes."""

    def __init__(self, status: int, kind: str, message: str, hint: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.hint, self.headers = status, kind, message, hint, headers


def body(kind: str, message: str, hint: str | None = None) -> dict[str, Any]:
    return {"error": {"type": kind, "message": redact(message), "hint": redact(hint) if hint else None}}


def status_of(err: MscSqlError) -> int:
    if isinstance(err, NotFound):
        return 404
    if isinstance(err, UnsafeSQLError | ConfigError | RejectedInput):
        return 400
    if isinstance(err, GenerationError | DatabaseError):
        return 502
    return 500


def install(app: Any) -> None:
    """The handlers that turn every exception into the JSON error body."""

    @app.exception_handler(ServiceError)
    async def _service(_request: Request, err: ServiceError) -> JSONResponse:
        return JSONResponse(body(err.kind, err.message, err.hint), status_code=err.status, headers=err.headers)

    @app.exception_handler(MscSqlError)
    async def _mscsql(_request: Request, err: MscSqlError) -> JSONResponse:
        hint = getattr(err, "hint", None)
        return JSONResponse(body(type(err).__name__, getattr(err, "message", str(err)), hint),
                            status_code=status_of(err))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, err: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
                             for e in err.errors())
        return JSONResponse(body("invalid_request", problems or "malformed request body",
                                 "send JSON as /docs describes"), status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, err: HTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code, "http_error")
        return JSONResponse(body(kind, str(err.detail)), status_code=err.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, err: Exception) -> JSONResponse:
        import logging

        logging.getLogger("mscsql.serve").error("internal error: %s: %s", type(err).__name__, redact(str(err)))
        return JSONResponse(body("internal_error", "the service failed on this request",
                                 "the server's log has the details"), status_code=500)
