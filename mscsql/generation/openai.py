"""The OpenAI-compatible HTTP backend: any server speaking the OpenAI chat or (legacy) completions API — vLLM's
``vllm serve``, SGLang, llama.cpp's server, TGI, OpenAI itself — behind the
:class:`~mscsql.generation.base.Generator` protocol.

One request per prompt carries all ``n`` samples (the request's ``n``; a server that ignores ``n`` gets one request
per sample instead, once it has answered fewer choices than asked); up to ``concurrency`` requests are in
flight at once (a thread pool over one :class:`httpx.Client`), and the results come back in prompt order.
Every sampling setting is sent explicitly (``n``, ``temperature``, ``top_p``, ``max_tokens``, ``seed`` when set,
``stop`` when non-empty), so a server's own defaults never apply; ``temperature == 0`` is sent as
temperature 0 (greedy) with ``n`` unchanged — a server then returns ``n`` identical (or near-identical) samples.

``Sample.logprob`` is the sum of the generated tokens' log-probabilities as the server reports them (chat:
``logprobs: true``; completions: ``logprobs: 1``), or None when the server returns none. ``Sample.num_tokens`` is
the number of tokens in those log-probabilities, or the request's ``usage.completion_tokens`` when ``n == 1``,
else 0.

``mode="completions"`` sends raw text to ``/completions`` with no chat template at all. It accepts only a prompt
of exactly one user message, whose content is sent verbatim as the prompt (no role markers and no special
tokens are added: the text must already be what the model should continue — the way to drive a base model or a
prompt formatted by hand). Anything else (a system message, several turns) needs the server's chat template:
use ``mode="chat"``.

Failures: connection errors, timeouts, 429 and 5xx answers are retried ``max_retries`` times with exponential
backoff (``backoff_s``, doubled each time; a ``Retry-After`` header wins); any other 4xx answer fails at once.
Either way the error is a :class:`~mscsql.errors.GenerationError` naming the URL, the status and the server's
own message.

httpx is imported when a generator is built, never by ``import mscsql``.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mscsql.errors import BackendUnavailable, ConfigError, GenerationError, redact
from mscsql.generation.base import ChatPrompt, Sample, SamplingParams
from mscsql.generation.hub import one_line
from mscsql.generation.openai_wire import (
    chat_logprobs,
    completion_logprobs,
    first_top_logprobs,
    hint_for,
    logsumexp,
    retry_after,
    server_message,
)

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

MODES = ("chat", "completions")
#: HTTP statuses worth another try: rate limits and server-side failures
_RETRY_STATUSES = frozenset({429})
#: the longest wait a Retry-After header may impose between two tries
_MAX_RETRY_AFTER_S = 120.0
_ENDPOINTS = {"chat": "/chat/completions", "completions": "/completions"}


class _Retryable(Exception):
    """One failed try that may succeed when repeated (carries the error to raise if it is the last)."""

    def __init__(self, error: GenerationError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class OpenAIGenerator:
    """Generates through an OpenAI-compatible server.

    ``base_url`` is the API root, as the OpenAI SDK takes it: ``http://localhost:8000/v1`` or
    ``https://api.openai.com/v1`` (a URL with no path, ``http://localhost:8000``, gets ``/v1`` appended);
    requests go to ``{base_url}/chat/completions`` or ``{base_url}/completions``. ``model`` is the name the
    server knows the model by. ``api_key`` defaults to the ``OPENAI_API_KEY`` environment variable; with
    neither, no ``Authorization`` header is sent (local servers need none). ``timeout_s`` bounds each try
    (connecting, and each wait for data); ``max_retries`` is the number of tries after the first one.
    ``logprobs=False`` stops asking for log-probabilities (for servers that refuse them).
    """

    def __init__(self, base_url: str, model: str, *, mode: str = "chat", api_key: str | None = None,
                 timeout_s: float = 60.0, max_retries: int = 3, backoff_s: float = 1.0, concurrency: int = 8,
                 name: str | None = None, logprobs: bool = True) -> None:
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r} for the OpenAI-compatible generator",
                              hint=f"use one of {', '.join(MODES)}")
        if not model or not str(model).strip():
            raise ConfigError("the OpenAI-compatible generator needs a model name",
                              hint="give the name the server serves the model under (GET {base_url}/models)")
        if not timeout_s or timeout_s <= 0:
            raise ConfigError(f"timeout_s must be positive, not {timeout_s}")
        if max_retries < 0:
            raise ConfigError(f"max_retries must be 0 or more, not {max_retries}")
        if backoff_s < 0:
            raise ConfigError(f"backoff_s must be 0 or more, not {backoff_s}")
        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, not {concurrency}")
        self.base_url = _normalise_base_url(base_url)
        self.model = str(model)
        self.mode = mode
        self.url = self.base_url + _ENDPOINTS[mode]
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.concurrency = int(concurrency)
        self.logprobs = logprobs
        self.name = name or f"openai:{self.model}"
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        try:
            import httpx
        except ImportError as err:
            raise BackendUnavailable("the OpenAI-compatible generator needs httpx",
                                     hint="pip install 'httpx>=0.27' (a dependency of mscsql)") from err
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client: httpx.Client = httpx.Client(
            headers=headers, timeout=httpx.Timeout(self.timeout_s),
            limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency))
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="mscsql-openai")
        self._closed = False
        #: set once the server answered fewer choices than asked: from then on every sample is its own request
        self._single_choice = False

    # -- lifecycle -------------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the connections and the worker threads (the generator cannot be used afterwards)."""
        if not self._closed:
            self._closed = True
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._client.close()

    def __enter__(self) -> OpenAIGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OpenAIGenerator({self.base_url!r}, {self.model!r}, mode={self.mode!r})"

    # -- generation ------------------------------------------------------------------------------------

    def generate(self, prompts: Sequence[ChatPrompt], sampling: SamplingParams) -> list[list[Sample]]:
        if sampling.n < 1:
            raise ConfigError(f"sampling.n must be at least 1, not {sampling.n}")
        if sampling.max_tokens < 1:
            raise ConfigError(f"sampling.max_tokens must be at least 1, not {sampling.max_tokens}")
        if self._closed:
            raise GenerationError(f"{self.name}: the generator was closed")
        if not prompts:
            return []
        bodies = [self._body(prompt, sampling) for prompt in prompts]  # every prompt checked before any is sent
        abort = threading.Event()
        futures: list[Future[list[Sample]]] = [self._pool.submit(self._run, body, sampling.n, abort)
                                               for body in bodies]
        return self._gather(futures, abort)

    # -- scoring options ---------------------------------------------------------------------------------

    def option_logprobs(self, prompts: Sequence[ChatPrompt], options: Sequence[str], *,
                        top_logprobs: int = 20) -> list[list[float]]:
        """For each prompt, the log-probability of each option as the first token of the answer: one request per
        prompt for a single greedy token (``max_tokens=1``, ``temperature=0``) with its ``top_logprobs`` most
        likely alternatives, read from those alternatives. An option is matched by the token's text without
        surrounding whitespace (``"A"`` and ``" A"`` both count, their probabilities added); an option outside
        the top ``top_logprobs`` gets ``-inf``. Chat mode asks for ``logprobs: true, top_logprobs: N`` (OpenAI
        allows at most 20); completions mode for ``logprobs: N`` (OpenAI allows at most 5, vLLM more)."""
        options = [str(o) for o in options]
        if not options or any(not o.strip() for o in options):
            raise ConfigError("option_logprobs needs at least one option, none of them blank")
        if len({o.strip() for o in options}) != len(options):
            raise ConfigError(f"options {options!r} are not distinct once whitespace is stripped")
        if top_logprobs < 1:
            raise ConfigError(f"top_logprobs must be at least 1, not {top_logprobs}")
        if not self.logprobs:
            raise ConfigError(f"{self.name} was built with logprobs=False, and scoring options needs them",
                              hint="use a server that returns log-probabilities and leave logprobs on")
        if self._closed:
            raise GenerationError(f"{self.name}: the generator was closed")
        if not prompts:
            return []
        bodies = [self._option_body(prompt, top_logprobs) for prompt in prompts]
        abort = threading.Event()

        def parse(payload: Any) -> list[float]:
            return self._option_values(payload, options)

        futures: list[Future[list[float]]] = [self._pool.submit(self._run, body, 1, abort, parse) for body in bodies]
        return self._gather(futures, abort)

    def _gather(self, futures: list[Future[Any]], abort: threading.Event) -> list[Any]:
        """Every future's result, in order. The first failure, or an interruption (Ctrl+C), stops the rest (no new
        tries for the prompts still running, the queued ones dropped) and is raised."""
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:
            self._stop(futures, abort)
            raise
        failed = next((f for f in futures if f in done and f.exception() is not None), None)
        if failed is not None:
            self._stop(futures, abort)
            error = failed.exception()
            assert error is not None
            raise error
        return [future.result() for future in futures]

    @staticmethod
    def _stop(futures: list[Future[Any]], abort: threading.Event) -> None:
        abort.set()
        for future in futures:
            future.cancel()

    def _option_body(self, prompt: ChatPrompt, top_logprobs: int) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model}
        if self.mode == "chat":
            body["messages"] = [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt]
            body.update(logprobs=True, top_logprobs=int(top_logprobs))
        else:
            body.update(prompt=completion_text(prompt), logprobs=int(top_logprobs))
        body.update(n=1, temperature=0.0, max_tokens=1, stream=False)
        return body

    def _option_values(self, payload: Any, options: Sequence[str]) -> list[float]:
        """The options' log-probabilities from the top alternatives of the answer's first token."""
        choices = payload.get("choices") if isinstance(payload, dict) else None
        choice = min(choices, key=_choice_index) if isinstance(choices, list) and choices else None
        logprobs = choice.get("logprobs") if isinstance(choice, dict) else None
        top = first_top_logprobs(logprobs, self.mode)
        if top is None:
            raise GenerationError(f"{self.url} returned no top log-probabilities for the first token: "
                                  f"{one_line(repr(choice), 300)}",
                                  hint="the server must support logprobs with top_logprobs (vLLM, OpenAI and "
                                       "llama.cpp's server do)")
        found: dict[str, list[float]] = {}
        for token, value in top:
            found.setdefault(token.strip(), []).append(value)
        return [logsumexp(found.get(option.strip(), [])) for option in options]

    def _body(self, prompt: ChatPrompt, sampling: SamplingParams) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model}
        if self.mode == "chat":
            body["messages"] = [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt]
        else:
            body["prompt"] = completion_text(prompt)
        body.update(n=sampling.n, temperature=0.0 if sampling.greedy else float(sampling.temperature),
                    top_p=float(sampling.top_p), max_tokens=int(sampling.max_tokens))
        if sampling.seed is not None:
            body["seed"] = int(sampling.seed)
        stops = [s for s in sampling.stop if s]
        if stops:
            body["stop"] = stops
        if self.logprobs:
            # chat: one log-probability per generated token; completions: the sampled token plus the top 1
            body["logprobs"] = True if self.mode == "chat" else 1
        body["stream"] = False
        return body

    def _run(self, body: dict[str, Any], n: int, abort: threading.Event,
             parse: Callable[[Any], Any] | None = None) -> Any:
        """One prompt's ``n`` samples (or what ``parse`` makes of the answer). A server that returns fewer
        choices than ``n`` (Ollama, llama.cpp's server ignore ``n``) gets the rest as separate requests of one
        sample each, with the seed moved on for each; after the first such answer this generator sends every
        prompt that way."""
        if parse is not None:
            return self._with_retries(body, abort, parse)
        if self._single_choice and n > 1:
            return [s for k in range(n) for s in self._with_retries(_single(body, k), abort, self._parse_one)]
        samples = self._with_retries(body, abort, lambda payload: self._parse(payload, n))
        if len(samples) < n:
            if not self._single_choice:
                log.warning("%s returned %d choice(s) for n=%d: asking for the other samples one request at a "
                            "time (the server ignores n)", self.url, len(samples), n)
                self._single_choice = True
            for k in range(len(samples), n):
                samples += self._with_retries(_single(body, k), abort, self._parse_one)
        return samples

    def _parse_one(self, payload: Any) -> list[Sample]:
        return self._parse(payload, 1)

    def _with_retries(self, body: dict[str, Any], abort: threading.Event, parse: Callable[[Any], Any]) -> Any:
        """All tries for one request: what ``parse`` makes of the answer, or the GenerationError of the last
        try."""
        tries = self.max_retries + 1
        for attempt in range(tries):
            if abort.is_set():
                raise GenerationError(f"{self.url}: request abandoned after another prompt failed")
            try:
                return parse(self._post(body))
            except _Retryable as failure:
                if attempt == tries - 1:
                    tried = f"{tries} tries" if tries > 1 else "1 try, retries disabled"
                    raise GenerationError(f"{failure.error.message} (gave up after {tried})",
                                          hint=failure.error.hint) from failure
                delay = self._delay(attempt, failure.retry_after)
                log.warning("%s; retrying in %.2f s (try %d of %d)", redact(failure.error.message), delay,
                            attempt + 2, tries)
                if abort.wait(delay):
                    raise GenerationError(f"{self.url}: request abandoned after another prompt failed") \
                        from failure
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), _MAX_RETRY_AFTER_S)
        base = self.backoff_s * (2 ** attempt)
        return base * (1.0 + 0.1 * random.random())  # a little jitter: concurrent retries spread out

    def _post(self, body: dict[str, Any]) -> Any:
        import httpx

        try:
            response = self._client.post(self.url, json=body)
        except httpx.TimeoutException as err:
            error = GenerationError(f"{self.url}: no answer within {self.timeout_s:g} s ({type(err).__name__})",
                                    hint="raise timeout_s, or check that the server is not overloaded")
            raise _Retryable(error) from err
        except httpx.TransportError as err:
            error = GenerationError(f"{self.url}: cannot reach the server ({one_line(err)})",
                                    hint="check base_url and that the server is running")
            raise _Retryable(error) from err
        status = response.status_code
        if status >= 400:
            error = GenerationError(f"{self.url} answered HTTP {status}: {server_message(response)}",
                                    hint=hint_for(status))
            if status in _RETRY_STATUSES or status >= 500:
                raise _Retryable(error, retry_after(response))
            raise error
        try:
            return response.json()
        except ValueError as err:
            raise GenerationError(f"{self.url} answered HTTP {status} with a body that is not JSON: "
                                  f"{one_line(response.text or '(empty)')}") from err

    def _parse(self, payload: Any, n: int) -> list[Sample]:
        choices = payload.get("choices") if isinstance(payload, dict) else None
        if not isinstance(choices, list):
            raise GenerationError(f"{self.url} answered without a list of choices: {one_line(repr(payload))}")
        if not choices:
            raise GenerationError(f"{self.url} returned no choice for a request of n={n}",
                                  hint="check the model name and the server's log")
        ordered = sorted(choices, key=_choice_index)[:n]
        usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
        total_tokens = usage.get("completion_tokens") if n == 1 else None
        return [self._sample(choice, total_tokens) for choice in ordered]

    def _sample(self, choice: Any, total_tokens: Any) -> Sample:
        if not isinstance(choice, dict):
            raise GenerationError(f"{self.url} answered a malformed choice: {one_line(repr(choice))}")
        if self.mode == "chat":
            message = choice.get("message") or {}
            text = message.get("content") if isinstance(message, dict) else None
            token_logprobs = chat_logprobs(choice.get("logprobs"))
        else:
            text = choice.get("text")
            token_logprobs = completion_logprobs(choice.get("logprobs"))
        logprob = math.fsum(token_logprobs) if token_logprobs is not None else None
        if token_logprobs is not None:
            num_tokens = len(token_logprobs)
        else:
            num_tokens = int(total_tokens) if isinstance(total_tokens, int) else 0
        return Sample(text=str(text or ""), num_tokens=num_tokens, logprob=logprob,
                      finish_reason=choice.get("finish_reason"))


