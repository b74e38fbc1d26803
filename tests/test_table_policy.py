"""Allow and deny lists of tables (``execution.allowed_tables`` / ``denied_tables``): the schema shows only
the permitted tables, and the guard refuses any statement that names another one, however it is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from mscsql import TextToSQL
from mscsql.config import ExecutionSettings
from mscsql.db import connect, execute_many
from mscsql.db.guard import check_sql
from mscsql.demo import create_demo
from mscsql.errors import UnsafeSQLError
from mscsql.types import ExecutionStatus, TablePolicy

ONLY_SALES = TablePolicy.of(allow=["customers", "orders", "regions"])
NO_PRODUCTS = TablePolicy.of(deny=["Products"])

REFUSED_BY_ALLOW = [
    "SELECT name FROM products",
    "SELECT * FROM orders WHERE product_id IN (SELECT id FROM products)",
    "WITH cheap AS (SELECT * FROM products) SELECT * FROM cheap",
    "SELECT * FROM customers JOIN PRODUCTS ON 1 = 1",
    'SELECT * FROM "products"',
    "SELECT * FROM main.products",
    "SELECT name FROM sqlite_master",
    "SELECT * FROM orders UNION SELECT * FROM products",
]


@pytest.mark.parametrize("sql", REFUSED_BY_ALLOW)
def test_an_allow_list_refuses_every_other_table(sql: str) -> None:
    with pytest.raises(UnsafeSQLError, match="not one this pipeline may query"):
        check_sql(sql, "sqlite", tables=ONLY_SALES)
    check_sql(sql, "sqlite")  # without a policy the statement is an ordinary read-only query


@pytest.mark.parametrize("sql", [
    "SELECT c.name, count(*) FROM customers AS c JOIN orders AS o ON o.customer_id = c.id GROUP BY c.name",
    "WITH big AS (SELECT * FROM orders WHERE quantity > 5) SELECT count(*) FROM big",
    "SELECT r.name FROM REGIONS r",
    "SELECT 1",
])
def test_an_allow_list_accepts_its_tables_and_the_query_s_own_ctes(sql: str) -> None:
    check_sql(sql, "sqlite", tables=ONLY_SALES)


def test_a_deny_list_refuses_its_tables_in_any_spelling_and_any_dialect() -> None:
    for sql, dialect in [("SELECT * FROM products", "sqlite"), ('SELECT * FROM "PRODUCTS"', "sqlite"),
                         ("SELECT * FROM public.products", "postgresql"), ("SELECT * FROM `products`", "mysql"),
                         ("SELECT * FROM shop.products p JOIN shop.orders o ON o.product_id = p.id", "mysql")]:
        with pytest.raises(UnsafeSQLError, match=r"(?i)'.*products'"):
            check_sql(sql, dialect, tables=NO_PRODUCTS)
    check_sql("SELECT * FROM public.orders", "postgresql", tables=NO_PRODUCTS)
    # PostgreSQL keeps a quoted name's case: "ORDERS" is another table than orders, so an allowance of
    # orders does not cover it (SQLite folds both to one table)
    orders = TablePolicy.of(allow=["orders"])
    check_sql('SELECT * FROM "orders"', "postgresql", tables=orders)
    with pytest.raises(UnsafeSQLError):
        check_sql('SELECT * FROM "ORDERS"', "postgresql", tables=orders)
    check_sql('SELECT * FROM "ORDERS"', "sqlite", tables=orders)
    # a denial wins over an allowance
    both = TablePolicy.of(allow=["products", "orders"], deny=["products"])
    with pytest.raises(UnsafeSQLError):
        check_sql("SELECT * FROM products", "sqlite", tables=both)


def test_the_database_shows_and_runs_only_permitted_tables(tmp_path: Path) -> None:
    demo = create_demo(tmp_path / "demo.sqlite")
    with connect(demo, execution=ExecutionSettings(denied_tables=("products",))) as db:
        names = db.schema().table_names
        assert "products" not in names and {"customers", "orders", "regions"} <= set(names)
        assert all(fk.ref_table != "products" for t in db.schema().tables for fk in t.foreign_keys)
        refused, allowed = execute_many([(db, "SELECT name FROM products"), (db, "SELECT count(*) FROM orders")])
    assert refused.status is ExecutionStatus.REJECTED and "products" in (refused.error or "")
    assert allowed.ok and allowed.rows[0][0] > 0


def test_a_pipeline_config_restricts_what_its_prompts_show(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    demo = create_demo(tmp_path / "demo.sqlite")
    config = {"linking": {"linkers": ["keep-all"]}, "use_values": False,
              "execution": {"allowed_tables": ["customers", "regions"]},
              "generators": [{"name": "g", "backend": "openai", "model": "m", "options": {"base_url": "http://x/v1"}}]}
    with TextToSQL.from_config(config, db=demo) as t2s:
        [prompt] = t2s.prompts(["Which customers ordered products?"])
    text = prompt.messages[1]["content"]
    assert "customers" in text and "regions" in text
    assert "orders" not in text.replace("ordered", "") and "products" not in text.replace("ordered products", "")
