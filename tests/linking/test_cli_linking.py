"""`mscsql index` and `mscsql link` as a user runs them: a real subprocess on real databases and data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.retrieval.test_value_index import make_db
from tests.test_cli import mscsql

pytest.importorskip("sentence_transformers")


def test_index_build_then_search(tmp_path: Path) -> None:
    db = make_db(tmp_path / "schools.sqlite")
    folder = tmp_path / "idx"
    built = mscsql("index", "build", str(db), "--out", str(folder))
    assert built.returncode == 0, built.stderr
    assert f"from 9 columns in {folder}" in built.stdout or "columns in" in built.stdout
    assert (folder / "meta.json").is_file() and (folder / "embeddings.npy").is_file()
    searched = mscsql("index", "search", str(db), "schools in Alameda", "--index", str(folder), "--json")
    assert searched.returncode == 0, searched.stderr
    matches = json.loads(searched.stdout)
    assert matches[0] == {"table": "schools", "column": "county", "value": "Alameda", "score": 1.0,
                          "source": "exact"}
    table = mscsql("index", "search", str(db), "schools in Alameda", "--index", str(folder))
    assert "Alameda" in table.stdout and "exact" in table.stdout


def test_searching_an_index_keeps_the_settings_it_was_built_with(tmp_path: Path) -> None:
    db = make_db(tmp_path / "schools.sqlite")
    folder = tmp_path / "idx"
    assert mscsql("index", "build", str(db), "--out", str(folder), "--no-embed", "--max-values", "2").returncode == 0
    meta = (folder / "meta.json").read_text()
    searched = mscsql("index", "search", str(db), "schools in Alameda", "--index", str(folder), "--json")
    assert searched.returncode == 0, searched.stderr
    assert (folder / "meta.json").read_text() == meta and not (folder / "embeddings.npy").exists()
    assert json.loads(searched.stdout)[0]["value"] == "Alameda"


def test_index_build_on_a_missing_database_is_one_clear_error(tmp_path: Path) -> None:
    result = mscsql("index", "build", str(tmp_path / "nope.sqlite"))
    assert result.returncode == 2
    assert "no SQLite database" in result.stderr and "Traceback" not in result.stderr


def test_link_show_prints_the_linked_schema_and_trace(tmp_path: Path) -> None:
    db = make_db(tmp_path / "schools.sqlite")
    result = mscsql("link", "show", str(db), "How many cats weigh more than 3 kilos?", "--index",
                    str(tmp_path / "idx"), "--budget", "400")
    assert result.returncode == 0, result.stderr
    assert "Table pets" in result.stdout and '"cat"' in result.stdout
    assert "Table schools" not in result.stdout
    assert "embedding: kept 1/4 tables" in result.stderr


def test_link_show_with_an_unknown_linker(tmp_path: Path) -> None:
    db = make_db(tmp_path / "schools.sqlite")
    result = mscsql("link", "show", str(db), "anything", "--linker", "magic", "--no-values")
    assert result.returncode == 2 and "unknown schema linker 'magic'" in result.stderr


def test_llm_tables_without_a_model_is_one_clear_error(shared_data: Path, tmp_path: Path) -> None:
    result = mscsql("link", "eval", "--benchmark", "bird-dev", "--data-dir", str(shared_data / "bird"),
                    "--schema-only", "--linker", "llm-tables", "--output", str(tmp_path / "out"))
    assert result.returncode == 2 and "--generator-model" in result.stderr
