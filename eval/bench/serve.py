"""Load test of ``mscsql serve`` on loopback, and the batching ratio.

1. ``--asks`` asks (default 2,000) from ``--clients`` concurrent clients (32) against a live ``mscsql serve`` on
   the demo database, once with a local OpenAI-compatible server as the generator (started here; it answers
   every prompt with one SQL query) and once with a tiny random-init transformers model (``hf`` on the CPU):
   p50/p95/p99 latency, throughput, errors, answers lost (every answer's id is fetched back and compared) and
   the server's resident memory before and after.
2. The batching ratio: the throughput of ``--batch-clients`` (16) concurrent clients with the tiny ``hf``
   generator, batching on (a 50 ms window, batches of up to 16) against off (a zero window: every ask is its
   own batch), each in a warmed-up server.

    python eval/bench/serve.py [--asks 2000] [--clients 32] [--output eval/results/serve.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import machine, write_figures

SQL = "SELECT count(*) AS customers FROM customers"


class _Generator(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint that answers every prompt with ``n`` copies of :data:`SQL`."""

    def _send(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send({"object": "list", "data": [{"id": "local"}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self._send({"choices": [{"index": i, "finish_reason": "stop",  # n choices, as vLLM's server gives
                                 "message": {"role": "assistant", "content": f"```sql\n{SQL}\n```"}}
                                for i in range(int(body.get("n", 1)))]})

    def log_message(self, *args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


class Server:
    """``mscsql serve`` in a subprocess, on the demo database, with ``generator`` as its one generator."""

    def __init__(self, folder: Path, generator: dict[str, Any], *, window_ms: float, max_batch: int) -> None:
        pipeline = {"use_values": False, "linking": {"linkers": ["keep-all"], "schema_budget_tokens": 64},
                    "execution": {"timeout_s": 10},
                    "generators": [generator]}
        config = folder / f"serve-{generator['name']}-{window_ms:g}.yaml"
        config.write_text(f"pipeline: {json.dumps(pipeline)}\ndatabases:\n  demo: {{url: {folder / 'demo.sqlite'}}}\n"
                          f"store: sqlite:///{folder / ('store-' + config.stem + '.sqlite')}\n"
                          f"limits: {{max_concurrent_asks: 64, request_timeout_s: 300}}\n"
                          f"batching: {{window_ms: {window_ms}, max_batch: {max_batch}}}\n")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "MSCSQL_API_KEYS": "", "OMP_NUM_THREADS": "1", "MSCSQL_CACHE_DIR": str(folder / "cache")}
        self.process = subprocess.Popen([sys.executable, "-m", "mscsql", "serve", "--config", str(config),
                                         "--port", str(self.port)], env=env, cwd=folder,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("mscsql serve did not become ready")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


async def _load(url: str, asks: int, clients: int) -> dict[str, Any]:
    """``asks`` asks from ``clients`` concurrent clients; every answer fetched back by its id."""
    latencies: list[float] = []
    errors = 0
    answered: dict[str, str] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(asks):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                i = queue.get_nowait()
                started = time.perf_counter()
                try:
                    reply = await client.post("/v1/ask", json={"database": "demo",
                                                               "question": f"How many customers are there? #{i}"})
                except httpx.HTTPError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)
                if reply.status_code != 200:
                    errors += 1
                    continue
                body = reply.json()
                answered[body["id"]] = body["sql"] or ""

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - started
        lost = 0
        for answer_id, sql in answered.items():
            stored = await client.get(f"/v1/answers/{answer_id}")
            if stored.status_code != 200 or stored.json().get("sql") != sql:
                lost += 1
    lost += asks - errors - len(answered)
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 4) if ordered else float("nan")

    return {"asks": asks, "clients": clients, "wall_s": round(wall, 2), "throughput_per_s": round(asks / wall, 1),
            "p50_s": pct(0.50), "p95_s": pct(0.95), "p99_s": pct(0.99),
            "mean_s": round(statistics.fmean(latencies), 4) if latencies else None,
            "errors": errors, "lost": lost}


def _prompt_texts(folder: Path) -> list[str]:
    from mscsql.pipeline import TextToSQL

    config = {"use_values": False, "linking": {"linkers": ["keep-all"], "schema_budget_tokens": 64},
              "generators": [{"name": "x", "backend": "replay", "n": 1, "options": {"samples": "none"}}]}
    with TextToSQL.from_config(config, db=folder / "demo.sqlite") as t2s:
        prompts = t2s.prompts([f"How many customers are there? #{i}" for i in range(8)])
    return [m["content"] for p in prompts for m in p.messages] + [f"```sql\n{SQL}\n```"]


def _measure(folder: Path, generator: dict[str, Any], asks: int, clients: int, *, window_ms: float = 20,
             max_batch: int = 16, warmup: int = 32) -> dict[str, Any]:
    server = Server(folder, generator, window_ms=window_ms, max_batch=max_batch)
    try:
        asyncio.run(_load(server.url, warmup, min(clients, warmup)))
        before = _rss_mb(server.process.pid)
        figures = asyncio.run(_load(server.url, asks, clients))
        figures.update(rss_before_mb=before, rss_after_mb=_rss_mb(server.process.pid), window_ms=window_ms,
                       max_batch=max_batch)
        return figures
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--asks", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--batch-clients", type=int, default=16)
    parser.add_argument("--batch-asks", type=int, default=320)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--only-batching", action="store_true", help="measure the batching ratio alone")
    args = parser.parse_args()

    from mscsql.demo import create_demo
    from mscsql.training.tiny import build_tiny_causal_lm

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        create_demo(folder / "demo.sqlite")
        local = ThreadingHTTPServer(("127.0.0.1", 0), _Generator)
        threading.Thread(target=local.serve_forever, daemon=True).start()
        openai = {"name": "local-server", "backend": "openai", "model": "local", "n": 4, "temperature": 0.7,
                  "options": {"base_url": f"http://127.0.0.1:{local.server_address[1]}/v1"}}
        # the tokenizer learns the pipeline's own prompts, so a prompt is a few hundred tokens, not its bytes
        tiny = build_tiny_causal_lm(folder / "tiny-llama", "llama", _prompt_texts(folder), vocab_size=2000)
        # answers of 48 tokens: decoding (one step per token, batch or not) dominates, as it does for real
        # generators; batch_size 16 lets a batch of 16 questions go through one generate call
        hf = {"name": "tiny-hf", "backend": "hf", "model": str(tiny), "n": 2, "temperature": 0.7, "max_tokens": 48,
              "options": {"device": "cpu", "dtype": "float32", "progress": False, "batch_size": 16}}
        figures: dict[str, Any] = {"machine": machine(), "command": "python eval/bench/serve.py " +
                                   " ".join(sys.argv[1:])}
        if not args.only_batching:
            figures["load_openai_local_server"] = _measure(folder, openai, args.asks, args.clients)
            print("openai (local server):", json.dumps(figures["load_openai_local_server"]))
            figures["load_tiny_hf"] = _measure(folder, hf, args.asks, args.clients)
            print("tiny hf:", json.dumps(figures["load_tiny_hf"]))
        on = _measure(folder, hf, args.batch_asks, args.batch_clients, window_ms=50, max_batch=16)
        off = _measure(folder, hf, args.batch_asks, args.batch_clients, window_ms=0, max_batch=16)
        figures["batching"] = {"on": on, "off": off,
                               "throughput_ratio": round(on["throughput_per_s"] / off["throughput_per_s"], 2)}
        print("batching on:", on["throughput_per_s"], "asks/s; off:", off["throughput_per_s"], "asks/s; ratio",
              figures["batching"]["throughput_ratio"])
        local.shutdown()
    write_figures(args.output, figures)


if __name__ == "__main__":
    main()
