"""The store: answers kept by id, schema migrations recorded and applied once, a newer store refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from mscsql.errors import ConfigError
from mscsql.store import Store
from mscsql.store.migrations import LATEST


def test_answers_are_kept_by_id_and_survive_a_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = Store(url)
    first = store.answers.put("demo", {"question": "How many?", "sql": "SELECT 1", "result": {"rows": [[1]]}})
    second = store.answers.put("demo", {"question": "How many?", "sql": "SELECT 2"})
    assert first != second and len(first) == 32
    store.close()
    again = Store(url)
    assert again.answers.get(first) == {"question": "How many?", "sql": "SELECT 1", "result": {"rows": [[1]]},
                                "database": "demo", "id": first}
    saved = again.answers.add_feedback(first, False, "SELECT 2")
    assert saved["answer_id"] == first and saved["correct"] is False and saved["sql"] == "SELECT 2"
    assert [f["sql"] for f in again.answers.feedback(first)] == ["SELECT 2"] and again.answers.feedback(second) == []
    from mscsql.errors import NotFound

    with pytest.raises(NotFound):
        again.answers.add_feedback("missing", True)
    assert again.answers.get("missing") is None
    with again.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version FROM mscsql_store_version")).scalars().all() == [LATEST]
    again.close()


def test_a_store_from_a_newer_mscsql_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    Store(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE mscsql_store_version SET version = :v"), {"v": LATEST + 1})
    engine.dispose()
    with pytest.raises(ConfigError, match="newer than this mscsql"):
        Store(url)


def test_a_bad_store_url_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a database URL"):
        Store("not a url")
    with pytest.raises(ConfigError, match=r"cannot open the store sqlite:///.*unable to open"):
        Store(f"sqlite:///{tmp_path / 'no' / 'such' / 'folder' / 'store.sqlite'}")
    with pytest.raises(ConfigError, match="a SQLite file or a PostgreSQL database, not mysql"):
        Store("mysql://root@127.0.0.1/store")
    with pytest.raises(ConfigError, match=r"postgresql://nobody:\*\*\*@127.0.0.1:1/x") as refused:
        Store("postgresql://nobody:secret@127.0.0.1:1/x")
    assert "secret" not in str(refused.value)


def test_turns_added_at_once_get_distinct_positions(tmp_path: Path) -> None:
    import threading

    from mscsql.types import Turn

    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    conversation = store.conversations.start("demo")
    positions: list[int] = []
    lock = threading.Lock()

    def add(number: int) -> None:
        position = store.conversations.add_turn(conversation, Turn(f"question {number}", "SELECT 1", ("1",)))
        with lock:
            positions.append(position)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(positions) == list(range(8)) and len(store.conversations.turns(conversation)) == 8
    store.close()


def test_a_store_of_an_earlier_version_is_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = Store(url)
    kept = store.answers.put("demo", {"question": "q", "sql": "SELECT 1"})
    store.close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # as version 1 left it: answers only
        for table in ("mscsql_feedback", "mscsql_examples", "mscsql_turns", "mscsql_conversations", "mscsql_notes"):
            conn.execute(sa.text(f"DROP TABLE {table}"))
        conn.execute(sa.text("UPDATE mscsql_store_version SET version = 1"))
    engine.dispose()
    again = Store(url)
    assert again.answers.get(kept)["sql"] == "SELECT 1"
    assert again.answers.add_feedback(kept, True)["correct"] is True
    assert again.examples.list("demo") == [] and again.notes.list("demo") == []
    with again.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version FROM mscsql_store_version")).scalar() == LATEST == 4
    again.close()


def test_a_conversation_turn_follows_the_latest_feedback_on_its_answer(tmp_path: Path) -> None:
    from mscsql.types import Turn

    with Store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        conversation = store.conversations.start("demo")
        answer = store.answers.put("demo", {"question": "How many customers?", "sql": "SELECT count(*) FROM c"})
        store.conversations.add_turn(conversation, Turn("How many customers?", "SELECT count(*) FROM c"), answer)

        def turn_sql() -> str | None:
            return store.conversations.turns(conversation)[0].sql

        store.add_feedback(answer, False, "SELECT count(*) FROM c WHERE active")
        assert turn_sql() == "SELECT count(*) FROM c WHERE active"  # the correction
        store.add_feedback(answer, False)
        assert turn_sql() == "SELECT count(*) FROM c WHERE active"  # "wrong" alone keeps the best known query
        store.add_feedback(answer, True)
        assert turn_sql() == "SELECT count(*) FROM c"  # confirmed after all: the answer's own query again


def test_a_confirmation_with_a_query_is_refused(tmp_path: Path) -> None:
    from mscsql.errors import RejectedInput

    with Store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        answer = store.answers.put("demo", {"question": "How many?", "sql": "SELECT 1"})
        with pytest.raises(RejectedInput, match="confirmation takes no query"):
            store.add_feedback(answer, True, "SELECT 2")
        assert store.answers.feedback(answer) == []  # nothing was kept


def test_a_broken_line_of_an_examples_file_is_named_by_its_number(tmp_path: Path) -> None:
    from mscsql.errors import RejectedInput
    from mscsql.store.examples import read_examples_file

    path = tmp_path / "examples.jsonl"
    path.write_text('{"question": "a", "sql": "SELECT 1"}\n\n{"question": "b", "sql": "SELECT 2"}\n{"question": "c"\n')
    with pytest.raises(RejectedInput, match=r"line 4, is not a JSON object: Expecting ',' delimiter \(column 17\)"):
        read_examples_file(path)
    path.write_text('[{"question": "a", "sql": "SELECT 1"},\n {"question": "b"\n')
    with pytest.raises(RejectedInput, match=r"is not JSON: .*line 3 column 1"):
        read_examples_file(path)


def test_a_server_database_has_one_default_name_with_or_without_its_default_port() -> None:
    from types import SimpleNamespace

    from mscsql.pipeline import database_name

    def named(url: str) -> str:
        return database_name(SimpleNamespace(display_url=url))

    assert named("postgresql://ada:pw@localhost/shop") == named("postgresql://localhost:5432/shop") \
        == "postgresql://localhost:5432/shop"
    assert named("mysql+pymysql://root@db.example/shop") == "mysql://db.example:3306/shop"
    assert named("postgresql://localhost:6543/shop") == "postgresql://localhost:6543/shop"


def test_names_kept_without_a_port_are_given_the_default_one_when_the_store_is_upgraded(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from mscsql.store import migrations

    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # a store as version 3 left it
        migrations.version_table.create(conn)
        for version in (1, 2, 3):
            for table in migrations.MIGRATIONS[version]:
                table.create(conn)
        conn.execute(migrations.version_table.insert().values(version=3))
        now = datetime.now(UTC)
        for name in ("postgresql://localhost:/shop", "postgresql://localhost:6543/shop", "/data/shop.sqlite"):
            conn.execute(migrations.examples_table.insert().values(database=name, question="q", sql="SELECT 1",
                                                                   source="added", created_at=now))
    engine.dispose()
    with Store(url) as store, store.engine.connect() as conn:
        names = conn.execute(sa.select(migrations.examples_table.c.database)).scalars().all()
    assert sorted(names) == ["/data/shop.sqlite", "postgresql://localhost:5432/shop", "postgresql://localhost:6543/shop"]
