"""What the benchmark scripts share: a description of the machine and writing the figures."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def against_baseline_arguments(doc: str | None, *, baseline: str, repeat: int, data_dir: bool = True
                                ) -> argparse.Namespace:
    """The options of a script that runs a workload in this tree and in a baseline commit's, side by side:
    ``--data-dir`` (when the workload reads data), ``--baseline``, ``--repeat`` and ``--output``; logging on."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if data_dir:
        parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--baseline", default=baseline, help="the commit to compare with")
    parser.add_argument("--repeat", type=int, default=repeat, help="rounds; the median of each side is reported")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return args


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def user_env() -> dict[str, str]:
    """This environment as a user's installation runs commands: Python reads its cached bytecode (pip writes it
    when it installs a package; a machine that sets PYTHONDONTWRITEBYTECODE recompiles every module each run)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def compile_bytecode(*folders: Path) -> None:
    """Write the bytecode of the Python files under ``folders`` (mscsql's package, an official tool's folder), as
    an installation has it, so that no timed run compiles modules."""
    import compileall

    for folder in folders:
        compileall.compile_dir(str(folder), quiet=1)


def timed(command: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> float:
    """Seconds one run of ``command`` took, start-up included (its output captured; a failure raises); run in
    :func:`user_env` unless ``env`` is given."""
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=cwd, env=user_env() if env is None else env)
    return time.perf_counter() - started


def mscsql_env(cache: Path | None = None) -> dict[str, str]:
    """This environment for an ``mscsql`` command: :func:`user_env`, no progress bars, and its cache folder at
    ``cache`` when given."""
    return {**user_env(), "TQDM_DISABLE": "1", **({"MSCSQL_CACHE_DIR": str(cache)} if cache is not None else {})}


def write_figures(path: Path | None, figures: dict[str, Any]) -> None:
    """Write the figures as JSON (when a path was given), creating the folder."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


def official_inputs(data_dir: Path, name: str, work: Path) -> None:
    """``work/gold.sql`` and ``work/pred.sql`` for Spider's official evaluator: the gold lines and the prediction
    file ``name``'s lines of the questions whose database is present (the official tool stops on a missing one)."""
    spider = data_dir / "spider"
    gold = (spider / "dev_gold.sql").read_text(encoding="utf-8").splitlines()
    predictions = (data_dir / "predictions" / "spider_dev" / name).read_text(encoding="utf-8").split("\n")
    keep = [i for i, line in enumerate(gold)
            if (spider / "database" / line.split("\t")[1] / f"{line.split(chr(9))[1]}.sqlite").is_file()]
    (work / "gold.sql").write_text("".join(gold[i] + "\n" for i in keep), encoding="utf-8")
    (work / "pred.sql").write_text("".join(predictions[i] + "\n" for i in keep), encoding="utf-8")


#: put at the top of a script run with :func:`run_in_tree`: the tree under test comes before an editable install
#: of another tree
TREE_FIRST = ("import sys\n"
              "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f) + type(f).__module__]\n"
              "sys.path.insert(0, sys.argv.pop(1))\n")


@contextmanager
def baseline_tree(repo: Path, ref: str) -> Iterator[Path]:
    """The commit ``ref`` of ``repo`` checked out in a temporary ``git worktree`` (removed afterwards)."""
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "baseline"
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(tree), ref], check=True,
                       capture_output=True)
        try:
            yield tree
        finally:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], capture_output=True)


def run_in_tree(tree: Path, script: str, *args: str, cwd: Path | None = None,
                timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """``script`` (Python source) run with ``tree``'s ``mscsql`` first on the path."""
    return subprocess.run([sys.executable, "-c", TREE_FIRST + script, str(tree), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "HF_HUB_OFFLINE": "1"})
