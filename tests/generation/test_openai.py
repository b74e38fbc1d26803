"""The OpenAI-compatible backend against a real local HTTP server (stdlib ``ThreadingHTTPServer`` on 127.0.0.1)
that speaks ``/v1/chat/completions`` and ``/v1/completions`` with deterministic fake completions.

Words in a prompt steer the fake server: ``STATUS400`` (a 400 error), ``FLAKY503`` (503 on the first try),
``RATE429`` (429 with ``Retry-After: 1`` on the first try), ``SLOW`` (answers after 1 s), ``SLEEP`` (answers after
0.15 s), ``NOLOGPROBS``, ``FEWER`` (one choice fewer than asked), ``LENGTH`` (finish_reason "length").
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mscsql.errors import ConfigError, GenerationError
from mscsql.generation.base import Generator, SamplingParams
from mscsql.generation.openai import OpenAIGenerator

MODEL = "fake-sql-model"
FAST = dict(timeout_s=5.0, max_retries=3, backoff_s=0.01)


def answer(prompt: str, index: int) -> str:
    """The fake server's text for choice ``index`` of ``prompt``."""
    return f"SELECT '{prompt}' AS q, {index} AS k"


def token_logprob(index: int) -> float:
    return -0.25 * (index + 1)


def expected_logprob(prompt: str, index: int) -> float:
    return token_logprob(index) * len(answer(prompt, index).split(" "))


class FakeServer:
    """State shared by the handler threads: what was received, and how many requests of each group (the first
    word of a prompt) were being worked on at once — from arrival until the answer is ready, so that a client's
    next request, sent as soon as it has read an answer, never overlaps the one before it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget everything, once the requests of earlier tests (a slow one a client gave up on, the rest of a
        failed batch) have been answered."""
        deadline = time.monotonic() + 5.0
        while sum(getattr(self, "active", Counter()).values()) > 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        with self.lock:
            self.requests: list[dict[str, Any]] = []
            self.hits: Counter[str] = Counter()
            self.hit_times: dict[str, list[float]] = {}
            self.active: Counter[str] = Counter()
            self.max_active: Counter[str] = Counter()

    def enter(self, path: str, body: dict[str, Any], headers: dict[str, str], prompt: str) -> int:
        group = prompt.split(" ")[0]
        with self.lock:
            self.requests.append({"path": path, "body": body, "headers": headers})
            self.hits[prompt] += 1
            self.hit_times.setdefault(prompt, []).append(time.monotonic())
            self.active[group] += 1
            self.max_active[group] = max(self.max_active[group], self.active[group])
            return self.hits[prompt]

    def leave(self, prompt: str) -> None:
        with self.lock:
            self.active[prompt.split(" ")[0]] -= 1

    def bodies(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests]


def _choices(chat: bool, prompt: str, n: int) -> list[dict[str, Any]]:
    choices = []
    for i in range(n):
        text = answer(prompt, i)
        tokens = text.split(" ")
        choice: dict[str, Any] = {"index": i, "finish_reason": "length" if "LENGTH" in prompt else "stop"}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
            choice["logprobs"] = {"content": [{"token": t, "logprob": token_logprob(i), "bytes": list(t.encode()),
                                               "top_logprobs": []} for t in tokens]}
        else:
            choice["text"] = text
            choice["logprobs"] = {"tokens": tokens, "token_logprobs": [token_logprob(i)] * len(tokens),
                                  "top_logprobs": [{t: token_logprob(i)} for t in tokens],
                                  "text_offset": list(range(len(tokens)))}
        if "NOLOGPROBS" in prompt:
            choice["logprobs"] = None
        choices.append(choice)
    return choices[::-1]  # out of order on purpose: the client must order them by index


