"""Reading an OpenAI-compatible server's answers: log-probabilities of the first token's alternatives and of
the sampled text, the server's own error message, what to do about an HTTP status, and ``Retry-After``."""

from __future__ import annotations

import email.utils
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mscsql.generation.hub import one_line

if TYPE_CHECKING:
    import httpx


def first_top_logprobs(logprobs: Any, mode: str) -> list[tuple[str, float]] | None:
    """(token, log-probability) pairs of the first generated token's top alternatives: chat's
    ``content[0].top_logprobs`` (with the chosen token itself) or completions' ``top_logprobs[0]``."""
    if not isinstance(logprobs, dict):
        return None
    pairs: list[tuple[str, float]] = []
    if mode == "chat":
        content = logprobs.get("content")
        first = content[0] if isinstance(content, list) and content else None
        if not isinstance(first, dict) or not isinstance(first.get("top_logprobs"), list):
            return None
        entries = [first, *first["top_logprobs"]]
        seen: set[str] = set()
        for entry in entries:
            token, value = (entry.get("token"), entry.get("logprob")) if isinstance(entry, dict) else (None, None)
            if isinstance(token, str) and is_number(value) and token not in seen:
                seen.add(token)
                pairs.append((token, float(value)))
        return pairs
    top = logprobs.get("top_logprobs")
    first_top = top[0] if isinstance(top, list) and top else None
    if not isinstance(first_top, dict):
        return None
    return [(str(token), float(value)) for token, value in first_top.items() if is_number(value)]


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def logsumexp(values: Sequence[float]) -> float:
    if not values:
        return -math.inf
    top = max(values)
    if top == -math.inf:
        return -math.inf
    return top + math.log(math.fsum(math.exp(v - top) for v in values))


def chat_logprobs(logprobs: Any) -> list[float] | None:
    """Chat: ``{"content": [{"token": ..., "logprob": ...}, ...]}``."""
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list) or not content:
        return None
    values = [item.get("logprob") if isinstance(item, dict) else None for item in content]
    return numbers(values)


def completion_logprobs(logprobs: Any) -> list[float] | None:
    """Completions: ``{"tokens": [...], "token_logprobs": [...], "top_logprobs": [...], ...}``."""
    values = logprobs.get("token_logprobs") if isinstance(logprobs, dict) else None
    if not isinstance(values, list) or not values:
        return None
    return numbers(values)


def numbers(values: list[Any]) -> list[float] | None:
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return None
    return [float(v) for v in values]


def server_message(response: httpx.Response) -> str:
    """The server's own error message: OpenAI's ``{"error": {"message"}}``, vLLM's ``{"message"}``,
    FastAPI's ``{"detail"}``, or the start of the body."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        error = payload.get("error")
        for candidate in (error.get("message") if isinstance(error, dict) else error,
                          payload.get("message"), payload.get("detail")):
            if candidate:
                return one_line(candidate if isinstance(candidate, str) else repr(candidate), 500)
    text = response.text.strip()
    return one_line(text, 500) if text else response.reason_phrase or "(no message)"


def hint_for(status: int) -> str | None:
    if status in (401, 403):
        return "check the API key (api_key, or the OPENAI_API_KEY environment variable)"
    if status == 404:
        return "check base_url (the API root, usually ending in /v1) and the model name the server serves"
    if status == 429:
        return "the server is rate-limiting: lower concurrency or raise backoff_s"
    if status >= 500:
        return "the server failed; see its log"
    return None


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait before the next try, from ``retry-after-ms`` or ``Retry-After`` (seconds or a date)."""
    millis = response.headers.get("retry-after-ms")
    if millis:
        try:
            return float(millis) / 1000.0
        except ValueError:
            pass
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)
