"""``--set key=value`` overrides of a config's fields, as ``mscsql train``, ``mscsql ask``, ``mscsql generate`` and
``mscsql eval run`` take them.

A key is a dotted path into the config: ``training.max_steps=10``, ``selection.selector=vote``. A list of named
items (``generators``, ``selection.critic.models``) is entered by an item's ``name`` or by its position:
``generators.mistral-7b.model=/models/mistral`` or ``generators.0.model=...``. Values are read as YAML (``10``,
``true``, ``[a, b]``, ``null``), except fields that hold names and paths (``model``, ``adapter``, ...), which stay
text whatever they look like (a model called ``yes``, a folder called ``123``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mscsql.errors import ConfigError

#: the last part of a key whose value is always text
TEXT_KEYS = frozenset({"model", "adapter", "dataset", "output_dir", "name", "encoder", "base_url", "predictions",
                       "lr_scheduler", "device", "tables_json", "confidence"})


def parse_overrides(items: Iterable[str] | None, text_keys: frozenset[str] = TEXT_KEYS) -> list[tuple[str, Any]]:
    """``key=value`` pairs from the command line (see the module's docstring)."""
    import yaml

    pairs = []
    for item in items or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"--set {item!r} is not of the form key=value",
                              hint="e.g. --set training.max_steps=10 or --set generators.0.model=/models/m")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        if key.rsplit(".", 1)[-1] in text_keys and not isinstance(value, str) and value is not None:
            value = text.strip()
        pairs.append((key, value))
    return pairs


def _list_index(items: list[Any], part: str, key: str) -> int:
    """The position of the item of a list named ``part`` (its ``name`` field) or at position ``part``."""
    named = [i for i, item in enumerate(items) if isinstance(item, dict) and item.get("name") == part]
    if part.lstrip("-").isdigit():
        index = int(part)
        if named and named != [index % len(items) if items else index]:
            raise ConfigError(f"--set {key}: {part!r} is both a position and the name of another item",
                              hint="name the item by a name that is not a number")
        if -len(items) <= index < len(items):
            return index % len(items)
        raise ConfigError(f"--set {key}: position {index} is past the end of a list of {len(items)}")
    if named:
        return named[0]
    names = [str(item.get("name")) for item in items if isinstance(item, dict) and "name" in item]
    hint = f"use a position (0 to {len(items) - 1})" if items else "the list is empty"
    raise ConfigError(f"--set {key}: no item named {part!r}",
                      hint=hint + (f" or one of: {', '.join(names)}" if names else ""))


def set_field(data: dict[str, Any], key: str, value: Any) -> None:
    """Set the field at dotted ``key`` in ``data`` (sections made as needed; lists entered by name or position)."""
    parts = key.split(".")
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            index = _list_index(node, part, key)
            child = node[index]
        else:
            child = node.get(part)
            if child is None:  # a missing or empty (null) section
                child = node[part] = {}
            index = part
        if isinstance(child, tuple):
            child = node[index] = list(child)
        if not isinstance(child, dict | list):
            where = ".".join(parts[:depth + 1])
            raise ConfigError(f"--set {key}: {where!r} is a value, not a section of the config")
        node = child
    last = parts[-1]
    if isinstance(node, list):
        node[_list_index(node, last, key)] = value
    else:
        node[last] = value


def apply_overrides(data: dict[str, Any], items: Iterable[str] | None,
                    text_keys: frozenset[str] = TEXT_KEYS) -> dict[str, Any]:
    """``data`` with every ``key=value`` of ``items`` set (in place; returned for convenience)."""
    for key, value in parse_overrides(items, text_keys):
        set_field(data, key, value)
    return data
