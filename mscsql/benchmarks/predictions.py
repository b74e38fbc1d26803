"""Prediction files in the formats people have, aligned with a benchmark's questions.

- text (``.sql``, ``.txt``, anything else): one SQL per line, optionally ``SQL<TAB>db_id`` (what the
  Spider evaluator reads). An empty line is an empty prediction. A file whose line count does not match
  but whose blank-line separated blocks do is read as one multi-line SQL per block.
- BIRD JSON (``.json``): ``{"0": "SQL\\t----- bird -----\\tdb_id", ...}``; as in BIRD's evaluator, a value
  without the separator is the SQL itself and a value that is not a string is an empty prediction.
- mscsql JSONL (``.jsonl``): one object per line with ``sql`` and ``index`` (0-based) or ``question_id``.

The text of each prediction is kept as written (trailing prose included): each scorer applies its own
official rules to it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from mscsql.benchmarks.loaders import Benchmark, sha256_file
from mscsql.errors import DatasetError
from mscsql.fileio import read_text_file

log = logging.getLogger(__name__)

BIRD_SEPARATOR = "\t----- bird -----\t"


@dataclass(frozen=True)
class PredictionFile:
    path: Path
    name: str  # unique display name within a run
    sql: tuple[str, ...]  # aligned with the benchmark's items
    sha256: str
    db_id_mismatches: int = 0


def _text_records(text: str, expected: int, path: Path) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start an empty one
    lines = [line.rstrip("\r") for line in lines]
    if len(lines) == expected:
        return lines
    blocks = [" ".join(part.strip() for part in block.split("\n") if part.strip())
              for block in text.strip().split("\n\n") if block.strip()]
    if len(blocks) == expected:
        log.info("%s: reading %d multi-line predictions separated by blank lines", path, expected)
        return blocks
    raise DatasetError(f"{path} has {len(lines)} lines ({len(blocks)} blank-line separated blocks) but the "
                       f"benchmark has {expected} questions",
                       hint="write one SQL per line, in the order of the benchmark file")


def _from_text(path: Path, expected: int) -> tuple[list[str], list[str | None]]:
    text = path.read_text(encoding="utf-8", errors="replace")
    sqls, db_ids = [], []
    for record in _text_records(text, expected, path):
        parts = record.strip().split("\t")
        sqls.append(parts[0])
        db_ids.append(parts[1].strip() if len(parts) > 1 and parts[1].strip() else None)
    return sqls, db_ids


def _from_bird_json(path: Path, expected: int) -> tuple[list[str], list[str | None]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path} must be a JSON object mapping question index to SQL (BIRD's format)")
    try:
        keys = sorted(data, key=int)
    except ValueError:
        raise DatasetError(f"{path}: keys must be question indexes (\"0\", \"1\", ...)") from None
    if [int(k) for k in keys] != list(range(expected)):
        raise DatasetError(f"{path} has predictions for {len(keys)} questions (indexes {keys[0] if keys else '-'}.."
                           f"{keys[-1] if keys else '-'}) but the benchmark has {expected} (0..{expected - 1})")
    sqls, db_ids = [], []
    for key in keys:
        value = data[key]
        if not isinstance(value, str):
            sqls.append(" ")  # BIRD's evaluator runs a blank statement for these
            db_ids.append(None)
        elif BIRD_SEPARATOR in value:
            sql, db_id = value.split(BIRD_SEPARATOR, 1)
            sqls.append(sql)
            db_ids.append(db_id.strip() or None)
        else:
            sqls.append(value.strip())
            db_ids.append(None)
    return sqls, db_ids


def _from_jsonl(path: Path, benchmark: Benchmark) -> tuple[list[str], list[str | None]]:
    by_question_id = {str(item.question_id): item.index for item in benchmark.items if item.question_id is not None}
    sqls: list[str | None] = [None] * benchmark.file_size
    db_ids: list[str | None] = [None] * benchmark.file_size
    seen: set[int] = set()
    for number, line in enumerate(read_text_file(path, "prediction file", DatasetError).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            sql = record["sql"]
            index = record["index"] if "index" in record else by_question_id[str(record["question_id"])]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise DatasetError(f"{path}:{number}: expected an object with 'sql' and 'index' or a known "
                               f"'question_id' ({err})") from None
        if not isinstance(index, int) or not 0 <= index < benchmark.file_size:
            raise DatasetError(f"{path}:{number}: index {index!r} is outside 0..{benchmark.file_size - 1}")
        if index in seen:
            raise DatasetError(f"{path}:{number}: a second prediction for question {index}")
        seen.add(index)
        sqls[index] = sql if isinstance(sql, str) else ""
        db_ids[index] = record.get("db_id")
    wanted = {item.index for item in benchmark.items}
    missing = [i for i, s in enumerate(sqls) if s is None and i in wanted]
    if missing:
        raise DatasetError(f"{path} has no prediction for {len(missing)} questions (first: index {missing[0]})")
    return [s or "" for s in sqls], db_ids


def check_prediction_paths(paths: list[str | Path]) -> None:
    """One clear error for a prediction file that is not there (before anything is loaded)."""
    for path in map(Path, paths):
        if not path.is_file():
            raise DatasetError(f"prediction file {path} does not exist",
                               hint="a folder is not a prediction file" if path.is_dir() else None)


def load_predictions(path: str | Path, benchmark: Benchmark, name: str | None = None) -> PredictionFile:
    """Read one prediction file and align it with ``benchmark``; a count mismatch is a clear error."""
    path = Path(path)
    check_prediction_paths([path])
    if path.suffix == ".json":
        sqls, db_ids = _from_bird_json(path, benchmark.file_size)
    elif path.suffix == ".jsonl":
        sqls, db_ids = _from_jsonl(path, benchmark)
    else:
        sqls, db_ids = _from_text(path, benchmark.file_size)
    mismatches = sum(1 for item in benchmark.items
                     if db_ids[item.index] is not None and db_ids[item.index] != item.db_id)
    if mismatches:
        log.warning("%s: %d predictions name another database than the benchmark question", path, mismatches)
    return PredictionFile(path=path, name=name or path.name, sql=tuple(sqls), sha256=sha256_file(path),
                          db_id_mismatches=mismatches)


def load_prediction_files(paths: list[str | Path], benchmark: Benchmark) -> list[PredictionFile]:
    """Several files; display names are made unique (the file name; with its folder, or else its whole path,
    when names repeat). The same file given twice is an error."""
    resolved = [str(Path(p).resolve()) for p in paths]
    twice = sorted({p for p in resolved if resolved.count(p) > 1})
    if twice:
        raise DatasetError(f"prediction file given twice: {twice[0]}")
    names = [Path(p).name for p in paths]
    with_folder = [f"{Path(p).parent.name}/{Path(p).name}" for p in paths]
    files = []
    for n, path in enumerate(paths):
        name = names[n]
        if names.count(name) > 1:
            name = with_folder[n] if with_folder.count(with_folder[n]) == 1 else resolved[n]
        files.append(load_predictions(path, benchmark, name))
    return files
