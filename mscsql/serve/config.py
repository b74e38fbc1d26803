"""``mscsql serve``'s configuration (``configs/serve.yaml``): the pipeline, the databases clients may name,
the API keys, the limits and the store. ``${VAR}`` works in every value; an unknown key is an error naming it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from mscsql.config import PipelineConfig, StrictModel, expand_env, load_generation_config, load_yaml, parse_config
from mscsql.errors import ConfigError
from mscsql.packaged import resolve_config


class DatabaseEntry(StrictModel):
    url: str = Field(description="a SQLite path or a database URL (kept on the server, never sent to clients)")
    description: str = ""
    #: a connection as a superuser or root is refused at start unless this is true
    allow_superuser: bool = False
    #: a Spider/BIRD tables.json whose names and descriptions the schema gets
    tables_json: str | None = None


class AuthSettings(StrictModel):
    api_keys_env: str = Field("MSCSQL_API_KEYS", description="environment variable with comma-separated keys")
    admin_keys_env: str = Field("MSCSQL_ADMIN_KEYS", description="environment variable with the admin keys")

    def keys(self) -> tuple[frozenset[str], frozenset[str]]:
        """(every key that may call the API, the admin keys); admin keys may call it too."""
        def read(name: str) -> frozenset[str]:
            return frozenset(k.strip() for k in os.environ.get(name, "").split(",") if k.strip())

        admin = read(self.admin_keys_env)
        return read(self.api_keys_env) | admin, admin


class Limits(StrictModel):
    max_rows: int = Field(1000, ge=1, le=1_000_000, description="rows an answer or a query returns at most")
    max_question_chars: int = Field(2000, ge=1)
    max_sql_chars: int = Field(20_000, ge=1)
    max_concurrent_asks: int = Field(8, ge=1, description="asks in flight; more are refused with 429")
    request_timeout_s: float = Field(120.0, gt=0, le=3600)


class BatchingSettings(StrictModel):
    window_ms: float = Field(20.0, ge=0, description="how long a batch waits for more asks on its database")
    max_batch: int = Field(16, ge=1)


class ServeConfig(StrictModel):
    pipeline: str | dict[str, Any] = Field("default", description="a packaged config's name, a YAML path, or inline")
    databases: dict[str, DatabaseEntry] = Field(min_length=1)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    limits: Limits = Field(default_factory=Limits)
    batching: BatchingSettings = Field(default_factory=BatchingSettings)
    store: str = Field("sqlite:///mscsql-store.sqlite", description="answers are kept here (a SQLAlchemy URL)")

    @model_validator(mode="after")
    def _names_are_paths(self) -> ServeConfig:
        bad = [n for n in self.databases if not n or "/" in n or n != n.strip()]
        if bad:
            raise ValueError(f"database names must be non-empty words without '/': {bad}")
        return self

    def pipeline_config(self, base: Path | None = None) -> PipelineConfig:
        """The pipeline this service runs (a relative YAML path is read beside the serve config)."""
        source: Any = self.pipeline
        if isinstance(source, str) and base is not None and (base / source).is_file():
            source = base / source
        return load_generation_config(source, PipelineConfig)


def load_serve_config(path: str | Path) -> tuple[ServeConfig, Path]:
    """The serve config at ``path`` (a file, or a packaged name such as ``serve``) and the folder relative
    paths in it are read from."""
    found = resolve_config(path, "pipeline")
    if not isinstance(found, str | Path):
        return parse_config(ServeConfig, expand_env(load_yaml(found)), str(path)), Path.cwd()
    located = Path(found)
    if not located.is_file():
        raise ConfigError(f"serve config {path} does not exist", hint="e.g. mscsql serve --config configs/serve.yaml")
    return parse_config(ServeConfig, expand_env(load_yaml(located)), str(located)), located.parent
