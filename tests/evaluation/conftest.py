"""A tiny Spider-layout benchmark built in code: two databases, test-suite variants, hand-written cases."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import dbutil

ENDLESS = "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r"


@dataclass(frozen=True)
class Case:
    db_id: str
    gold: str
    prediction: str
    #: the verdict of each scorer, worked out by hand from the official rules
    spider_exec: bool
    test_suite: bool
    bird: bool
    strict: bool
    note: str


CASES = [
    Case("shop", "SELECT name FROM items WHERE category = 'tools'",
         "SELECT name FROM items WHERE category = 'tools' ORDER BY name DESC", True, True, True, True,
         "row order ignored without ORDER BY in the gold"),
    Case("shop", "SELECT name FROM items ORDER BY id", "SELECT name FROM items ORDER BY id DESC",
         False, False, True, False, "row order matters under ORDER BY (BIRD compares sets)"),
    Case("shop", "SELECT name, price FROM items", "SELECT price, name FROM items", True, True, False, False,
         "column permutation"),
    Case("shop", "SELECT category FROM items", "SELECT DISTINCT category FROM items", True, True, True, False,
         "DISTINCT removed before execution (Spider), sets (BIRD), multisets (strict)"),
    Case("shop", "SELECT count(*) FROM items WHERE price > 1", "SELECT count(*) FROM items WHERE price > value",
         True, True, False, False, "'value' becomes 1 in Spider predictions"),
    Case("shop", "SELECT price FROM items", "SELECT price FROM items WHERE price IS NOT NULL",
         False, False, False, False, "NULL rows count"),
    Case("shop", "SELECT 2", "SELECT 2.0", True, True, True, True, "int equals float"),
    Case("shop", "SELECT name FROM items WHERE id < 0", "SELECT id, name FROM items WHERE 0",
         True, True, True, False, "two empty results match (strict also compares widths)"),
    Case("shop", "SELECT count(*) FROM items", "SELECT count(*) FROM items; this counts the items",
         True, True, False, False, "Spider keeps the first statement; BIRD fails on two"),
    Case("shop", "SELECT count(*) FROM items", ENDLESS, False, False, False, False, "timeout"),
    Case("shop", "SELECT count(*) FROM items", "SELEC count(*) FROM items", False, False, False, False,
         "syntax error"),
    Case("shop", "SELECT name FROM items WHERE price > 10", "SELECT name FROM items WHERE id IN (2, 3)",
         True, False, True, True, "right on the main database, wrong on a test-suite variant"),
    Case("shop", "SELECT count(*) FROM items", "DELETE FROM items", False, False, False, False,
         "writes are refused, never run"),
    Case("latin", "SELECT x FROM t", "SELECT x FROM t", True, True, False, True,
         "invalid UTF-8: dropped bytes (Spider), replaced (strict); an error for gold and prediction (BIRD)"),
    Case("zoo", "SELECT count(*) FROM animals", "SELECT count(*) FROM animals", False, False, False, False,
         "database missing: skipped"),
]


LATIN = "CREATE TABLE t (x TEXT); INSERT INTO t VALUES (CAST(x'6361ff66' AS TEXT)), ('plain');"
VARIANT = ("UPDATE items SET price = 30 WHERE id = 1; UPDATE items SET price = 1 WHERE id = 2;")


@pytest.fixture()
def spider_dir(tmp_path: Path) -> Path:
    root = tmp_path / "spider"
    dbutil.make_sqlite(root / "database" / "shop" / "shop.sqlite", dbutil.SQLITE_DDL)
    dbutil.make_sqlite(root / "database" / "latin" / "latin.sqlite", LATIN)
    dbutil.make_sqlite(root / "test_suite_database" / "shop" / "shop.sqlite", dbutil.SQLITE_DDL)
    dbutil.make_sqlite(root / "test_suite_database" / "shop" / "shopv1.sqlite", dbutil.SQLITE_DDL + VARIANT)
    dbutil.make_sqlite(root / "test_suite_database" / "latin" / "latin.sqlite", LATIN)
    dev = [{"db_id": c.db_id, "question": c.note, "query": c.gold} for c in CASES]
    (root / "dev.json").write_text(json.dumps(dev), encoding="utf-8")
    (root / "dev_gold.sql").write_text("".join(f"{c.gold}\t{c.db_id}\n" for c in CASES), encoding="utf-8")
    return root


@pytest.fixture()
def predictions_file(tmp_path: Path) -> Path:
    path = tmp_path / "preds.sql"
    path.write_text("".join(c.prediction.replace("\n", " ") + "\n" for c in CASES), encoding="utf-8")
    return path


@pytest.fixture()
def bird_dir(spider_dir: Path, tmp_path: Path) -> Path:
    """The same cases in BIRD's layout (dev.json with SQL/evidence/difficulty, dev_databases/)."""
    root = tmp_path / "bird"
    (root / "dev_databases").mkdir(parents=True)
    for db in ("shop", "latin"):
        (root / "dev_databases" / db).mkdir()
        (root / "dev_databases" / db / f"{db}.sqlite").write_bytes(
            (spider_dir / "database" / db / f"{db}.sqlite").read_bytes())
    levels = ("simple", "moderate", "challenging")
    dev = [{"question_id": 100 + i, "db_id": c.db_id, "question": c.note, "evidence": "", "SQL": c.gold,
            "difficulty": levels[i % 3]} for i, c in enumerate(CASES)]
    (root / "dev.json").write_text(json.dumps(dev), encoding="utf-8")
    return root
