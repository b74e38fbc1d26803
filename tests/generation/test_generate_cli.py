"""`mscsql generate` as a user runs it: tiny real models built here, a prediction file replayed, real
Spider questions; resumable without generating twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from mscsql.generation.extract import extract_sql
from tests.generation.conftest import TinyLM

REPO = Path(__file__).resolve().parents[2]


def clean_env(env: dict[str, str]) -> dict[str, str]:
    """The caller's environment without the tiny config's variables, plus ``env``."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("MSCSQL_TINY_", "MSCSQL_PREDICTIONS"))}
    return {**keep, **env}


def generate(shared_data: Path, out: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mscsql.cli", "generate", "--config", str(REPO / "configs/tiny.yaml"),
                           "--benchmark", "spider-dev", "--data-dir", str(shared_data / "spider"),
                           "--allow-missing-db", "--output", str(out), *extra],
                          capture_output=True, text=True, timeout=600, env=clean_env(env), cwd=REPO)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_generate_tags_candidates_by_generator_and_resumes(shared_data: Path, tiny_lm: TinyLM,
                                                           tiny_qwen2: TinyLM, tmp_path: Path) -> None:
    env = {"MSCSQL_TINY_LLAMA": str(tiny_lm.path), "MSCSQL_TINY_QWEN2": str(tiny_qwen2.path),
           "MSCSQL_PREDICTIONS": str(shared_data / "spider" / "dev_gold.sql"), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "run"
    first = generate(shared_data, out, env, "--limit", "5")
    assert first.returncode == 0, first.stderr
    done = records(out / "candidates.jsonl")
    samples = records(out / "samples.jsonl")
    # the summary lists every generator of the config, one whose samples held no query too
    listed = [line.split(":")[0].strip() for line in first.stdout.splitlines() if "samples with a query" in line]
    assert listed == ["tiny-llama", "tiny-qwen2", "published"], first.stdout
    # the store names a generator ``name@fingerprint of its backend, model, adapter and options``
    empty = Counter((s["prompt_hash"], s["generator"].split("@")[0]) for s in samples for x in s["samples"]
                    if extract_sql(x["text"], "sqlite").status == "empty")
    gold = [line.split("\t")[0] for line in (shared_data / "spider" / "dev_gold.sql").read_text().splitlines()]
    assert [r["index"] for r in sorted(done, key=lambda r: r["index"])] == [0, 1, 2, 3, 4]
    for record in done:
        per_generator: dict[str, int] = {}
        for candidate in record["candidates"]:
            for name, count in candidate["generators"].items():
                per_generator[name] = per_generator.get(name, 0) + count
        # every sample that says anything is a candidate (deduplicated, counted): n=2, n=1 and the file's one
        expected = {"tiny-llama": 2, "tiny-qwen2": 1, "published": 1}
        for name, n in expected.items():
            assert per_generator.get(name, 0) + empty[(record["prompt_hash"], name)] == n
        replayed = [c for c in record["candidates"] if "published" in c["generators"]]
        assert replayed[0]["sql"] == gold[record["index"]] and replayed[0]["status"] == "ok"
        assert len(record["prompt_hash"]) == 16 and record["template"] == "generator-v1"
    # the store holds every member's samples, the replayed file's line included (so the run can be replayed)
    assert len(samples) == 5 * 3
    assert {(s["generator"].split("@")[0], len(s["samples"])) for s in samples} == {("tiny-llama", 2),
                                                                                     ("tiny-qwen2", 1),
                                                                                     ("published", 1)}
    stored_lines = {s["samples"][0]["text"] for s in samples if s["generator"].startswith("published@")}
    assert stored_lines == {gold[r["index"]] for r in done}

    # a kill: the last question's line is lost; the re-run redoes it from stored samples, generating nothing
    lines = (out / "candidates.jsonl").read_text().splitlines()
    lost = json.loads(lines[-1])
    (out / "candidates.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    again = generate(shared_data, out, env, "--limit", "5")
    assert again.returncode == 0, again.stderr
    assert len(records(out / "samples.jsonl")) == 5 * 3
    redone = {r["index"]: r for r in records(out / "candidates.jsonl")}
    assert redone[lost["index"]] == lost


def test_config_errors_are_one_clear_message(shared_data: Path, tmp_path: Path) -> None:
    result = generate(shared_data, tmp_path / "out", {"MSCSQL_TINY_LLAMA": "", "MSCSQL_PREDICTIONS": ""})
    assert result.returncode == 2 and "MSCSQL_TINY_QWEN2" in result.stderr and "Traceback" not in result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("generators:\n  - name: x\n    backend: magic\n    n: 0\n")
    result = subprocess.run([sys.executable, "-m", "mscsql.cli", "generate", "--config", str(bad), "--benchmark",
                             "spider-dev", "--data-dir", str(shared_data / "spider"), "--output", str(tmp_path / "o")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "generators.0.backend" in result.stderr and "generators.0.n" in result.stderr
    greedy = tmp_path / "greedy.yaml"
    greedy.write_text("generators:\n  - {name: g, backend: hf, model: m, n: 4, temperature: 0}\n")
    result = subprocess.run([sys.executable, "-m", "mscsql.cli", "generate", "--config", str(greedy), "--benchmark",
                             "spider-dev", "--data-dir", str(shared_data / "spider"), "--output", str(tmp_path / "g")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "temperature 0 is greedy" in result.stderr


def test_a_folder_holding_another_run_is_refused(shared_data: Path, tiny_lm: TinyLM, tiny_qwen2: TinyLM,
                                                  tmp_path: Path) -> None:
    env = {"MSCSQL_TINY_LLAMA": str(tiny_lm.path), "MSCSQL_TINY_QWEN2": str(tiny_qwen2.path),
           "MSCSQL_PREDICTIONS": str(shared_data / "spider" / "dev_gold.sql")}
    out = tmp_path / "run"
    assert generate(shared_data, out, env, "--limit", "1").returncode == 0
    # the same names, another model behind one of them: refused, never mixed into the same folder
    changed = {**env, "MSCSQL_TINY_LLAMA": str(tiny_qwen2.path)}
    result = generate(shared_data, out, changed, "--limit", "1")
    assert result.returncode == 2 and "a generation run with other settings" in result.stderr
    assert "(config.generators.0.model differs)" in result.stderr  # which setting, so the user can tell
    # a run refused before it began (a model that is not there) leaves its folder to the next settings
    fresh = tmp_path / "fresh"
    refused = generate(shared_data, fresh, {**env, "MSCSQL_TINY_LLAMA": str(tmp_path / "no-model")}, "--limit", "1")
    assert refused.returncode == 2 and "cannot run" in refused.stderr
    assert generate(shared_data, fresh, env, "--limit", "1").returncode == 0


def test_replay_of_stored_samples_reproduces_a_generator_without_its_model(shared_data: Path, tiny_lm: TinyLM,
                                                                           tiny_qwen2: TinyLM, tmp_path: Path) -> None:
    env = {"MSCSQL_TINY_LLAMA": str(tiny_lm.path), "MSCSQL_TINY_QWEN2": str(tiny_qwen2.path),
           "MSCSQL_PREDICTIONS": str(shared_data / "spider" / "dev_gold.sql"), "OMP_NUM_THREADS": "1"}
    first = tmp_path / "first"
    assert generate(shared_data, first, env, "--limit", "3").returncode == 0
    config = tmp_path / "replay.yaml"
    config.write_text((REPO / "configs/tiny.yaml").read_text().split("generators:")[0] + f"""generators:
  - name: llama-again
    backend: replay
    n: 2
    options: {{samples: "{first / 'samples.jsonl'}", generator: tiny-llama}}
""")
    second = tmp_path / "second"
    result = subprocess.run([sys.executable, "-m", "mscsql.cli", "generate", "--config", str(config), "--benchmark",
                             "spider-dev", "--data-dir", str(shared_data / "spider"), "--allow-missing-db",
                             "--limit", "3", "--output", str(second)],
                            capture_output=True, text=True, timeout=600, env=clean_env(env))
    assert result.returncode == 0, result.stderr
    original = {r["index"]: r for r in records(first / "candidates.jsonl")}
    for record in records(second / "candidates.jsonl"):
        theirs = {c["key"]: c["generators"].get("tiny-llama") for c in original[record["index"]]["candidates"]
                  if "tiny-llama" in c["generators"]}
        ours = {c["key"]: c["generators"]["llama-again"] for c in record["candidates"]}
        assert ours == theirs
