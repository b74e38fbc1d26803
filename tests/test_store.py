"""The store: answers kept by id, schema migrations recorded and applied once, a newer store refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from mscsql.errors import ConfigError
from mscsql.store import AnswerStore
from mscsql.store.migrations import LATEST


def test_answers_are_kept_by_id_and_survive_a_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = AnswerStore(url)
    first = store.put("demo", {"question": "How many?", "sql": "SELECT 1", "result": {"rows": [[1]]}})
    second = store.put("demo", {"question": "How many?", "sql": "SELECT 2"})
    assert first != second and len(first) == 32
    store.close()
    again = AnswerStore(url)
    assert again.get(first) == {"question": "How many?", "sql": "SELECT 1", "result": {"rows": [[1]]},
                                "database": "demo", "id": first}
    saved = again.add_feedback(first, False, "SELECT 2")
    assert saved["answer_id"] == first and saved["correct"] is False and saved["sql"] == "SELECT 2"
    assert [f["sql"] for f in again.feedback(first)] == ["SELECT 2"] and again.feedback(second) == []
    from mscsql.errors import NotFound

    with pytest.raises(NotFound):
        again.add_feedback("missing", True)
    assert again.get("missing") is None
    with again.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version FROM mscsql_store_version")).scalars().all() == [LATEST]
    again.close()


def test_a_store_from_a_newer_mscsql_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    AnswerStore(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE mscsql_store_version SET version = :v"), {"v": LATEST + 1})
    engine.dispose()
    with pytest.raises(ConfigError, match="newer than this mscsql"):
        AnswerStore(url)


def test_a_bad_store_url_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="not a database URL"):
        AnswerStore("not a url")


def test_a_store_of_an_earlier_version_is_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = AnswerStore(url)
    kept = store.put("demo", {"question": "q", "sql": "SELECT 1"})
    store.close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # as version 1 left it: answers only
        conn.execute(sa.text("DROP TABLE mscsql_feedback"))
        conn.execute(sa.text("UPDATE mscsql_store_version SET version = 1"))
    engine.dispose()
    again = AnswerStore(url)
    assert again.get(kept)["sql"] == "SELECT 1"
    assert again.add_feedback(kept, True)["correct"] is True
    with again.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version FROM mscsql_store_version")).scalar() == LATEST == 2
    again.close()
