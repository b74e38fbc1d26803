"""Training configs: every shipped YAML parses, overrides apply with their types, and mistakes are one message."""

from __future__ import annotations

from pathlib import Path

import pytest

from mscsql.errors import ConfigError
from mscsql.overrides import parse_overrides
from mscsql.training.config import load_train_config

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs" / "train").rglob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT / "configs" / "train")))
def test_every_shipped_config_parses_and_names_its_command(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSCSQL_TINY_MODEL", "runs/tiny-model")
    config = load_train_config(path)
    role, method, *_variant = path.stem.split("_")
    assert (config.role, config.method) == (role, method)
    assert f"mscsql train --config configs/train/{path.relative_to(ROOT / 'configs' / 'train')}" in path.read_text()
    if method in ("lora", "qlora") and "tiny" not in path.parts:  # the paper's settings
        assert (config.lora.r, config.lora.alpha, config.lora.dropout) == (32, 128, 0.05)
        assert config.training.per_device_batch_size * config.training.gradient_accumulation_steps == 12


def test_the_shipped_configs_cover_every_role_and_method() -> None:
    names = {p.stem for p in CONFIGS if p.parent.name == "train"}
    roles = {f"{r}_{m}" for r in ("linker", "generator", "critic") for m in ("lora", "qlora")}
    assert roles | {"critic_encoder", "critic_encoder_checks"} <= names


def test_overrides_keep_their_types_and_text_fields_stay_text(tmp_path: Path) -> None:
    assert parse_overrides(["training.max_steps=10", "lora.target_modules=[q_proj, v_proj]", "model=123"]) == [
        ("training.max_steps", 10), ("lora.target_modules", ["q_proj", "v_proj"]), ("model", "123")]
    config = load_train_config(ROOT / "configs" / "train" / "generator_lora.yaml",
                               ["training.max_steps=7", "model=yes", "lora.r=8"])
    assert (config.training.max_steps, config.model, config.lora.r) == (7, "yes", 8)


@pytest.mark.parametrize(("override", "message"), [
    ("training.lr_scheduler=cosnie", "lr_scheduler"),
    ("training.device=gpu", "device"),
    ("training.epochz=2", r"training.epochz: Extra inputs are not permitted \(did you mean 'epochs'\?\)"),
    ("lroa.r=8", r"lroa: Extra inputs are not permitted \(did you mean 'lora'\?\)"),
    ("method=encoder", "role 'critic'"),
    ("training=5", "training"),
    ("novalue", "key=value"),
    ("training.max_steps=0", "max_steps: Value error, must be 1 or more, or -1 to run the epochs"),
    ("training.max_steps=-5", "max_steps: Value error, must be 1 or more"),
])
def test_mistakes_are_one_clear_error(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_train_config(ROOT / "configs" / "train" / "generator_lora.yaml", [override])
