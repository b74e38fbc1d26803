"""``mscsql db copy``: a SQLite database copied into a new, empty PostgreSQL or MySQL database, types from the
declared types and the values, keys kept only where they hold; every Spider dev database copied with the same
row counts; a benchmark scored on the copies with ``--db-url``."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from mscsql.db.copy import copy_sqlite
from tests import conftest, dbutil

MESSY = """
CREATE TABLE Owners (Owner_ID INT PRIMARY KEY, Name varchar(5), Joined datetime, Score number);
INSERT INTO Owners VALUES (1, 'Alexandra', '2020-01-02', 3), (2, 'Bo', '2021-05-06', 4.5), (3, NULL, NULL, NULL);
CREATE TABLE Pets (pet_id INTEGER PRIMARY KEY, owner_id INTEGER REFERENCES Owners(owner_id), Kind TEXT,
                   Age INT, photo BLOB);
INSERT INTO Pets VALUES (10, 1, 'dog', 3, x'00ff'), (11, 2, 'cat', 'unknown', NULL), (12, NULL, 'fish', 1, NULL);
CREATE TABLE Visits (visit TEXT PRIMARY KEY, pet INTEGER REFERENCES Pets(pet_id), vet TEXT REFERENCES Owners(Name));
INSERT INTO Visits VALUES ('a', 10, 'Bo'), (NULL, 11, 'Bo'), ('b', 99, NULL);
"""


@pytest.fixture(params=["postgresql", "mysql"])
def empty_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    dialect = request.param
    conftest._server_or_skip(dialect)
    name = f"mscsql_test_{uuid.uuid4().hex[:10]}"
    url = dbutil.create_empty_database(dialect, name)
    try:
        yield dialect, url
    finally:
        dbutil.drop_server_database(dialect, name)


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://").replace("mysql://", "mysql+pymysql://"))


def test_types_come_from_the_values_and_keys_only_where_they_hold(tmp_path: Path,
                                                                   empty_server: tuple[str, str]) -> None:
    dialect, url = empty_server
    source = dbutil.make_sqlite(tmp_path / "messy.sqlite", MESSY)
    report = copy_sqlite(source, url)
    lower = dialect == "postgresql"
    assert {k.lower(): v for k, v in report.rows.items()} == {"owners": 3, "pets": 3, "visits": 3}
    assert all(name == name.lower() for name in report.rows) if lower else "Owners" in report.rows
    notes = "\n".join(report.notes)
    assert "Visits: primary key (visit) left out" in notes  # SQLite lets a text key be NULL
    assert "Visits: foreign key (pet) -> Pets left out: 1 rows reference no parent" in notes
    assert "Visits: foreign key (vet) -> Owners left out: it does not reference" in notes
    engine = _engine(url)
    try:
        inspector = sa.inspect(engine)
        names = {t.lower(): t for t in inspector.get_table_names()}
        columns = {c["name"].lower(): c["type"] for c in inspector.get_columns(names["pets"])}
        owners = {c["name"].lower(): c["type"] for c in inspector.get_columns(names["owners"])}
        assert isinstance(columns["age"], sa.Text) or "TEXT" in str(columns["age"]).upper()  # 'unknown' is text
        assert "INT" in str(columns["pet_id"]).upper() and "INT" in str(owners["owner_id"]).upper()
        assert "DOUBLE" in str(owners["score"]).upper() or "FLOAT" in str(owners["score"]).upper()
        assert "TEXT" in str(owners["name"]).upper()  # varchar(5) holding 9 characters stays whole
        assert inspector.get_pk_constraint(names["pets"])["constrained_columns"] == ["pet_id"]
        assert [fk["referred_table"].lower() for fk in inspector.get_foreign_keys(names["pets"])] == ["owners"]
        with engine.connect() as conn:
            quote = (lambda n: f'"{n}"') if lower else (lambda n: f"`{n}`")
            pets = conn.execute(sa.text(f"SELECT {quote('Kind'.lower() if lower else 'Kind')}, "
                                        f"{quote('Age'.lower() if lower else 'Age')} FROM {quote(names['pets'])} "
                                        f"ORDER BY 1")).all()
            assert [tuple(r) for r in pets] == [("cat", "unknown"), ("dog", "3"), ("fish", "1")]
            blob = conn.execute(sa.text(f"SELECT photo FROM {quote(names['pets'])} WHERE photo IS NOT NULL")).scalar()
            assert bytes(blob) == b"\x00\xff"
    finally:
        engine.dispose()
    # a target with tables is refused, and left as it was
    again = subprocess.run([sys.executable, "-m", "mscsql", "db", "copy", str(source), url], capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 2 and "already has tables" in again.stderr and "Traceback" not in again.stderr


def test_not_null_and_the_column_comments_come_along(tmp_path: Path, empty_server: tuple[str, str]) -> None:
    _dialect, url = empty_server
    source = dbutil.make_sqlite(tmp_path / "shop.sqlite", """
CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,  -- the company's name
    segment TEXT          -- SMB, Enterprise or Consumer
);
INSERT INTO customers VALUES (1, 'Acme', 'SMB'), (2, 'Globex', NULL);
""")
    copy_sqlite(source, url)
    engine = _engine(url)
    try:
        columns = {c["name"]: c for c in sa.inspect(engine).get_columns("customers")}
    finally:
        engine.dispose()
    assert columns["name"]["nullable"] is False and columns["segment"]["nullable"] is True
    assert columns["name"]["comment"] == "the company's name"
    assert columns["segment"]["comment"] == "SMB, Enterprise or Consumer"
    from mscsql.db import connect

    with connect(url) as db:  # and mscsql reads them as the columns' descriptions, as it does from SQLite
        [table] = db.schema().tables
        assert {c.name: c.description for c in table.columns}["name"] == "the company's name"


def test_a_missing_source_is_one_clear_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "mscsql", "db", "copy", str(tmp_path / "none.sqlite"),
                           "postgresql://postgres@127.0.0.1:5432/nothing"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "no SQLite database at" in done.stderr


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_every_spider_dev_database_copies_with_the_same_row_counts(shared_data: Path, dialect: str) -> None:
    conftest._server_or_skip(dialect)
    made = []
    try:
        for folder in sorted((shared_data / "spider" / "database").iterdir()):
            source = folder / f"{folder.name}.sqlite"
            if not source.is_file():
                continue
            name = f"mscsql_test_{uuid.uuid4().hex[:10]}"
            url = dbutil.create_empty_database(dialect, name)
            made.append(name)
            report = copy_sqlite(source, url)
            conn = sqlite3.connect(source)
            expected = {t.lower(): conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                        for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                                 "AND name NOT LIKE 'sqlite_%'")}
            conn.close()
            engine = _engine(url)
            try:
                with engine.connect() as server:
                    quote = '"' if dialect == "postgresql" else "`"
                    counted = {t.lower(): server.execute(sa.text(f"SELECT count(*) FROM {quote}{t}{quote}")).scalar()
                               for t in report.rows}
            finally:
                engine.dispose()
            assert counted == expected, folder.name
        assert len(made) == 19
    finally:
        for name in made:
            dbutil.drop_server_database(dialect, name)


def test_a_benchmark_scored_on_server_copies(shared_data: Path, tmp_path: Path) -> None:
    """Spider dev's pets_1 and concert_singer copied into PostgreSQL; the gold queries as predictions are right on
    every question whose gold query runs there."""
    conftest._server_or_skip("postgresql")
    spider = tmp_path / "spider"
    (spider / "database").mkdir(parents=True)
    dev = json.loads((shared_data / "spider" / "dev.json").read_text())
    kept = [e for e in dev if e["db_id"] in ("pets_1", "concert_singer")]
    (spider / "dev.json").write_text(json.dumps(kept))
    (spider / "dev_gold.sql").write_text("".join(f"{e['query']}\t{e['db_id']}\n" for e in kept))
    prefix = f"mscsql_test_{uuid.uuid4().hex[:6]}_"
    made = []
    try:
        for db_id in ("pets_1", "concert_singer"):
            url = dbutil.create_empty_database("postgresql", prefix + db_id)
            made.append(prefix + db_id)
            copy_sqlite(shared_data / "spider" / "database" / db_id / f"{db_id}.sqlite", url)
        predictions = tmp_path / "gold.sql"
        predictions.write_text("".join(e["query"] + "\n" for e in kept))
        done = subprocess.run([sys.executable, "-m", "mscsql", "eval", "score", "--benchmark", "spider-dev",
                               "--data-dir", str(spider), "--scorer", "spider-exec", "--no-cache", "--no-chart",
                               "--db-url", f"postgresql://postgres@127.0.0.1:5432/{prefix}{{db_id}}",
                               "--output", str(tmp_path / "out"), "--predictions", str(predictions)],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        rows = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
        assert len(rows) == len(kept) and all(r["status"] != "skipped" for r in rows)
        runs = [r for r in rows if r["gold_status"] == "ok"]
        assert len(runs) > len(rows) // 2 and all(r["correct"] for r in runs)
        summary = json.loads((tmp_path / "out" / "summary.json").read_text())
        assert summary["files"][0]["accuracy"] == round(len(runs) / len(rows), 6)
    finally:
        for name in made:
            dbutil.drop_server_database("postgresql", name)
