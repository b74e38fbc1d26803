"""Training datasets on disk: a Hugging Face ``datasets`` folder (``DatasetDict.save_to_disk``) with a card.

Every builder writes rows of one role with :func:`write_dataset`; the card (``card.json``, and ``CARD.md`` for
people) records the role, the counts, the label balance, the sources (benchmarks, files and their hashes), the
prompt template and hash, and the settings used. :func:`read_dataset` checks the role before training starts.

Rows of the causal-LM roles carry ``messages`` (the chat prompt: system and user turns) and ``completion``
(the assistant's answer, the only text that carries loss); builders add their own columns beside them.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mscsql.errors import ConfigError, DatasetError
from mscsql.fileio import output_folder, write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

CARD_FILE = "card.json"
CARD_TEXT = "CARD.md"
DATASET_DIR = "data"
FORMAT = "mscsql-training-data"
VERSION = 1


def _require_datasets() -> Any:
    try:
        import datasets
    except ImportError as err:
        from mscsql.errors import BackendUnavailable

        raise BackendUnavailable("building and reading training data needs the 'datasets' package",
                                 hint="pip install 'mscsql[train]'") from err
    return datasets


def write_dataset(output: str | Path, role: str, splits: dict[str, Sequence[dict[str, Any]]],
                  card: dict[str, Any]) -> Path:
    """Write ``splits`` (name -> rows) as a ``DatasetDict`` under ``output/data`` and the card beside it.
    An earlier dataset in ``output`` is replaced; the card is written last, so a folder without one is
    not a finished dataset."""
    datasets = _require_datasets()
    folder = Path(output).expanduser()
    kept = {name: list(rows) for name, rows in splits.items() if rows}
    if not kept:
        raise DatasetError(f"no {role} training examples to write to {folder}",
                           hint="check the benchmark, the database filter and the pools given")
    output_folder(folder)
    (folder / CARD_FILE).unlink(missing_ok=True)
    target = folder / DATASET_DIR
    if target.exists():
        shutil.rmtree(target)
    dataset = datasets.DatasetDict({name: datasets.Dataset.from_list(rows) for name, rows in kept.items()})
    dataset.save_to_disk(str(target))
    full = {"format": FORMAT, "version": VERSION, "role": role,
            "counts": {name: len(rows) for name, rows in kept.items()}, **card}
    write_json_atomic(folder / CARD_FILE, full, sort_keys=True, default=str)
    write_text_atomic(folder / CARD_TEXT, _card_markdown(full))
    log.info("wrote %s training data to %s: %s", role, folder, full["counts"])
    return folder


def _card_markdown(card: dict[str, Any]) -> str:
    lines = [f"# mscsql {card['role']} training data", ""]
    for key in sorted(card):
        if key in ("format", "version", "role"):
            continue
        value = card[key]
        text = json.dumps(value, sort_keys=True, default=str) if isinstance(value, dict | list) else str(value)
        lines.append(f"- **{key}**: {text}")
    return "\n".join(lines) + "\n"


def read_card(folder: str | Path) -> dict[str, Any]:
    path = Path(folder).expanduser() / CARD_FILE
    if not path.is_file():
        raise ConfigError(f"{str(folder)!r} is not a training dataset folder (it has no {CARD_FILE})",
                          hint="build one with: mscsql train data <linker|generator|critic> ... --output FOLDER")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"cannot read {str(path)!r}: {err}") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise ConfigError(f"{str(path)!r} is not a card of {FORMAT}")
    return card


def read_dataset(folder: str | Path, role: str | None = None) -> tuple[Any, dict[str, Any]]:
    """The ``DatasetDict`` in ``folder`` and its card; ``role`` (when given) must be the card's."""
    datasets = _require_datasets()
    card = read_card(folder)
    if role is not None and card.get("role") != role:
        raise ConfigError(f"{str(folder)!r} holds {card.get('role')} training data, not {role} data",
                          hint=f"build it with: mscsql train data {role} ... --output FOLDER")
    return datasets.load_from_disk(str(Path(folder).expanduser() / DATASET_DIR)), card
