"""The ``selection:`` settings the options of ``mscsql select`` stand for (``--selector``, ``--encoder``,
``--critic-model``, ``--critic-mode``, ``--critic-ordering``, ``--max-pairs``)."""

from __future__ import annotations

from typing import Any

from mscsql.errors import ConfigError


def critic_settings(models: list[str] | None, mode: str, ordering: str,
                    max_pairs: int | None) -> dict[str, Any] | None:
    """The ``critic:`` section the ``--critic-*`` options stand for (None without ``--critic-model``)."""
    if not models:
        if mode != "joint" or ordering != "permutations" or max_pairs is not None:
            raise ConfigError("--critic-mode, --critic-ordering and --max-pairs set up --critic-model",
                              hint="add --critic-model PATH (a local causal LM folder)")
        return None
    settings: dict[str, Any] = {
        "mode": mode,
        "models": [{"name": f"critic{n + 1}" if len(models) > 1 else "critic", "backend": "hf", "model": m, "n": 1,
                    "temperature": 0, "options": {"progress": False}} for n, m in enumerate(models)]}
    if ordering != "permutations":
        settings["ordering"] = ordering
    if max_pairs is not None:
        settings["max_pairs"] = max_pairs
    return settings


def selection_settings(name: str, encoder: str | None, critic: dict[str, Any] | None) -> Any:
    """The ``selection:`` settings ``mscsql select --selector NAME`` stands for."""
    from mscsql.config import SelectionConfig, parse_config
    from mscsql.critic.registry import SELECTORS
    from mscsql.registry import require_known

    require_known(SELECTORS, name, "selector")
    if name == "critic" and not critic:
        raise ConfigError("--selector critic needs --critic-model", hint="a local causal LM folder")
    data = {"selector": name, "encoder": encoder, "critic": critic if name == "critic" else None}
    return parse_config(SelectionConfig, {k: v for k, v in data.items() if v is not None}, f"--selector {name}")
