"""What the database itself says about its tables: comments in SQLite's stored DDL, PostgreSQL's COMMENT ON and
MySQL's comments become the schema's descriptions, and the prompts show them."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from mscsql.db import connect
from mscsql.demo import create_demo
from mscsql.linking.base import linked
from mscsql.linking.render import render_schema
from tests import conftest, dbutil


def _everything(schema):  # type: ignore[no-untyped-def]
    return linked(schema, {t.qualified_name: None for t in schema.tables}, linker="keep-all")


def test_sqlite_ddl_comments_describe_their_columns(tmp_path: Path) -> None:
    with connect(create_demo(tmp_path / "demo.sqlite")) as db:
        schema = db.schema()
        customers = schema.table("customers")
        described = {c.name: c.description for c in customers.columns}
        assert described["name"] == "company name"
        assert described["segment"] == "'Enterprise', 'SMB' or 'Consumer'"
        assert described["signup_date"] == "ISO date the customer signed up"  # the last column's comment too
        assert described["customer_id"] is None
        text = render_schema(_everything(schema)).text
    assert "company name" in text and "ISO date the customer signed up" in text


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_server_comments_describe_tables_and_columns(dialect: str) -> None:
    conftest._server_or_skip(dialect)
    name = f"mscsql_test_{uuid.uuid4().hex[:10]}"
    url = dbutil.create_empty_database(dialect, name)
    try:
        conn = dbutil.admin_connection(dialect, name)
        with conn.cursor() as cur:
            if dialect == "postgresql":
                cur.execute("CREATE TABLE staff (id integer PRIMARY KEY, hired date, grade text)")
                cur.execute("COMMENT ON TABLE staff IS 'people on the payroll'")
                cur.execute("COMMENT ON COLUMN staff.grade IS 'pay grade, A (highest) to E'")
            else:
                cur.execute("CREATE TABLE staff (id INT PRIMARY KEY, hired DATE, "
                            "grade VARCHAR(2) COMMENT 'pay grade, A (highest) to E') COMMENT='people on the payroll'")
        conn.close()
        with connect(url) as db:
            staff = db.schema().table("staff")
            assert staff.description == "people on the payroll"
            assert {c.name: c.description for c in staff.columns} == {
                "id": None, "hired": None, "grade": "pay grade, A (highest) to E"}
            text = render_schema(_everything(db.schema())).text
        assert "people on the payroll" in text and "pay grade, A (highest) to E" in text
    finally:
        dbutil.drop_server_database(dialect, name)
