"""API keys: every route but health, readiness, metrics and the page needs a key once keys are configured;
writes that change what the pipeline learns from (verified examples, notes) need an admin key, always."""

from __future__ import annotations

import hmac

from fastapi import Request

from mscsql.serve.errors import ServiceError


def _given(request: Request) -> str:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("x-api-key", "")


def _matches(given: str, keys: frozenset[str]) -> bool:
    return any(hmac.compare_digest(given.encode(), k.encode()) for k in keys)


class Auth:
    """``keys``: every key that may call the API (admin keys included); ``admin``: the admin keys;
    ``admin_env``: where admin keys are read from (named in the hint when none is set)."""

    def __init__(self, keys: frozenset[str], admin: frozenset[str], admin_env: str) -> None:
        self.keys, self.admin, self.admin_env = keys, admin, admin_env

    def key(self, request: Request) -> None:
        """A route any key may call (open when no key is configured: the service then listens on loopback)."""
        if self.keys and not _matches(_given(request), self.keys):
            raise ServiceError(401, "unauthorized", "a valid API key is needed",
                               "send Authorization: Bearer <key> (or X-API-Key)",
                               headers={"WWW-Authenticate": "Bearer"})

    def admin_key(self, request: Request) -> None:
        """A route only an admin key may call: an ordinary key (or none) must not plant examples or notes."""
        self.key(request)
        if not self.admin:
            raise ServiceError(403, "forbidden", "this change needs an admin key and the service has none",
                               f"set {self.admin_env} for the service, or use the mscsql examples / mscsql notes "
                               "commands on the store")
        if not _matches(_given(request), self.admin):
            raise ServiceError(403, "forbidden", "this change needs an admin key",
                               "send an admin key as Authorization: Bearer <key>")