def _single(body: dict[str, Any], k: int) -> dict[str, Any]:
    """``body`` asking for one sample, the ``k``-th: its seed moved on by ``k`` (so seeded samples differ)."""
    single = {**body, "n": 1}
    if body.get("seed") is not None:
        single["seed"] = int(body["seed"]) + k
    return single


def completion_text(prompt: ChatPrompt) -> str:
    """The text ``mode="completions"`` sends for ``prompt``: the content of its single user message, verbatim."""
    messages = list(prompt)
    if len(messages) != 1 or messages[0].get("role") != "user":
        roles = ", ".join(str(m.get("role")) for m in messages) or "none"
        raise ConfigError(f"completions mode sends raw text and takes a prompt of exactly one user message, "
                          f"not messages with roles [{roles}]",
                          hint='use mode="chat" so that the server applies the model\'s chat template')
    return str(messages[0].get("content", ""))


def _choice_index(choice: Any) -> int:
    index = choice.get("index") if isinstance(choice, dict) else None
    return index if isinstance(index, int) and not isinstance(index, bool) else 0


def _normalise_base_url(base_url: str) -> str:
    url = str(base_url or "").strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"base_url {base_url!r} is not an http(s) URL",
                          hint="for example http://localhost:8000/v1 or https://api.openai.com/v1")
    for suffix in _ENDPOINTS.values():
        if parts.path.endswith(suffix):
            raise ConfigError(f"base_url {base_url!r} names an endpoint; give the API root",
                              hint=f"drop {suffix!r}: for example http://localhost:8000/v1")
    return url + "/v1" if parts.path in ("", "/") else url
