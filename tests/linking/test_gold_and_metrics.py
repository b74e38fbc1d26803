"""Gold tables, columns and literals from SQL, and the recall metrics computed from them."""

from __future__ import annotations

from mscsql.benchmarks.loaders import BenchmarkItem
from mscsql.evaluation.linking import score_question, summarize
from mscsql.linking.base import linked
from mscsql.linking.gold import GoldLiteral, gold_elements
from mscsql.linking.graph import fk_graph, join_closure
from mscsql.types import Column, ForeignKey, Schema, Table, ValueMatch


def col(name: str, type_: str = "TEXT", pk: bool = False) -> Column:
    return Column(name=name, type=type_, primary_key=pk)


SCHEMA = Schema(dialect="sqlite", db_id="concerts", tables=(
    Table("singer", (col("Singer_ID", "INT", True), col("Name"), col("Country"), col("Age", "INT")),
          primary_key=("Singer_ID",)),
    Table("concert", (col("concert_ID", "INT", True), col("concert_Name"), col("Stadium_ID", "INT"),
                      col("Year")), primary_key=("concert_ID",),
          foreign_keys=(ForeignKey(("Stadium_ID",), "stadium", ("Stadium_ID",)),)),
    Table("singer_in_concert", (col("concert_ID", "INT"), col("Singer_ID", "INT")),
          foreign_keys=(ForeignKey(("concert_ID",), "concert", ("concert_ID",)),
                        ForeignKey(("Singer_ID",), "singer", ("Singer_ID",)))),
    Table("stadium", (col("Stadium_ID", "INT", True), col("Location"), col("Name"), col("Capacity", "INT")),
          primary_key=("Stadium_ID",)),
))


def test_gold_elements_resolve_aliases_subqueries_and_unqualified_columns() -> None:
    sql = ("SELECT T2.name FROM singer_in_concert AS T1 JOIN singer AS T2 ON T1.singer_id = T2.singer_id "
           "WHERE T1.concert_id IN (SELECT concert_id FROM concert WHERE year = 2014)")
    gold = gold_elements(sql, SCHEMA)
    assert gold.tables == {"singer_in_concert", "singer", "concert"}
    assert gold.columns == {("singer", "name"), ("singer_in_concert", "singer_id"), ("singer", "singer_id"),
                            ("singer_in_concert", "concert_id"), ("concert", "concert_id"), ("concert", "year")}
    assert gold.qualified


def test_gold_literals_include_double_quoted_strings_like_fragments_and_in_lists() -> None:
    sql = ('SELECT count(*) FROM singer WHERE country = "France" AND name LIKE \'%Joe%\' '
           "AND country IN ('Netherlands', 'United States') AND age > 20")
    literals = set(gold_elements(sql, SCHEMA).literals)
    texts = {(lit.column, lit.text.lower(), lit.pattern) for lit in literals}
    assert texts == {("country", "france", False), ("name", "joe", True), ("country", "netherlands", False),
                     ("country", "united states", False)}
    assert all(isinstance(lit, GoldLiteral) and lit.table == "singer" for lit in literals)


def test_unparseable_gold_is_reported_not_raised() -> None:
    gold = gold_elements("SELEC name FROM", SCHEMA)
    assert not gold.qualified and not gold.tables


def test_join_closure_keeps_the_bridge_between_chosen_tables() -> None:
    graph = fk_graph(SCHEMA)
    assert join_closure(graph, ["singer", "concert"]) == {"singer", "concert", "singer_in_concert"}
    assert join_closure(graph, ["singer", "stadium"]) == {"singer", "singer_in_concert", "concert", "stadium"}
    assert join_closure(graph, ["singer", "stadium"], max_hops=2) == {"singer", "stadium"}
    assert join_closure(graph, ["stadium"]) == {"stadium"}


def test_metrics_on_hand_made_links() -> None:
    item = BenchmarkItem(index=0, db_id="concerts", question="q", gold_sql="")
    gold = gold_elements("SELECT name FROM singer WHERE country = 'France'", SCHEMA)
    # kept: singer (Name, Country) and stadium (all 4): 2 of 4 tables, 6 of 14 columns
    link = linked(SCHEMA, {"singer": ["Name", "Country"], "stadium": None}, linker="test")
    values = [ValueMatch("singer", "Country", "FRANCE", 1.0, "exact"), ValueMatch("stadium", "Name", "x", 1, "exact")]
    record = score_question(item, gold, link, values)
    assert record["table_recall"] and record["column_recall"]
    assert record["tables_kept_fraction"] == 0.5 and record["columns_kept_fraction"] == 6 / 14
    assert (record["literals"], record["literal_hits"]) == (1, 1)  # case-insensitive match

    narrow = linked(SCHEMA, {"singer": ["Name"]}, linker="test")
    missed = score_question(item, gold, narrow, [ValueMatch("singer", "Name", "France", 1.0, "exact")])
    assert missed["table_recall"] and not missed["column_recall"]
    assert missed["missing_columns"] == ["singer.country"]
    assert missed["literal_hits"] == 0  # right value, wrong column

    summary = summarize([record, missed])
    assert summary["table_recall_strict"] == 1.0 and summary["column_recall_strict"] == 0.5
    assert summary["value_hit_rate"] == 0.5 and summary["gold_literals"] == 2
    assert summary["tables_kept_fraction"] == round((0.5 + 0.25) / 2, 4)


def test_like_fragments_count_when_a_retrieved_value_contains_them() -> None:
    item = BenchmarkItem(index=0, db_id="concerts", question="q", gold_sql="")
    gold = gold_elements("SELECT name FROM stadium WHERE location LIKE '%West%'", SCHEMA)
    link = linked(SCHEMA, {"stadium": None}, linker="test")
    hit = score_question(item, gold, link, [ValueMatch("stadium", "Location", "West Ham", 0.7, "partial")])
    miss = score_question(item, gold, link, [ValueMatch("stadium", "Location", "Eastbourne", 0.7, "partial")])
    assert hit["literal_hits"] == 1 and miss["literal_hits"] == 0
