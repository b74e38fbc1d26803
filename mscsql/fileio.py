"""Output folders of long runs: created with one clear error when they cannot be, written atomically, and
claimed by a ``run.json`` that says which run they hold.

Every summary, report and identity file is written to a temporary file beside it and then renamed over it,
so a run killed mid-write leaves the old file or the new one, never half of one. Rows are appended chunk by
chunk (:class:`ChunkAppender`).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from mscsql.errors import ConfigError, DatasetError, MscSqlError

RUN_FILE = "run.json"
#: how often rows appended by a long run are forced to disk (each chunk is flushed as it is written)
SYNC_INTERVAL_S = 1.0


def output_folder(path: str | Path, option: str = "--output") -> Path:
    """``path`` as an existing folder (created with its parents when missing)."""
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{option} {folder} is a file, not a folder", hint="give the path of a folder to write to")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create the folder {folder} ({option}): {err.strerror or err}",
                          hint="choose a folder you can write to") from None
    return folder


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (UTF-8) through a temporary file renamed over it."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any, **dumps: Any) -> None:
    write_text_atomic(path, json.dumps(data, **{"indent": 2, "ensure_ascii": False, **dumps}) + "\n")


def read_run_identity(folder: Path) -> dict[str, Any] | None:
    """The identity a folder's ``run.json`` holds (None when there is none)."""
    path = folder / RUN_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetError(f"{path} cannot be read ({type(err).__name__}: {err})",
                           hint=f"if {folder} holds a run of this same command, delete {path} and run again to "
                                "resume; otherwise choose another --output folder") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path} does not hold a run description",
                           hint=f"delete {path} to resume, or choose another --output folder")
    return data


def claim_run_folder(folder: Path, identity: dict[str, Any], *, what: str, has_results: bool = True) -> None:
    """Make ``folder`` hold the run ``identity``: refuse when it holds another run's results (``has_results``
    False: refuse any other run), then write ``run.json``."""
    previous = read_run_identity(folder)
    wanted = json.loads(json.dumps(identity))
    if previous is not None and previous != wanted and has_results:
        where = _first_difference(previous, wanted)
        raise DatasetError(f"{folder} holds {what} with other settings" + (f" ({where} differs)" if where else ""),
                           hint="choose another --output folder, or delete this one to start again")
    write_json_atomic(folder / RUN_FILE, identity)


def _first_difference(old: Any, new: Any, path: str = "") -> str:
    """Where two JSON values first differ (``config.generators.0.model``), "" when they do not."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            if old.get(key) != new.get(key):
                return _first_difference(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
        return ""
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for position, (a, b) in enumerate(zip(old, new, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{path}.{position}" if path else str(position))
        return ""
    return path if old != new else ""


def read_text_file(path: str | Path, what: str, error: type[MscSqlError] = ConfigError) -> str:
    """The UTF-8 text of a file a user gave, or one clear ``error`` saying why it cannot be read."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{what} {path} is not UTF-8 text (byte {err.start}: {err.reason})",
                    hint="save the file as UTF-8") from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a folder, not a file") from None
    except OSError as err:
        raise error(f"{what} {path} cannot be read: {err.strerror or err}") from None


class ChunkAppender:
    """A long run's rows file, appended to chunk by chunk: each chunk is flushed as it is written (it survives the
    process), and the file is forced to disk at most once every :data:`SYNC_INTERVAL_S` and when closed (a
    machine crash loses at most a second of rows)."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8")
        self._synced = time.monotonic()

    def write(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()
        if time.monotonic() - self._synced >= SYNC_INTERVAL_S:
            os.fsync(self._file.fileno())
            self._synced = time.monotonic()

    def __enter__(self) -> ChunkAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            os.fsync(self._file.fileno())
        finally:
            self._file.close()
