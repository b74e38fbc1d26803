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


def test_python_dash_m_mscsql_is_the_command() -> None:
    out = subprocess.run([sys.executable, "-m", "mscsql", "eval", "--help"], capture_output=True, text=True,
                         check=True).stdout
    assert "score" in out and "generate" in out and "select" in out  # generate and select also under eval


def test_shipped_configs_are_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from mscsql.config import PipelineConfig, load_generation_config
    from mscsql.errors import ConfigError
    from mscsql.packaged import config_names

    assert {"default", "cpu", "local-server", "tiny", "paper", "msc-plus", "server"} <= set(config_names())
    assert "tiny/critic_lora" in config_names("train")
    assert load_generation_config("default", PipelineConfig) == load_generation_config(
        str(mscsql.packaged.packaged_configs() / "default.yaml"), PipelineConfig)
    try:
        load_generation_config("no-such-config")
    except ConfigError as err:
        assert all(name in str(err) for name in ("default", "cpu", "local-server"))
    else:
        raise AssertionError("an unknown config name must be refused")


def test_the_wheel_carries_configs_and_demo_and_runs_outside_the_checkout(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Built as a wheel and installed apart from the checkout (no dependencies: the test environment has them),
    ``mscsql demo create`` and ``mscsql ask`` with the default config work from another folder."""
    import os
    import zipfile
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path / "wheel"), str(repo)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "wheel").glob("mscsql-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "mscsql/configs/default.yaml" in names and "mscsql/demo_data/schema.sql" in names
    assert "mscsql/critic/checks_critic.json" in names
    target = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                                str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # only the installed copy is importable: no editable finder, no checkout on the path
    env = {**os.environ, "PYTHONPATH": str(target), "PYTHONNOUSERSITE": "1"}
    run = [sys.executable, "-c", "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in "
           "repr(f) + type(f).__module__]; import mscsql, mscsql.cli; assert mscsql.__file__.startswith(sys.argv[1]),"
           " mscsql.__file__; sys.argv = ['mscsql'] + sys.argv[2:]; mscsql.cli.run()", str(target)]
    demo = subprocess.run([*run, "demo", "create", "--out", "demo.sqlite"], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=120)
    assert demo.returncode == 0, demo.stderr
    assert "120 customers" in demo.stdout
    asked = subprocess.run([*run, "ask", "--db", "demo.sqlite", "How many customers are there?"], cwd=elsewhere,
                           env={**env, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=300)
    assert asked.returncode == 2 and "Traceback" not in asked.stderr, asked.stderr
    assert "qwen2.5-coder-1.5b" in asked.stderr and "cannot run" in asked.stderr  # the default config was found


def test_the_repository_paths_of_shipped_configs_work_outside_a_checkout(tmp_path, monkeypatch) -> None:
    import pytest

    from mscsql.errors import ConfigError
    from mscsql.packaged import packaged_configs, resolve_config

    monkeypatch.chdir(tmp_path)  # no configs/ folder here
    assert resolve_config("configs/train/tiny/linker_lora.yaml", "train") == \
        packaged_configs("train") / "tiny" / "linker_lora.yaml"
    assert resolve_config("configs/tiny.yaml") == packaged_configs() / "tiny.yaml"
    missing = tmp_path / "configs" / "tiny.yaml"  # an absolute path is the user's own file, never replaced
    assert resolve_config(str(missing)) == missing
    (tmp_path / "configs").mkdir()
    own = tmp_path / "configs" / "tiny.yaml"
    own.write_text("generators: []\n")
    assert resolve_config("configs/tiny.yaml") == own.relative_to(tmp_path)  # a file that is there wins
    with pytest.raises(ConfigError, match="tiny/linker_lora"):  # the hint lists the shipped names
        from mscsql.training.config import load_train_config

        load_train_config("configs/train/nope.yaml")
