"""Two training processes on CPU through ``accelerate launch`` and configs/accelerate/cpu_ddp.yaml: the run
completes, the main process alone writes, and the adapter loads with peft."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.training import tiny_setup

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "accelerate" / "cpu_ddp.yaml"

pytestmark = pytest.mark.skipif(importlib.util.find_spec("accelerate") is None,
                                reason="accelerate is not installed (pip install 'mscsql[train]')")


def test_accelerate_configs_are_valid() -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    kinds = {name: load_config_from_file(str(ROOT / "configs" / "accelerate" / f"{name}.yaml"))
             for name in ("ddp", "fsdp", "cpu_ddp")}
    assert {name: c.distributed_type.value for name, c in kinds.items()} == {
        "ddp": "MULTI_GPU", "fsdp": "FSDP", "cpu_ddp": "MULTI_GPU"}
    assert kinds["cpu_ddp"].num_processes == 2 and kinds["cpu_ddp"].use_cpu
    fsdp = kinds["fsdp"].fsdp_config
    assert fsdp["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP" and fsdp["fsdp_reshard_after_forward"] is True
    for name in kinds:  # each file says how to launch it
        text = (ROOT / "configs" / "accelerate" / f"{name}.yaml").read_text()
        assert f"accelerate launch --config_file configs/accelerate/{name}.yaml -m mscsql train" in text


def test_two_cpu_processes_train_and_write_one_adapter(tmp_path: Path) -> None:
    pytest.importorskip("peft")
    pytest.importorskip("datasets")
    base = tiny_setup.build_base(tmp_path / "base")
    data = tiny_setup.build_dataset(tmp_path / "data")
    output = tmp_path / "out"
    config = tmp_path / "train.yaml"
    settings = tiny_setup.config_dict(base, data, output, max_steps=4, per_device_batch_size=2, save_steps=2)
    settings["training"]["device"] = "auto"  # the command line sets cpu
    config.write_text(yaml.safe_dump(settings))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    # `accelerate launch ...`, through the interpreter running the tests (the same environment)
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIG),
               "-m", "mscsql", "train", "--config", str(config), "--set", "training.device=cpu",
               "--set", "training.max_steps=3"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"accelerate launch failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"

    summary = json.loads((output / "train_summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["steps"] == 3 and summary["device"] == "cpu"
    assert summary["effective_batch_size"] == 4
    assert "trained 3 steps" in done.stdout

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32),
                                      output / "adapter")
    assert any("lora_" in name for name, _ in model.named_parameters())
    assert sorted(p.name for p in output.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-3"]
