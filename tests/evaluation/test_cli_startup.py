"""Scoring a file prints its plain lines without loading rich (about 25 ms of a short command's start-up), pydantic
or the config models (about 70 ms: the database layer reads mscsql.defaults)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_scoring_a_file_loads_neither_rich_nor_pydantic(bird_dir: Path, tmp_path: Path) -> None:
    gold = [q for q in json.loads((bird_dir / "dev.json").read_text(encoding="utf-8"))
            if (bird_dir / "dev_databases" / q["db_id"]).is_dir()]  # nothing to warn about
    (bird_dir / "dev.json").write_text(json.dumps(gold), encoding="utf-8")
    predictions = tmp_path / "preds.json"
    predictions.write_text(json.dumps({str(i): f"{q['SQL']}\t----- bird -----\t{q['db_id']}"
                                       for i, q in enumerate(gold)}), encoding="utf-8")
    script = ("import runpy, sys\n"
              f"sys.argv = ['mscsql', 'eval', 'score', '--benchmark', 'bird-dev', '--data-dir', {str(bird_dir)!r},"
              f" '--scorer', 'soft-f1', '--no-cache', '--no-chart', '--output', {str(tmp_path / 'out')!r},"
              f" '--predictions', {str(predictions)!r}]\n"
              "try:\n    runpy.run_module('mscsql', run_name='__main__')\nexcept SystemExit as stop:\n"
              "    assert not stop.code, stop.code\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_core')\n"
              "             or m == 'mscsql.config'))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("preds.json: ") and f"% of {len(gold)} (" in lines[0]  # the command's own line
    assert lines[-2] == "[]"  # rich
    assert lines[-1] == "[]"  # pydantic and the config models
