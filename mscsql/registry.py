"""Lazy registries: a name in a config maps to a ``"module:Attribute"`` string, imported only when used (so
``import mscsql`` never imports torch, vllm or a database driver a config does not name)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from mscsql.errors import ConfigError


def load_entry(entries: Mapping[str, str], name: str, what: str) -> Any:
    """The object registered under ``name`` in ``entries`` (``"package.module:Class"`` or
    ``"package.module:Class.factory"``); an unknown name is one :class:`ConfigError` listing the known ones."""
    require_known(entries, name, what)
    module, _, attribute = entries[name].partition(":")
    found: Any = importlib.import_module(module)
    for part in attribute.split("."):
        found = getattr(found, part)
    return found


def require_known(entries: Mapping[str, str], name: str, what: str) -> None:
    """One :class:`ConfigError` for a name ``entries`` does not hold, listing the names it does."""
    if name not in entries:
        raise ConfigError(f"unknown {what} {name!r}", hint=f"choose from: {', '.join(entries)}")
