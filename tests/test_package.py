"""The package's promises: light imports, one error hierarchy, an installed console script."""

from __future__ import annotations

import shutil
import subprocess
import sys

import mscsql
from mscsql import errors

HEAVY = ("torch", "transformers", "vllm", "psycopg", "pymysql", "sentence_transformers", "peft")


def test_import_mscsql_loads_no_heavy_backend_or_driver() -> None:
    code = ("import sys, mscsql, mscsql.db, mscsql.cli; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""


def test_every_error_derives_from_the_root() -> None:
    kinds = [obj for obj in vars(errors).values() if isinstance(obj, type) and issubclass(obj, Exception)]
    assert len(kinds) >= 6
    assert all(issubclass(kind, errors.MscSqlError) for kind in kinds)
    assert str(errors.ConfigError("bad value", hint="fix it")) == "bad value\n  hint: fix it"


def test_console_script_is_installed() -> None:
    exe = shutil.which("mscsql")
    assert exe is not None, "pip install -e . should install the mscsql command"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    assert "db" in out
    assert mscsql.__version__
