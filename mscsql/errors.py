"""The one exception hierarchy of mscsql.

Every error a user can cause or meet derives from :class:`MscSqlError`; the CLI prints its message
(what went wrong, where, how to fix it) without a traceback. Failing *candidates* (SQL that does not
parse, errors, times out) are not exceptions: they are data in :class:`mscsql.types.ExecutionResult`.
"""

from __future__ import annotations

import logging
import re

#: user:password@ (or user@) inside a URL, up to its last @ (a password may hold an unencoded @); the placeholder
#: ``user@`` of this project's own examples is kept
_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][\w+.-]*://)(?!user@)[^/\s]+@")


def redact(text: str) -> str:
    """``text`` without the credentials of any URL in it."""
    return _CREDENTIALS.sub(lambda m: f"{m.group('scheme')}***@", text)


class RedactCredentials(logging.Filter):
    """A handler filter: log lines never carry the credentials of a URL (a generator's or a database's)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class MscSqlError(Exception):
    """Root of every error raised on purpose by mscsql."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(MscSqlError):
    """A configuration file or option is invalid."""


class DatabaseError(MscSqlError):
    """A database cannot be opened, reached or introspected (an infrastructure failure)."""


class DatabaseNotFound(DatabaseError):
    """A SQLite file (or other local database) does not exist."""


class DatabaseConnectionError(DatabaseError):
    """A database server cannot be reached or refused the login."""


class UnsafeSQLError(MscSqlError):
    """The read-only guard refused a statement; ``reason`` says why."""

    def __init__(self, reason: str, *, sql: str | None = None) -> None:
        super().__init__(f"refused by the read-only guard: {reason}")
        self.reason = reason
        self.sql = sql


class BackendUnavailable(MscSqlError):
    """An optional backend (a database driver, torch, vllm, ...) is not installed."""


class DatasetError(MscSqlError):
    """A benchmark or dataset file is missing or malformed."""


class GenerationError(MscSqlError):
    """A generation backend failed: a server refused a request, stayed unreachable, or answered malformed."""


class SessionPinError(DatabaseError):
    """A database session would not take (or keep) the settings mscsql pins before every statement."""


class NotFound(MscSqlError):
    """A database or a stored answer that the service does not have."""


class RejectedInput(MscSqlError):
    """Input that cannot be taken as given: a verified example whose SQL fails, a conversation of another
    database, an answer that cannot be promoted."""
