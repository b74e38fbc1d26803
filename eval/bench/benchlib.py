"""What the benchmark scripts share: a description of the machine and writing the figures."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_figures(path: Path | None, figures: dict[str, Any]) -> None:
    """Write the figures as JSON (when a path was given), creating the folder."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
