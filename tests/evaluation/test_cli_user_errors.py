"""Mistakes a researcher makes on the command line get the error that names them, and the caches go where the
options say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _mscsql(*args: str, home: Path, cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MSCSQL_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update(HOME=str(home), TQDM_DISABLE="1", COLUMNS="200")
    if cache is not None:
        env["MSCSQL_CACHE_DIR"] = str(cache)
    return subprocess.run([sys.executable, "-m", "mscsql", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_no_cache_writes_no_cache_and_cache_dir_holds_every_cache(spider_dir: Path, predictions_file: Path,
                                                                   tmp_path: Path) -> None:
    home = tmp_path / "home"
    score = ("eval", "score", "--benchmark", "spider-dev", "--data-dir", str(spider_dir), "--allow-missing-db",
             "-p", str(predictions_file), "--scorer", "spider-exec", "--no-chart", "--timeout", "1")
    done = _mscsql(*score, "--output", str(tmp_path / "a"), "--no-cache", home=home)
    assert done.returncode == 0, done.stderr
    assert _files(home / ".cache") == []
    done = _mscsql(*score, "--output", str(tmp_path / "b"), "--cache-dir", str(tmp_path / "mine"), home=home)
    assert done.returncode == 0, done.stderr
    assert _files(home / ".cache") == []
    kept = _files(tmp_path / "mine")
    assert any(name.startswith("hardness/") for name in kept) and "gold-results.sqlite" in kept


def test_the_other_benchmarks_folder_is_named(spider_dir: Path, bird_dir: Path, predictions_file: Path,
                                              tmp_path: Path) -> None:
    as_bird = _mscsql("eval", "score", "--benchmark", "bird-dev", "--data-dir", str(spider_dir), "--allow-missing-db",
                      "-p", str(predictions_file), "--output", str(tmp_path / "a"), home=tmp_path)
    assert as_bird.returncode == 2 and "holds Spider questions" in as_bird.stderr and "spider-dev" in as_bird.stderr
    as_spider = _mscsql("eval", "score", "--benchmark", "spider-dev", "--data-dir", str(bird_dir),
                        "--allow-missing-db", "-p", str(predictions_file), "--output", str(tmp_path / "b"),
                        home=tmp_path)
    assert as_spider.returncode == 2 and "holds BIRD questions" in as_spider.stderr
    assert "Traceback" not in as_bird.stderr + as_spider.stderr


def test_a_run_that_can_score_nothing_fails(bird_dir: Path, tmp_path: Path) -> None:
    for db in ("shop", "latin"):
        for f in (bird_dir / "dev_databases" / db).iterdir():
            f.unlink()
    dev = json.loads((bird_dir / "dev.json").read_text())
    predictions = tmp_path / "p.json"
    predictions.write_text(json.dumps({str(i): f"SELECT 1\t----- bird -----\t{e['db_id']}" for i, e in enumerate(dev)}))
    done = _mscsql("eval", "score", "--benchmark", "bird-dev", "--data-dir", str(bird_dir), "--allow-missing-db",
                   "-p", str(predictions), "--scorer", "bird", "--output", str(tmp_path / "out"), home=tmp_path)
    assert done.returncode == 2
    assert f"none of the {len(dev)} questions of bird-dev has its database here" in done.stderr
    assert not (tmp_path / "out" / "summary.json").exists()


def test_a_bad_scorer_or_a_missing_file_is_named_before_missing_databases(spider_dir: Path, predictions_file: Path,
                                                                         tmp_path: Path) -> None:
    # spider_dir lacks the zoo database: without --allow-missing-db that alone is an error
    base = ("eval", "score", "--benchmark", "spider-dev", "--data-dir", str(spider_dir), "--output",
            str(tmp_path / "o"))
    missing_db = _mscsql(*base, "-p", str(predictions_file), home=tmp_path)
    assert missing_db.returncode == 2 and "--allow-missing-db" in missing_db.stderr
    bad_scorer = _mscsql(*base, "-p", str(predictions_file), "--scorer", "testsuite", home=tmp_path)
    assert bad_scorer.returncode == 2 and "unknown scorer 'testsuite'" in bad_scorer.stderr
    no_file = _mscsql(*base, "-p", str(tmp_path / "nope.sql"), home=tmp_path)
    assert no_file.returncode == 2 and "nope.sql does not exist" in no_file.stderr