def make_handler(state: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            chat = self.path == "/v1/chat/completions"
            if not chat and self.path != "/v1/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            prompt = body["messages"][-1]["content"] if chat else body["prompt"]
            hit = state.enter(self.path, body, dict(self.headers), prompt)
            try:
                status, payload, headers = self._answer(chat, body, prompt, hit)
            finally:
                state.leave(prompt)
            self._send(status, payload, headers)

        def _answer(self, chat: bool, body: dict[str, Any], prompt: str,
                    hit: int) -> tuple[int, dict[str, Any], dict[str, str]]:
            if "STATUS400" in prompt:
                return 400, {"error": {"message": "temperature must be finite", "type": "invalid_request_error",
                                       "code": 400}}, {}
            if "FLAKY503" in prompt and hit == 1:
                return 503, {"error": {"message": "overloaded, try later"}}, {}
            if "RATE429" in prompt and hit == 1:
                return 429, {"error": {"message": "rate limited"}}, {"Retry-After": "1"}
            if "SLOW" in prompt:
                time.sleep(1.0)
            if "SLEEP" in prompt:
                time.sleep(0.15)
            n = int(body.get("n", 1)) - (1 if "FEWER" in prompt else 0)
            if "IGNOREN" in prompt:  # as Ollama and llama.cpp's server: one choice, whatever n; its text tells the seed
                text = answer(prompt, body.get("seed", -1))
                choices = [{**_choices(chat, prompt, 1)[0], "message": {"role": "assistant", "content": text}}]
                return 200, {"choices": choices, "usage": {}}, {}
            choices = _choices(chat, prompt, n)
            usage = {"prompt_tokens": 7, "completion_tokens": sum(len(answer(prompt, i).split(" ")) for i in range(n)),
                     "total_tokens": 0}
            return 200, {"id": "cmpl-1", "object": "chat.completion" if chat else "text_completion",
                         "model": body.get("model"), "choices": choices, "usage": usage}, {}

    return Handler


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` behind a threaded HTTP server on 127.0.0.1 (a free port) while the block runs; yields its
    base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def server_state() -> Iterator[tuple[FakeServer, str]]:
    state = FakeServer()
    with serving(make_handler(state)) as url:
        yield state, url


@pytest.fixture()
def server(server_state: tuple[FakeServer, str]) -> FakeServer:
    state, _ = server_state
    state.reset()
    return state


@pytest.fixture()
def root(server_state: tuple[FakeServer, str]) -> str:
    return server_state[1]


def chat_prompt(question: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "You write SQLite."}, {"role": "user", "content": question}]


def user_prompt(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


# -- happy paths ---------------------------------------------------------------------------------------------


def test_chat_mode_returns_n_samples_per_prompt_in_prompt_order(server: FakeServer, root: str) -> None:
    questions = [f"question {i}" for i in range(6)]
    with OpenAIGenerator(root + "/v1", MODEL, concurrency=4, **FAST) as gen:
        assert isinstance(gen, Generator)
        assert gen.name == f"openai:{MODEL}"
        out = gen.generate([chat_prompt(q) for q in questions], SamplingParams(n=3, temperature=0.8, max_tokens=32))
    assert [len(samples) for samples in out] == [3] * 6
    for question, samples in zip(questions, out, strict=True):
        for i, sample in enumerate(samples):
            assert sample.text == answer(question, i)
            assert sample.logprob == pytest.approx(expected_logprob(question, i))
            assert sample.num_tokens == len(answer(question, i).split(" "))
            assert sample.finish_reason == "stop"
            assert sample.sql is None
    assert {r["path"] for r in server.requests} == {"/v1/chat/completions"}
    assert len(server.requests) == 6  # one request per prompt, carrying n
    assert server.requests[0]["body"]["messages"][0] == {"role": "system", "content": "You write SQLite."}


def test_completions_mode_sends_the_single_user_message_verbatim(server: FakeServer, root: str) -> None:
    texts = ["-- SQLite\nSELECT", "-- tables: singer\nSELECT"]
    with OpenAIGenerator(root, MODEL, mode="completions", **FAST) as gen:  # "/v1" is appended to a bare root
        assert gen.url == root + "/v1/completions"
        out = gen.generate([user_prompt(t) for t in texts], SamplingParams(n=2, temperature=1.0, max_tokens=16))
    assert [[s.text for s in samples] for samples in out] == [[answer(t, 0), answer(t, 1)] for t in texts]
    assert out[1][1].logprob == pytest.approx(expected_logprob(texts[1], 1))
    assert sorted(body["prompt"] for body in server.bodies()) == sorted(texts)
    assert all(body["logprobs"] == 1 for body in server.bodies())


def test_completions_mode_refuses_chat_shaped_prompts(server: FakeServer, root: str) -> None:
    with OpenAIGenerator(root + "/v1", MODEL, mode="completions", **FAST) as gen:
        with pytest.raises(ConfigError, match='mode="chat"'):
            gen.generate([user_prompt("fine"), chat_prompt("system + user")], SamplingParams())
        with pytest.raises(ConfigError, match="one user message"):
            gen.generate([[{"role": "assistant", "content": "x"}]], SamplingParams())
    assert server.requests == []  # checked before anything is sent


def test_request_bodies_carry_every_sampling_setting(server: FakeServer, root: str) -> None:
    with OpenAIGenerator(root + "/v1/", MODEL, **FAST) as gen:
        gen.generate([chat_prompt("q")], SamplingParams(n=4, temperature=0.7, top_p=0.9, max_tokens=64, seed=11,
                                                        stop=("\n\n", ";")))
        sampled = server.bodies()[-1]
        gen.generate([chat_prompt("q")], SamplingParams(n=2, temperature=0.0, max_tokens=8, seed=None))
        greedy = server.bodies()[-1]
    assert sampled["model"] == MODEL
    assert (sampled["n"], sampled["temperature"], sampled["top_p"], sampled["max_tokens"], sampled["seed"]) == \
        (4, 0.7, 0.9, 64, 11)
    assert sampled["stop"] == ["\n\n", ";"]
    assert sampled["logprobs"] is True
    assert sampled["stream"] is False
    # temperature 0: greedy, asked for explicitly; n is still sent
    assert (greedy["n"], greedy["temperature"], greedy["max_tokens"]) == (2, 0.0, 8)
    assert "seed" not in greedy and "stop" not in greedy


def test_api_key_argument_environment_or_none(server: FakeServer, root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    with OpenAIGenerator(root, MODEL, api_key="sk-given", **FAST) as gen:
        gen.generate([chat_prompt("a")], SamplingParams())
    with OpenAIGenerator(root, MODEL, **FAST) as gen:
        gen.generate([chat_prompt("b")], SamplingParams())
    monkeypatch.delenv("OPENAI_API_KEY")
    with OpenAIGenerator(root, MODEL, **FAST) as gen:
        gen.generate([chat_prompt("c")], SamplingParams())
    auth = [{k.lower(): v for k, v in r["headers"].items()}.get("authorization") for r in server.requests]
    assert auth == ["Bearer sk-given", "Bearer sk-from-env", None]


def test_missing_logprobs_fewer_choices_and_finish_reasons(server: FakeServer, root: str) -> None:
    with OpenAIGenerator(root, MODEL, **FAST) as gen:
        [[plain]] = gen.generate([chat_prompt("NOLOGPROBS q")], SamplingParams(n=1, max_tokens=5))
        assert plain.logprob is None
        assert plain.num_tokens == len(answer("NOLOGPROBS q", 0).split(" "))  # from usage, as n == 1
        [[cut]] = gen.generate([chat_prompt("LENGTH q")], SamplingParams(n=1, max_tokens=5))
        assert cut.finish_reason == "length"
        with pytest.raises(GenerationError, match=r"returned no choice for a request of n=1"):
            gen.generate([chat_prompt("FEWER q")], SamplingParams(n=3, temperature=1.0))
        [[lean]] = gen.generate([chat_prompt("q")], SamplingParams())
    assert lean.logprob is not None
    with OpenAIGenerator(root, MODEL, logprobs=False, **FAST) as gen:
        gen.generate([chat_prompt("q")], SamplingParams())
    assert "logprobs" not in server.bodies()[-1]


# -- failures and retries ------------------------------------------------------------------------------------


def test_client_error_fails_at_once_naming_url_status_and_message(server: FakeServer, root: str) -> None:
    with OpenAIGenerator(root + "/v1", MODEL, **FAST) as gen, pytest.raises(GenerationError) as caught:
        gen.generate([chat_prompt("STATUS400")], SamplingParams())
    message = str(caught.value)
    assert f"{root}/v1/chat/completions" in message
    assert "400" in message
    assert "temperature must be finite" in message
    assert server.hits["STATUS400"] == 1  # not retried


def test_server_error_is_retried_then_succeeds(server: FakeServer, root: str) -> None:
    with OpenAIGenerator(root, MODEL, **FAST) as gen:
        out = gen.generate([chat_prompt("FLAKY503 q"), chat_prompt("steady")], SamplingParams(n=2, temperature=1.0))
    assert [s.text for s in out[0]] == [answer("FLAKY503 q", 0), answer("FLAKY503 q", 1)]
    assert server.hits["FLAKY503 q"] == 2
    assert server.hits["steady"] == 1


def test_retry_after_header_is_honoured(server: FakeServer, root: str) -> None:
    with OpenAIGenerator(root, MODEL, **FAST) as gen:
        [[sample]] = gen.generate([chat_prompt("RATE429 q")], SamplingParams())
    assert sample.text == answer("RATE429 q", 0)
    first, second = server.hit_times["RATE429 q"]
    assert second - first >= 0.9  # Retry-After: 1 beats the 0.01 s backoff


def test_timeouts_are_retried_then_fail_after_max_retries(server: FakeServer, root: str) -> None:
    start = time.monotonic()
    with OpenAIGenerator(root, MODEL, timeout_s=0.25, max_retries=2, backoff_s=0.01) as gen, \
            pytest.raises(GenerationError) as caught:
        gen.generate([chat_prompt("SLOW q")], SamplingParams())
    assert server.hits["SLOW q"] == 3  # the first try and two retries
    assert "0.25 s" in str(caught.value) and "3 tries" in str(caught.value)
    assert time.monotonic() - start < 3.0


def test_unreachable_server_fails_after_retries() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with OpenAIGenerator(f"http://127.0.0.1:{port}/v1", MODEL, timeout_s=1.0, max_retries=1, backoff_s=0.01) as gen, \
            pytest.raises(GenerationError, match="cannot reach the server"):
        gen.generate([chat_prompt("q")], SamplingParams())


def test_the_retry_log_never_shows_the_urls_password(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from mscsql.errors import RedactCredentials, redact

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with caplog.at_level(logging.WARNING), \
            OpenAIGenerator(f"http://bob:s3cretpw@127.0.0.1:{port}/v1", MODEL, timeout_s=1.0, max_retries=1,
                            backoff_s=0.01) as gen, pytest.raises(GenerationError):
        gen.generate([chat_prompt("q")], SamplingParams())
    assert "retrying" in caplog.text and "s3cretpw" not in caplog.text and "***@127.0.0.1" in caplog.text
    # and the command line's handler filter cleans any other log line
    record = logging.LogRecord("mscsql.x", logging.ERROR, __file__, 1, "failed: %s", ("mysql://u:pw@h/db",), None)
    assert RedactCredentials().filter(record) and record.getMessage() == "failed: mysql://***@h/db"
    # a password with an unencoded @ is masked whole, and an @ after the host (a path, an address) is kept
    assert redact("postgresql://ada:s3cret@pw@db:5432/x, see http://h/a@b") == \
        "postgresql://***@db:5432/x, see http://h/a@b"
    from mscsql.db.connect import _redacted

    assert _redacted("postgresql://ada:s3cret@pw@db:5432/x") == "postgresql://ada:***@db:5432/x"


def test_one_failing_prompt_fails_the_batch(server: FakeServer, root: str) -> None:
    with OpenAIGenerator(root, MODEL, concurrency=2, **FAST) as gen, pytest.raises(GenerationError, match="400"):
        gen.generate([chat_prompt("ok 1"), chat_prompt("STATUS400"), chat_prompt("ok 2")], SamplingParams())


# -- concurrency -----------------------------------------------------------------------------------------------


def test_prompts_are_sent_concurrently_within_the_bound(server: FakeServer, root: str) -> None:
    prompts = [chat_prompt(f"SLEEP-bounded {i}") for i in range(10)]
    with OpenAIGenerator(root, MODEL, concurrency=3, **FAST) as gen:
        out = gen.generate(prompts, SamplingParams(n=2, temperature=1.0))
    assert [samples[1].text for samples in out] == [answer(f"SLEEP-bounded {i}", 1) for i in range(10)]
    assert 2 <= server.max_active["SLEEP-bounded"] <= 3


def test_concurrency_one_is_sequential(server: FakeServer, root: str) -> None:
    with OpenAIGenerator(root, MODEL, concurrency=1, **FAST) as gen:
        gen.generate([chat_prompt(f"SLEEP-sequential {i}") for i in range(3)], SamplingParams())
    assert server.max_active["SLEEP-sequential"] == 1


# -- configuration ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"mode": "edits"}, "unknown mode"),
    ({"concurrency": 0}, "concurrency"),
    ({"max_retries": -1}, "max_retries"),
    ({"timeout_s": 0}, "timeout_s"),
])
def test_bad_settings_are_config_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        OpenAIGenerator("http://127.0.0.1:1/v1", MODEL, **kwargs)


@pytest.mark.parametrize("url", ["localhost:8000/v1", "ftp://host/v1", "http://host:8000/v1/chat/completions"])
def test_bad_base_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError, match="base_url"):
        OpenAIGenerator(url, MODEL)


def test_bad_sampling_and_empty_batches() -> None:
    with OpenAIGenerator("http://127.0.0.1:1/v1", MODEL) as gen:
        assert gen.generate([], SamplingParams()) == []
        with pytest.raises(ConfigError, match=r"sampling\.n"):
            gen.generate([chat_prompt("q")], SamplingParams(n=0))
        with pytest.raises(ConfigError, match="max_tokens"):
            gen.generate([chat_prompt("q")], SamplingParams(max_tokens=0))


def test_importing_the_backends_loads_neither_httpx_nor_vllm() -> None:
    code = ("import sys, mscsql.generation.openai, mscsql.generation.vllm; "
            "print(','.join(m for m in ('httpx', 'vllm', 'torch', 'transformers') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""


def test_logprob_sums_are_exact_sums(server: FakeServer, root: str) -> None:
    with OpenAIGenerator(root, MODEL, **FAST) as gen:
        [[sample]] = gen.generate([chat_prompt("sum me")], SamplingParams())
    assert math.isclose(sample.logprob or 0.0, -0.25 * len(answer("sum me", 0).split(" ")))


def test_a_server_that_ignores_n_gets_one_request_per_sample(server: FakeServer, root: str) -> None:
    with OpenAIGenerator(root, MODEL, **FAST) as gen:
        [samples] = gen.generate([chat_prompt("IGNOREN a")], SamplingParams(n=3, temperature=1.0, seed=7))
        assert [s.text for s in samples] == [answer("IGNOREN a", seed) for seed in (7, 8, 9)]
        assert [b["n"] for b in server.bodies()] == [3, 1, 1]
        server.reset()
        [again] = gen.generate([chat_prompt("IGNOREN b")], SamplingParams(n=2, temperature=1.0, seed=0))
        assert len(again) == 2 and [b["n"] for b in server.bodies()] == [1, 1]  # remembered: no wasted request
