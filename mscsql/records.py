"""Per-question JSONL files that long runs append to as they go and read back to resume.

A kill can leave the last line cut short; :func:`read_records` skips such a line, and
:func:`rewrite_records` writes back what survived so the next append does not run into it.
"""

from __future__ import annotations

import json
from collections.abc import Container
from pathlib import Path
from typing import Any

from mscsql.fileio import write_text_atomic


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of ``path`` (one per ``index``, the last one written), in index order."""
    if not path.is_file():
        return []
    records: dict[int, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill
        records[record["index"]] = record
    return [records[k] for k in sorted(records)]


def rewrite_records(path: Path, keep: Container[int] | None = None) -> list[dict[str, Any]]:
    """Rewrite ``path`` with its readable records (only the indexes in ``keep``, when given), in index order;
    returns them."""
    records = [r for r in read_records(path) if keep is None or r["index"] in keep]
    if path.is_file() or records:
        write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return records
