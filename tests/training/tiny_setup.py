"""Shared by the training tests: a tiny random-init base model, a tiny generator dataset of (messages,
completion) rows, and training configs over them. Everything is offline and runs on CPU in seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mscsql.training.config import TrainConfig, load_train_config
from mscsql.training.dataset_io import write_dataset
from tests.models import DEFAULT_TEXTS, build_tiny_causal_lm

SYSTEM = "You write one SQLite query that answers the question."
TABLES = ("singer", "concert", "stadium", "song", "album", "artist", "city", "country")


def messages(i: int) -> list[dict[str, str]]:
    table = TABLES[i % len(TABLES)]
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Table {table}(id, name, year). Question: how many {table} rows are there?"}]


def completion(i: int) -> str:
    return f"SELECT count(*) FROM {TABLES[i % len(TABLES)]}"


#: eight training rows and two evaluation rows (evaluation: the first two questions again, so that learning the
#: training rows lowers the evaluation loss)
TRAIN_ROWS = [{"messages": messages(i), "completion": completion(i)} for i in range(8)]
EVAL_ROWS = TRAIN_ROWS[:2]
#: the tokenizer learns these texts, so that rows are a few dozen tokens long
TEXTS = (*DEFAULT_TEXTS, *(m["content"] for row in TRAIN_ROWS for m in row["messages"]),
         *(row["completion"] for row in TRAIN_ROWS))
CARD = {"prompt": {"template": "test-generator-v1", "hash": "0123456789abcdef"},
        "sources": {"unit-test": {"path": "tests/training/tiny_setup.py", "sha256": "-"}}}


def build_base(folder: Path) -> Path:
    """The tiny Llama base model (hidden 64, 2 layers) with a tokenizer trained on the rows' texts."""
    return build_tiny_causal_lm(folder, "llama", TEXTS, seed=0, hidden_size=64)


def build_dataset(folder: Path, train: list[dict[str, Any]] | None = None,
                  evaluation: list[dict[str, Any]] | None = None) -> Path:
    splits = {"train": TRAIN_ROWS if train is None else train, "eval": EVAL_ROWS if evaluation is None else evaluation}
    return write_dataset(folder, "generator", splits, card=CARD)


def config_dict(base: Path | str, data: Path, output: Path, **training: Any) -> dict[str, Any]:
    """A LoRA training config (as its YAML file would read) for a few quick CPU steps; ``training`` entries
    override the training section."""
    settings: dict[str, Any] = {
        "max_steps": 4, "per_device_batch_size": 4, "gradient_accumulation_steps": 1, "learning_rate": 1e-2,
        "warmup_ratio": 0.0, "lr_scheduler": "constant", "max_length": 256, "save_steps": 0, "eval_steps": 0,
        "logging_steps": 1, "seed": 0, "report_to": [], "device": "cpu", "precision": "auto",
        "gradient_checkpointing": True}
    settings.update(training)
    return {"role": "generator", "method": "lora", "model": str(base), "dataset": str(data), "output_dir": str(output),
            "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"}, "training": settings}


def train_config(base: Path | str, data: Path, output: Path, **training: Any) -> TrainConfig:
    return load_train_config(config_dict(base, data, output, **training))
