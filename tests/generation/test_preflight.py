"""Generators that cannot run are named before anything heavy loads."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mscsql.config import GeneratorConfig
from mscsql.errors import BackendUnavailable
from mscsql.generation.preflight import generator_problem, require_runnable

HEAVY = ("torch", "transformers", "vllm", "sentence_transformers", "peft", "accelerate")


def test_the_default_config_fails_before_anything_heavy_is_imported(tmp_path: Path) -> None:
    code = f"""
import sys
from mscsql.demo import create_demo
from mscsql.errors import BackendUnavailable
from mscsql.pipeline import TextToSQL
db = create_demo({str(tmp_path / "demo.sqlite")!r})
with TextToSQL.from_config({{"generators": [{{"name": "big", "backend": "vllm", "model": "org/model"}},
                                           {{"name": "gone", "backend": "hf", "model": "/nowhere/model"}}]}},
                           db=db) as t2s:
    try:
        t2s.ask("How many customers are there?")
    except BackendUnavailable as err:
        print(str(err))
        print("HEAVY:" + ",".join(m for m in {HEAVY!r} if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr
    assert "2 of 2 generators cannot run" in done.stdout
    assert "big (vllm, org/model)" in done.stdout and "/nowhere/model does not exist" in done.stdout
    assert "--config cpu" in done.stdout and "--config local-server" in done.stdout
    assert "HEAVY:\n" in done.stdout + "\n"  # nothing heavy was loaded to find that out


def test_the_hint_never_points_back_to_the_kind_of_generator_that_failed(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    server = GeneratorConfig(name="local", backend="openai", model="m", options={"base_url": "http://127.0.0.1:9/v1"})
    local = GeneratorConfig(name="small", backend="hf", model="Qwen/Qwen2.5-Coder-0.5B-Instruct")
    with pytest.raises(BackendUnavailable) as no_server:  # what --config local-server runs
        require_runnable([server])
    assert "--config cpu" in no_server.value.hint and "--config local-server" not in no_server.value.hint
    with pytest.raises(BackendUnavailable) as no_model:  # what --config cpu runs
        require_runnable([local, local])
    assert "--config local-server" in no_model.value.hint and "--config cpu" not in no_model.value.hint
    assert "huggingface-cli download" in no_model.value.hint
    # a folder that is not there, or a server config without its address: the general hint
    for member in (GeneratorConfig(name="gone", backend="hf", model=str(tmp_path / "nowhere")),
                   GeneratorConfig(name="bare", backend="openai", model="m")):
        with pytest.raises(BackendUnavailable) as other:
            require_runnable([member])
        assert "--config cpu" in other.value.hint and "--config local-server" in other.value.hint
    # a replay generator whose samples are missing is told where samples come from, not to use another model
    replay = GeneratorConfig(name="r", backend="replay", model="x", options={"samples": str(tmp_path / "s.jsonl")})
    with pytest.raises(BackendUnavailable) as no_samples:
        require_runnable([replay])
    assert "samples.jsonl an earlier run wrote" in no_samples.value.hint and "--config" not in no_samples.value.hint


class _Models(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"object": "list", "data": [{"id": "local-model"}]}).encode()
        self.send_response(200 if self.path.endswith("/models") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_generator_needs_a_server_that_answers() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Models)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    member = GeneratorConfig(name="local", backend="openai", model="local-model", options={"base_url": url})
    try:
        assert generator_problem(member) is None
    finally:
        server.shutdown()
        server.server_close()
    problem = generator_problem(member)
    assert problem is not None and f"no server answers at {url}" in problem


def test_local_models_replays_and_the_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "model"
    model.mkdir()
    hf = GeneratorConfig(name="m", backend="hf", model=str(model))
    assert "not a model folder" in (generator_problem(hf) or "")
    (model / "config.json").write_text("{}", encoding="utf-8")
    assert generator_problem(hf) is None
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    hub = GeneratorConfig(name="h", backend="hf", model="some-org/some-model")
    assert "not in the local Hugging Face cache" in (generator_problem(hub) or "")
    snapshot = tmp_path / "hub" / "models--some-org--some-model" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}", encoding="utf-8")
    assert generator_problem(hub) is None
    replay = GeneratorConfig(name="r", backend="replay", n=1, options={"predictions": str(tmp_path / "p.sql")})
    with pytest.raises(BackendUnavailable, match=r"p\.sql does not exist"):
        require_runnable([hf, replay])
    (tmp_path / "p.sql").write_text("SELECT 1\n", encoding="utf-8")
    require_runnable([hf, hub, replay])
