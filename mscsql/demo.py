"""The demo business database: regions, customers, products and orders (a few hundred rows), built from
the project's own sources in ``data/demo/`` (``schema.sql`` and one CSV file per table; packaged as
``mscsql/demo_data``)."""

from __future__ import annotations

import csv
import sqlite3
from importlib.resources.abc import Traversable
from pathlib import Path

from mscsql.errors import ConfigError, DatasetError
from mscsql.packaged import demo_sources

TABLES = ("regions", "customers", "products", "orders")


def create_demo(target: str | Path, *, overwrite: bool = False, sources: Path | Traversable | None = None) -> Path:
    """Write the demo database to the SQLite file ``target``; returns its path."""
    target = Path(target)
    sources = sources if sources is not None else demo_sources()
    if not (sources / "schema.sql").is_file():
        raise DatasetError(f"the demo sources are missing from {sources}",
                           hint="reinstall mscsql: its package carries them (mscsql/demo_data)")
    if target.exists():
        if not overwrite:
            raise ConfigError(f"{target} already exists", hint="pass --overwrite to replace it")
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    conn = sqlite3.connect(partial)
    try:
        conn.executescript((sources / "schema.sql").read_text(encoding="utf-8"))
        for table in TABLES:
            with (sources / f"{table}.csv").open(newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle)
                header = next(reader)
                marks = ", ".join("?" for _ in header)
                conn.executemany(f"INSERT INTO {table} ({', '.join(header)}) VALUES ({marks})", reader)
        conn.commit()
    finally:
        conn.close()
    partial.rename(target)
    return target
