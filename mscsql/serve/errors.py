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


#: the status and error type of each kind of failure, most specific first (types are snake_case, as the service's
#: own errors are; a failure of no kind here is an internal error)
_KINDS: tuple[tuple[type[MscSqlError], int, str], ...] = (
    (NotFound, 404, "not_found"),
    (UnsafeSQLError, 400, "unsafe_sql"),
    (RejectedInput, 400, "rejected_input"),
    (ConfigError, 400, "invalid_config"),
    (GenerationError, 502, "generation_failed"),
    (DatabaseError, 502, "database_error"),
)


def kind_of(err: BaseException) -> tuple[int, str]:
    """The HTTP status and the error type ``err`` answers with."""
    return next(((status, kind) for cls, status, kind in _KINDS if isinstance(err, cls)), (500, "internal_error"))


def streamed(err: BaseException) -> dict[str, Any]:
    """The ``error`` event that ends a streamed answer: what the plain reply's body holds."""
    if isinstance(err, ServiceError):
        return body(err.kind, err.message, err.hint)["error"]
    if isinstance(err, MscSqlError):
        return body(kind_of(err)[1], getattr(err, "message", str(err)), getattr(err, "hint", None))["error"]
    _log_internal(err)
    return body(*_INTERNAL)["error"]


_INTERNAL = ("internal_error", "the service failed on this request", "the server's log has the details")


def _log_internal(err: BaseException) -> None:
    import logging

    logging.getLogger("mscsql.serve").error("internal error: %s: %s", type(err).__name__, redact(str(err)))


def _problem(error: dict[str, Any]) -> str:
    """One problem of a request body, where it is and what is wrong."""
    if error.get("type") == "json_invalid":  # located by character offset, not by field
        detail = (error.get("ctx") or {}).get("error")
        offset = error["loc"][-1] if error.get("loc") else None
        return "the body is not valid JSON" + (f": {detail}" if detail else "") + \
            (f" (character {offset})" if isinstance(offset, int) else "")
    return f"{'.'.join(str(p) for p in error['loc'] if p != 'body') or 'body'}: {error['msg']}"


def install(app: Any) -> None:
    """The handlers that turn every exception into the JSON error body."""

    @app.exception_handler(ServiceError)
    async def _service(_request: Request, err: ServiceError) -> JSONResponse:
        return JSONResponse(body(err.kind, err.message, err.hint), status_code=err.status, headers=err.headers)

    @app.exception_handler(MscSqlError)
    async def _mscsql(_request: Request, err: MscSqlError) -> JSONResponse:
        status, kind = kind_of(err)
        return JSONResponse(body(kind, getattr(err, "message", str(err)), getattr(err, "hint", None)),
                            status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, err: RequestValidationError) -> JSONResponse:
        problems = "; ".join(_problem(e) for e in err.errors())
        return JSONResponse(body("invalid_request", problems or "malformed request body",
                                 "send JSON as /docs describes"), status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, err: HTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code, "http_error")
        return JSONResponse(body(kind, str(err.detail)), status_code=err.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, err: Exception) -> JSONResponse:
        _log_internal(err)
        return JSONResponse(body(*_INTERNAL), status_code=500)
