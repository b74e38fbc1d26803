"""The import layers of pyproject.toml hold: every import points down, and the harnesses reach linking,
prompts, generation and critics only through the stages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_the_import_layering_contract_is_kept() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(lint).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("import-linter is missing on CI (it is in the dev extra)")
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    result = subprocess.run([lint], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout


def test_modules_stay_small() -> None:
    """No module of the library is longer than 500 lines, and no CLI module longer than 250."""
    too_long = []
    for path in sorted((REPO / "mscsql").rglob("*.py")):
        limit = 250 if "cli" in path.relative_to(REPO / "mscsql").parts[:1] else 500
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > limit:
            too_long.append(f"{path.relative_to(REPO)}: {lines} lines (at most {limit})")
    assert not too_long, "\n".join(too_long)
