"""Files that ship inside the package: the configs and the demo database's sources.

Their one source of truth is the repository's ``configs/`` and ``data/demo/`` folders; ``mscsql/configs`` and
``mscsql/demo_data`` link to them, so a checkout, an editable install and a wheel installed anywhere all read
the same files. A config is named (``default``, ``tiny``, ``paper``, ``server``; training configs
``critic_lora``, ``tiny/critic_lora``, ...) or given as a path.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from mscsql.errors import ConfigError

#: config kinds and the packaged folder that holds their named files
_FOLDERS = {"pipeline": (), "train": ("train",)}
#: configs beside the pipeline configs that are not pipelines (``mscsql serve --config serve``)
NOT_PIPELINES = frozenset({"serve.yaml"})


def packaged_configs(kind: str = "pipeline") -> Traversable:
    folder = resources.files("mscsql.configs")
    for part in _FOLDERS[kind]:
        folder = folder / part
    return folder


def config_names(kind: str = "pipeline") -> list[str]:
    """The names of the packaged configs of ``kind``."""
    folder = packaged_configs(kind)
    names = [entry.name[:-5] for entry in folder.iterdir() if entry.name.endswith(".yaml")
             and (kind != "pipeline" or entry.name not in NOT_PIPELINES)]
    if kind == "train":
        tiny = folder / "tiny"
        names += [f"tiny/{entry.name[:-5]}" for entry in tiny.iterdir() if entry.name.endswith(".yaml")]
    return sorted(names)


def resolve_config(value: str | Path, kind: str = "pipeline") -> Path | Traversable:
    """A config's file: ``value`` as a path when it names a file or looks like one (a ``.yaml``/``.yml``
    suffix), else the packaged config of that name."""
    text = str(value)
    path = Path(text).expanduser()
    if path.exists():
        return path
    shipped = _shipped_twin(path, kind)
    if shipped is not None:  # the repository's path of a shipped config, outside a checkout
        return shipped
    if path.suffix in (".yaml", ".yml"):
        return path
    candidate = packaged_configs(kind).joinpath(*f"{text}.yaml".split("/"))
    if candidate.is_file():
        return candidate
    raise ConfigError(f"no config named {text!r} and no file {path}",
                      hint=f"give a YAML file, or one of the shipped {kind} configs: {', '.join(config_names(kind))}")


def _shipped_twin(path: Path, kind: str) -> Traversable | None:
    """The shipped config a missing relative ``configs/[train/]NAME.yaml`` names (the repository's layout, which
    the documentation uses, read outside a checkout), else None."""
    parts = path.as_posix().split("/")
    if path.suffix != ".yaml" or path.is_absolute() or parts[0] != "configs":
        return None
    rest = parts[1:]
    folder = list(_FOLDERS[kind])
    if rest[:len(folder)] != folder:
        return None
    candidate = packaged_configs(kind).joinpath(*rest[len(folder):])
    return candidate if candidate.is_file() else None


def demo_sources() -> Traversable:
    """The folder with the demo database's ``schema.sql`` and one CSV file per table."""
    return resources.files("mscsql.demo_data")
