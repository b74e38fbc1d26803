"""What a training run records about its environment: the Python and package versions."""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Iterable

#: the packages whose versions a training summary records
PACKAGES = ("mscsql", "torch", "transformers", "peft", "accelerate", "datasets", "bitsandbytes")


def package_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions(packages: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    """The Python version and each installed package's (None for one that is not installed)."""
    return {"python": platform.python_version(), **{p: package_version(p) for p in packages}}
