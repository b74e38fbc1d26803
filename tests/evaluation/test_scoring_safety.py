"""Scoring runs survive hostile predictions and hard kills: a memory bomb is one wrong question under a 4 GB
address-space limit, SIGKILL leaves no worker behind, and a damaged run folder gets one clear message."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import dbutil
from tests.evaluation.conftest import CASES

ROWS = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < {n}) "
#: 20 rows of 30 MB blobs (each value over the per-value budget), and 200 rows of 10 MB blobs (2 GB in all:
#: over the result budget)
BOMBS = [ROWS.format(n=20) + "SELECT zeroblob(30000000) FROM r",
         ROWS.format(n=200) + "SELECT randomblob(10000000) FROM r"]
FOUR_GB = 4 * 1024**3


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (FOUR_GB, FOUR_GB))


def _mscsql(*args: str, limit_memory: bool = False, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mscsql.cli", *args], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=_limited if limit_memory else None,
                          env={**os.environ, "COLUMNS": "200"})


def test_a_memory_bomb_is_one_wrong_question_and_the_run_resumes(spider_dir: Path, tmp_path: Path) -> None:
    bombed = {0: BOMBS[0], 2: BOMBS[1], 6: BOMBS[0], 7: BOMBS[1]}  # the first, third, seventh, eighth questions
    predictions = tmp_path / "bombs.sql"
    predictions.write_text("".join(bombed.get(i, c.prediction).replace("\n", " ") + "\n"
                                   for i, c in enumerate(CASES)), encoding="utf-8")
    out = tmp_path / "out"
    command = ("eval", "score", "--benchmark", "spider-dev", "--data-dir", str(spider_dir), "--allow-missing-db",
               "--predictions", str(predictions), "--output", str(out), "--workers", "2", "--timeout", "2",
               "--no-cache")
    first = _mscsql(*command, limit_memory=True)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr and "MemoryError" not in first.stderr
    rows = {r["index"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert len(rows) == len(CASES)
    for index in bombed:
        assert rows[index]["correct"] is False
        assert rows[index]["status"] == "too_large" or "budget" in (rows[index]["error"] or ""), rows[index]
    # every other question is scored as without the bombs (the hand-worked spider-exec verdicts)
    for index, case in enumerate(CASES):
        if index not in bombed and case.db_id != "zoo":
            assert rows[index]["correct"] is case.spider_exec, (case.note, rows[index])
    # killed in the middle of its results file, the run resumes and finishes under the same limit
    lines = (out / "results.jsonl").read_text().splitlines(keepends=True)
    (out / "results.jsonl").write_text("".join(lines[:5]) + lines[5][:10], encoding="utf-8")
    second = _mscsql(*command, limit_memory=True)
    assert second.returncode == 0, second.stderr
    again = {r["index"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert again == rows


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            found |= {int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()}
    except OSError:
        pass
    return found


def _alive(pid: int) -> bool:
    """Running or sleeping (a zombie that nobody reaped has already died)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.fixture()
def slow_benchmark(tmp_path: Path) -> tuple[Path, Path]:
    """120 questions whose predictions run until the timeout (two chunks, so two worker processes)."""
    root = tmp_path / "slow"
    dbutil.make_sqlite(root / "database" / "shop" / "shop.sqlite", dbutil.SQLITE_DDL)
    gold = "SELECT count(*) FROM items"
    (root / "dev.json").write_text(json.dumps([{"db_id": "shop", "question": f"q{i}", "query": gold}
                                               for i in range(120)]), encoding="utf-8")
    (root / "dev_gold.sql").write_text(f"{gold}\tshop\n" * 120, encoding="utf-8")
    slow = "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r"
    predictions = tmp_path / "slow.sql"
    predictions.write_text(f"{slow}\n" * 120, encoding="utf-8")
    return root, predictions


@contextlib.contextmanager
def _busy_run(slow_benchmark: tuple[Path, Path], tmp_path: Path, command: str) -> Iterator[tuple[subprocess.Popen,
                                                                                                 set[int]]]:
    """A scoring or selection run in its own process group (as a terminal gives a command), once its two worker
    processes are busy with statements that run for a minute; no process of it survives the block."""
    root, predictions = slow_benchmark
    args = (["eval", "score", "--predictions", str(predictions)] if command == "score"
            else ["select", "--candidates", str(predictions), str(predictions.with_name("copy.sql"))])
    predictions.with_name("copy.sql").write_bytes(predictions.read_bytes())
    process = subprocess.Popen([sys.executable, "-m", "mscsql.cli", *args, "--benchmark", "spider-dev",
                                "--data-dir", str(root), "--output", str(tmp_path / "out"), "--workers", "2",
                                "--timeout", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(workers) < 2:
            workers = {pid for pid in _children(process.pid) if _alive(pid)}
            time.sleep(0.1)
        assert len(workers) >= 2, "the run never started its worker processes"
        time.sleep(1.0)  # the workers are busy with the slow statements now
        yield process, workers
    finally:
        if process.poll() is None:
            process.kill()
        for pid in workers | _children(process.pid):  # never leave one behind, even when the test fails
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _gone(workers: set[int]) -> list[int]:
    """The workers still alive 5 s from now (at once when none is)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.1)
    return [pid for pid in workers if _alive(pid)]


@pytest.mark.parametrize("command", ["score", "select"])
def test_sigkill_leaves_no_worker_behind(slow_benchmark: tuple[Path, Path], tmp_path: Path, command: str) -> None:
    with _busy_run(slow_benchmark, tmp_path, command) as (process, workers):
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        assert _gone(workers) == []


@pytest.mark.parametrize("command", ["score", "select"])
def test_ctrl_c_stops_the_run_and_its_workers_at_once(slow_benchmark: tuple[Path, Path], tmp_path: Path,
                                                      command: str) -> None:
    """Ctrl+C in a terminal sends SIGINT to every process of the command; the run stops within seconds (its
    workers were busy with statements that run for a minute) and leaves no worker behind."""
    with _busy_run(slow_benchmark, tmp_path, command) as (process, workers):
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=15) == 130
        assert _gone(workers) == []


def test_a_damaged_run_folder_gets_one_message(spider_dir: Path, predictions_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = ("eval", "score", "--benchmark", "spider-dev", "--data-dir", str(spider_dir), "--allow-missing-db",
               "--predictions", str(predictions_file), "--output", str(out), "--no-cache", "--timeout", "2")
    assert _mscsql(*command).returncode == 0
    for damage in ("", "{not json", "[1, 2]"):
        (out / "run.json").write_text(damage, encoding="utf-8")
        damaged = _mscsql(*command)
        assert damaged.returncode == 2 and "Traceback" not in damaged.stderr
        assert "run.json" in damaged.stderr and "delete" in damaged.stderr
    (out / "run.json").unlink()
    assert _mscsql(*command).returncode == 0  # as the message says: delete it and the run resumes
    leftovers = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []

