"""The linker and generator dataset builders: prompts the models see at inference, completions that parse back
to the gold answer, seeded extra tables, retrieved values, schema sources, the eval split, the card, the CLI."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mscsql.benchmarks.loaders import Benchmark, load_benchmark
from mscsql.benchmarks.subsets import filter_databases
from mscsql.cli import app, load_commands
from mscsql.config import RetrievalSettings
from mscsql.db import connect
from mscsql.errors import DatasetError
from mscsql.generation.extract import extract_sql
from mscsql.linking.base import LinkRequest
from mscsql.linking.llm_tables import LLMTableLinker, parse_table_list
from mscsql.prompts.generator import INSTRUCTION, SYSTEM
from mscsql.training.dataset_io import read_dataset
from mscsql.training.examples import split_rows
from mscsql.training.generator_data import build_generator_data
from mscsql.training.linker_data import build_linker_data
from mscsql.types import Question, Schema
from tests import dbutil
from tests.retrieval.test_value_index import make_db

pytest.importorskip("datasets")

NO_EMBEDDINGS = RetrievalSettings(embed_values=False)

ZOO_DDL = """
CREATE TABLE keepers (id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE animals (id INTEGER PRIMARY KEY, name TEXT, species TEXT, keeper_id INTEGER REFERENCES keepers(id));
CREATE TABLE enclosures (id INTEGER PRIMARY KEY, label TEXT, animal_id INTEGER REFERENCES animals(id));
CREATE TABLE foods (id INTEGER PRIMARY KEY, name TEXT, kind TEXT);
CREATE TABLE visitors (id INTEGER PRIMARY KEY, name TEXT, city TEXT);
CREATE TABLE tickets (id INTEGER PRIMARY KEY, visitor_id INTEGER REFERENCES visitors(id), price REAL);
INSERT INTO keepers VALUES (1, 'Ann'), (2, 'Bob');
INSERT INTO animals VALUES (1, 'Leo', 'lion', 1), (2, 'Zed', 'zebra', 2), (3, 'Lia', 'lion', 1);
INSERT INTO enclosures VALUES (1, 'North', 1), (2, 'South', 2);
INSERT INTO foods VALUES (1, 'hay', 'plant'), (2, 'beef', 'meat');
INSERT INTO visitors VALUES (1, 'Cid', 'Oslo');
INSERT INTO tickets VALUES (1, 1, 12.5);
"""

#: (db_id, question, gold SQL)
QUESTIONS = [
    ("shop", "How many tools are there?", "SELECT count(*) FROM items WHERE category = 'tools'"),
    ("shop", "Notes of the orders of widgets", "SELECT o.note FROM orders AS o JOIN items AS i ON o.item_id = i.id "
                                               "WHERE i.name = 'Widget';"),
    ("shop", "Mixed case codes of gift orders", 'SELECT d."MixedCase" FROM "Order Details" AS d JOIN orders AS o '
                                                "ON d.\"Order ID\" = o.id WHERE o.note = 'gift'"),
    ("shop", "Names of items whose id is a select number", 'SELECT i.name FROM items AS i JOIN "Order Details" AS d '
                                                           'ON d."select" = i.id'),
    ("shop", "A broken gold query", "SELECT name FROM items WHERE price > 10"),  # broken in the fixture
    ("shop", "A gold query on a table the database lacks", "SELECT name FROM suppliers"),
    ("zoo", "Which animals does Ann keep?", "SELECT a.name FROM animals AS a JOIN keepers AS k ON a.keeper_id = k.id "
                                            "WHERE k.name = 'Ann'"),
    ("zoo", "How many lions are there?", "SELECT count(*) FROM animals WHERE species = 'lion'"),
    ("zoo", "Labels of enclosures of lions", "WITH lions AS (SELECT id FROM animals WHERE species = 'lion') "
                                             "SELECT label FROM enclosures WHERE animal_id IN (SELECT id FROM lions)"),
    ("zoo", "Average ticket price per city", "SELECT v.city, avg(t.price) FROM tickets AS t JOIN visitors AS v "
                                             "ON t.visitor_id = v.id GROUP BY v.city"),
    ("zoo", "Plant foods", "SELECT name FROM foods WHERE kind = 'plant'"),
    ("schools", "How many schools are in Alameda?", "SELECT count(*) FROM schools WHERE county = 'Alameda'"),
    ("schools", "Which pets are cats?", "SELECT id FROM pets WHERE pettype = 'cat'"),
    ("schools", "Official languages of Belgium?", "SELECT language FROM languages WHERE country = 'Belgium' "
                                                  "AND isofficial = 'T'"),
]
#: the questions skipped, by position, and why
SKIPPED = {4: "gold SQL does not parse", 5: "gold SQL names tables not in the schema"}
KEPT = len(QUESTIONS) - len(SKIPPED)
#: the Spider loader refuses gold SQL that does not parse, so the ``bench`` fixture breaks question 4 itself
BROKEN = "SELECT name FROM items WHERE ("


def _tables_json_entry(schema: Schema, db_id: str) -> dict:
    """A Spider ``tables.json`` entry describing ``schema`` (what the schema-only path reads)."""
    tables = [t for t in schema.tables if t.kind == "table"]
    columns: list[list] = [[-1, "*"]]
    types = ["text"]
    primary: list[int] = []
    position: dict[tuple[str, str], int] = {}
    for ti, table in enumerate(tables):
        for column in table.columns:
            position[(table.name.lower(), column.name.lower())] = len(columns)
            if column.primary_key or column.name in table.primary_key:
                primary.append(len(columns))
            columns.append([ti, column.name])
            types.append("number" if "INT" in column.type.upper() else "text")
    foreign = [[position[(t.name.lower(), c.lower())], position[(fk.ref_table.lower(), rc.lower())]]
               for t in tables for fk in t.foreign_keys for c, rc in zip(fk.columns, fk.ref_columns, strict=True)]
    return {"db_id": db_id, "table_names_original": [t.name for t in tables],
            "table_names": [t.name.lower() for t in tables], "column_names_original": columns,
            "column_names": [[ti, name.lower()] for ti, name in columns], "column_types": types,
            "primary_keys": primary, "foreign_keys": foreign}


def make_spider(root: Path, *, ghost: bool = False) -> Path:
    """A Spider-layout folder: three databases (shop, zoo, schools), dev.json, dev_gold.sql, tables.json; with
    ``ghost`` also a question on a database that is described in tables.json but missing."""
    dbutil.make_sqlite(root / "database" / "shop" / "shop.sqlite", dbutil.SQLITE_DDL)
    dbutil.make_sqlite(root / "database" / "zoo" / "zoo.sqlite", ZOO_DDL)
    (root / "database" / "schools").mkdir(parents=True)
    make_db(root / "database" / "schools" / "schools.sqlite")
    questions = list(QUESTIONS)
    entries = []
    for db_id in ("shop", "zoo", "schools"):
        with connect(root / "database" / db_id / f"{db_id}.sqlite") as db:
            entries.append(_tables_json_entry(db.schema(), db_id))
    if ghost:
        questions.append(("ghost", "How many ghosts?", "SELECT count(*) FROM ghosts"))
        ghost_entry = {"db_id": "ghost", "table_names_original": ["ghosts"], "table_names": ["ghosts"],
                       "column_names_original": [[-1, "*"], [0, "id"]], "column_names": [[-1, "*"], [0, "id"]],
                       "column_types": ["text", "number"], "primary_keys": [1], "foreign_keys": []}
        entries.append(ghost_entry)
    (root / "tables.json").write_text(json.dumps(entries), encoding="utf-8")
    dev = [{"db_id": db, "question": q, "query": sql} for db, q, sql in questions]
    (root / "dev.json").write_text(json.dumps(dev), encoding="utf-8")
    (root / "dev_gold.sql").write_text("".join(f"{sql}\t{db}\n" for db, _q, sql in questions), encoding="utf-8")
    return root


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Value indexes go to a throwaway cache."""
    monkeypatch.setenv("MSCSQL_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture()
def spider(tmp_path: Path) -> Path:
    return make_spider(tmp_path / "spider")


@pytest.fixture()
def bench(spider: Path) -> Benchmark:
    loaded = load_benchmark("spider-dev", spider)
    return replace(loaded, items=tuple(replace(i, gold_sql=BROKEN) if i.index == 4 else i for i in loaded.items))


def linker_rows(folder: Path) -> list[dict]:
    data, _card = read_dataset(folder, "linker")
    return [row for split in data.values() for row in split]


def generator_rows(folder: Path) -> list[dict]:
    data, _card = read_dataset(folder, "generator")
    return [row for split in data.values() for row in split]


def schemas(spider: Path) -> dict[str, Schema]:
    """The schemas as ``mscsql generate`` reads them: from the database, with tables.json's names beside."""
    found = {}
    for db_id in ("shop", "zoo", "schools"):
        with connect(spider / "database" / db_id / f"{db_id}.sqlite", db_id=db_id,
                     tables_json=spider / "tables.json") as db:
            found[db_id] = db.schema()
    return found


# -- the linker ----------------------------------------------------------------------------------------------


def test_linker_completions_parse_back_to_the_gold_tables(bench: Benchmark, spider: Path, tmp_path: Path) -> None:
    card = build_linker_data(bench, spider, tmp_path / "linker", retrieval=NO_EMBEDDINGS, eval_fraction=0.0,
                             progress=False)
    rows = linker_rows(tmp_path / "linker")
    assert card["questions"] == {"seen": len(QUESTIONS), "kept": KEPT, "skipped": len(SKIPPED)}
    by_index = {row["index"]: row for row in rows}
    assert set(by_index) == set(range(len(QUESTIONS))) - set(SKIPPED)
    found = schemas(spider)
    for row in rows:
        names = found[row["db_id"]].table_names
        assert parse_table_list(row["completion"], names) == (row["gold_tables"], [])
        assert json.loads(row["completion"]) == row["gold_tables"]
    # the schema's spelling, schema order
    assert by_index[2]["gold_tables"] == ["orders", "Order Details"]
    assert by_index[1]["gold_tables"] == ["items", "orders"]
    assert by_index[8]["gold_tables"] == ["animals", "enclosures"]  # the CTE is no table
    assert by_index[11]["gold_tables"] == ["schools"]


def test_linker_prompts_are_the_table_selectors_own(bench: Benchmark, spider: Path, tmp_path: Path) -> None:
    build_linker_data(bench, spider, tmp_path / "linker", retrieval=NO_EMBEDDINGS, progress=False)
    rows = {row["index"]: row for row in linker_rows(tmp_path / "linker")}
    found = schemas(spider)
    selector = LLMTableLinker(generator=None)  # type: ignore[arg-type]  # build_prompt needs no model
    from mscsql.retrieval import ValueIndex
    from mscsql.retrieval.text import question_text

    for index in (0, 11):
        row = rows[index]
        with connect(spider / "database" / row["db_id"] / f"{row['db_id']}.sqlite", db_id=row["db_id"]) as db:
            values = ValueIndex.open(db, None, NO_EMBEDDINGS).search(question_text(row["question"]))
        request = LinkRequest(Question(row["question"], db_id=row["db_id"]), found[row["db_id"]], tuple(values))
        assert row["messages"] == selector.build_prompt(request)
    assert "matching values" in rows[11]["messages"][1]["content"]  # the selector sees retrieved values too


def test_unusable_gold_queries_are_skipped_and_counted(bench: Benchmark, spider: Path, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    card = build_linker_data(bench, spider, tmp_path / "linker", schema_only=True, progress=False)
    assert card["skipped"] == len(SKIPPED)
    assert card["skipped_reasons"] == {reason: 1 for reason in SKIPPED.values()}
    assert {s["index"] for s in card["skipped_questions"]} == set(SKIPPED)
    assert "suppliers" in next(s["reason"] for s in card["skipped_questions"] if s["index"] == 5)
    assert sum("skipped" in r.getMessage() for r in caplog.records if r.levelname == "WARNING") == len(SKIPPED)


# -- the generator -------------------------------------------------------------------------------------------


def test_generator_completions_extract_to_the_gold_sql(bench: Benchmark, spider: Path, tmp_path: Path) -> None:
    card = build_generator_data(bench, spider, tmp_path / "gen", retrieval=NO_EMBEDDINGS, progress=False)
    rows = generator_rows(tmp_path / "gen")
    assert card["questions"]["kept"] == KEPT == len(rows)
    for row in rows:
        extracted = extract_sql(row["completion"], "sqlite")
        assert extracted.ok and extracted.sql == row["gold_sql"].strip().rstrip(";")
        assert row["completion"].startswith("```sql\n") and row["completion"].endswith("\n```")
        system, user = row["messages"]
        assert system == {"role": "system", "content": SYSTEM.format(dialect="SQLite")}
        assert user["role"] == "user" and user["content"].endswith(INSTRUCTION.format(dialect="SQLite"))
        assert f"Question: {row['question']}" in user["content"]


def test_extra_tables_are_seeded_bounded_and_never_replace_gold(bench: Benchmark, spider: Path,
                                                               tmp_path: Path) -> None:
    found = schemas(spider)
    extras_seen: Counter[int] = Counter()
    for seed, max_extra in ((0, 2), (1, 2), (2, 3), (3, 0)):
        out = tmp_path / f"gen-{seed}"
        build_generator_data(bench, spider, out, schema_only=True, max_extra_tables=max_extra, seed=seed,
                             progress=False)
        for row in generator_rows(out):
            linked = [*row["gold_tables"], *row["bridge_tables"], *row["extra_tables"]]
            assert 0 <= len(row["extra_tables"]) <= max_extra
            assert len(set(linked)) == len(linked)  # gold, bridges and extras are disjoint
            schema_text = row["messages"][1]["content"].split("\n\nQuestion:")[0]
            shown = [line.removeprefix("Table ").strip('"') for line in schema_text.splitlines()
                     if line.startswith("Table ")]
            assert sorted(shown) == sorted(linked)  # every gold table is there, nothing else
            assert set(shown) <= set(found[row["db_id"]].table_names)
            extras_seen[len(row["extra_tables"])] += 1
    assert extras_seen[0] and extras_seen[1] and extras_seen[2]  # the count varies
    # the same seed gives the same tables; a question's tables do not depend on the other questions
    again = tmp_path / "again"
    build_generator_data(bench, spider, again, schema_only=True, seed=1, limit=4, progress=False)
    first = {r["index"]: r["extra_tables"] for r in generator_rows(tmp_path / "gen-1")}
    assert all(first[r["index"]] == r["extra_tables"] for r in generator_rows(again))


def test_join_bridges_are_kept(bench: Benchmark, spider: Path, tmp_path: Path) -> None:
    build_generator_data(bench, spider, tmp_path / "gen", schema_only=True, max_extra_tables=0, progress=False)
    rows = {r["index"]: r for r in generator_rows(tmp_path / "gen")}
    # items and "Order Details" join only through orders
    assert rows[3]["gold_tables"] == ["items", "Order Details"] and rows[3]["bridge_tables"] == ["orders"]
    assert rows[0]["bridge_tables"] == [] and rows[0]["extra_tables"] == []


def test_values_from_the_value_index_appear_in_the_generator_prompt(bench: Benchmark, spider: Path,
                                                                   tmp_path: Path) -> None:
    card = build_generator_data(bench, spider, tmp_path / "gen", retrieval=NO_EMBEDDINGS, progress=False)
    rows = {r["index"]: r for r in generator_rows(tmp_path / "gen")}
    alameda = rows[11]
    assert "schools.county: Alameda" in alameda["values"]
    county = next(line for line in alameda["messages"][1]["content"].splitlines() if line.startswith("  - county"))
    assert 'matching values: ["Alameda"' in county
    assert "cat" in rows[12]["messages"][1]["content"]
    assert card["settings"]["values"] and card["label_balance"]["with_values"] > 0
    assert card["sources"]["schemas"] == "databases"
    # schema only: tables.json, no values
    card = build_generator_data(bench, spider, tmp_path / "plain", schema_only=True, progress=False)
    assert not card["settings"]["values"] and card["label_balance"]["with_values"] == 0
    assert all("matching values" not in r["messages"][1]["content"] for r in generator_rows(tmp_path / "plain"))


def test_default_retrieval_embeds_questions_in_one_batch(bench: Benchmark, spider: Path, tmp_path: Path) -> None:
    """The default (semantic) retrieval: questions are embedded ahead, per database; the values are those a search
    question by question finds."""
    pytest.importorskip("sentence_transformers")
    from mscsql.retrieval import ValueIndex
    from mscsql.retrieval.encoder import get_encoder
    from mscsql.retrieval.text import question_text

    settings = RetrievalSettings()
    schools = filter_databases(bench, ["schools"])
    build_generator_data(schools, spider, tmp_path / "gen", eval_fraction=0.0, progress=False)
    encoder = get_encoder(settings.encoder, settings.device, settings.batch_size)
    encoder._cache.clear()
    with connect(spider / "database" / "schools" / "schools.sqlite", db_id="schools") as db:
        index = ValueIndex.open(db, None, settings)
    for row in generator_rows(tmp_path / "gen"):
        shown = {t.lower() for t in (*row["gold_tables"], *row["bridge_tables"], *row["extra_tables"])}
        found = index.search(question_text(row["question"]))
        assert set(row["values"]) == {f"{v.table}.{v.column}: {v.value}" for v in found if v.table.lower() in shown}
    assert any("Alameda" in value for row in generator_rows(tmp_path / "gen") for value in row["values"])


# -- schema sources ------------------------------------------------------------------------------------------


def test_a_missing_database_is_refused_unless_schema_only(tmp_path: Path) -> None:
    root = make_spider(tmp_path / "spider", ghost=True)
    bench = load_benchmark("spider-dev", root, allow_missing_db=True)
    for build in (build_linker_data, build_generator_data):
        with pytest.raises(DatasetError, match="missing: ghost") as caught:
            build(bench, root, tmp_path / "out", progress=False)
        assert "--schema-only" in str(caught.value) and "tables.json" in str(caught.value)
    assert not (tmp_path / "out" / "card.json").exists()
    # the questions on present databases alone are fine, and so is reading tables.json
    present = filter_databases(bench, ["shop", "zoo"])
    assert build_linker_data(present, root, tmp_path / "present", retrieval=NO_EMBEDDINGS,
                             progress=False)["questions"]["seen"] == 11
    card = build_linker_data(bench, root, tmp_path / "all", schema_only=True, progress=False)
    assert card["questions"]["kept"] == KEPT + 2 and card["sources"]["schemas"] == "tables.json"
    ghost = next(r for r in linker_rows(tmp_path / "all") if r["db_id"] == "ghost")
    assert ghost["completion"] == '["ghosts"]'


def test_schema_only_needs_a_tables_json(bench: Benchmark, spider: Path, tmp_path: Path) -> None:
    (spider / "tables.json").unlink()
    with pytest.raises(DatasetError, match=r"tables\.json"):
        build_generator_data(bench, spider, tmp_path / "gen", schema_only=True, progress=False)


# -- the split and the card ----------------------------------------------------------------------------------


def test_the_eval_split_keeps_databases_whole() -> None:
    rng = random.Random(7)
    rows = [{"db_id": f"db{rng.randrange(30)}", "index": i} for i in range(1000)]
    for seed in range(5):
        for fraction in (0.05, 0.1, 0.3):
            splits, how = split_rows(rows, fraction, seed)
            train_dbs = {r["db_id"] for r in splits["train"]}
            eval_dbs = {r["db_id"] for r in splits["eval"]}
            assert how["by"] == "database" and not train_dbs & eval_dbs and eval_dbs
            assert len(splits["train"]) + len(splits["eval"]) == len(rows)
            assert abs(len(splits["eval"]) - fraction * len(rows)) < 0.5 * fraction * len(rows)
    assert split_rows(rows, 0.1, 3) == split_rows(rows, 0.1, 3)
    assert split_rows(rows, 0.1, 3)[1] != split_rows(rows, 0.1, 4)[1]
    # one database: by question
    one = [{"db_id": "only", "index": i} for i in range(40)]
    splits, how = split_rows(one, 0.1, 0)
    assert how["by"] == "question" and len(splits["eval"]) == 4 and len(splits["train"]) == 36
    # two databases, a tiny fraction: still one whole database held out, never both
    two = [{"db_id": "a", "index": 0}, {"db_id": "b", "index": 1}, {"db_id": "b", "index": 2}]
    splits, how = split_rows(two, 0.01, 0)
    assert how["eval_databases"] == ["a"] and len(splits["train"]) == 2
    assert split_rows(rows, 0.0, 0)[0]["eval"] == []


def test_the_card_counts_match_the_rows(bench: Benchmark, spider: Path, tmp_path: Path) -> None:
    card = build_generator_data(bench, spider, tmp_path / "gen", schema_only=True, eval_fraction=0.3, seed=5,
                                progress=False)
    data, written = read_dataset(tmp_path / "gen", "generator")
    assert card == written
    assert card["counts"] == {name: split.num_rows for name, split in data.items()}
    assert sum(card["counts"].values()) == card["questions"]["kept"] == KEPT
    train_dbs, eval_dbs = set(data["train"]["db_id"]), set(data["eval"]["db_id"])
    assert eval_dbs and not train_dbs & eval_dbs and sorted(eval_dbs) == card["split"]["eval_databases"]
    rows = [row for split in data.values() for row in split]
    assert card["label_balance"]["mean_gold_tables"] == round(sum(len(r["gold_tables"]) for r in rows) / len(rows), 4)
    assert card["label_balance"]["mean_extra_tables"] == round(sum(len(r["extra_tables"]) for r in rows) / len(rows),
                                                               4)
    assert card["settings"] == {"schema_only": True, "limit": None, "max_extra_tables": 2, "eval_fraction": 0.3,
                                "seed": 5, "values": False, "retrieval": None}
    assert card["sources"]["benchmark"] == "spider-dev" and set(card["sources"]["files"]) >= {"dev.json",
                                                                                              "dev_gold.sql"}
    assert card["prompt"]["template"] == "generator-v1" and len(card["prompt"]["hash"]) == 16
    assert (tmp_path / "gen" / "CARD.md").is_file()


def test_the_prompt_hash_follows_the_template(bench: Benchmark, spider: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    first = build_linker_data(bench, spider, tmp_path / "a", schema_only=True, progress=False)["prompt"]["hash"]
    assert build_linker_data(bench, spider, tmp_path / "b", schema_only=True, limit=3,
                             progress=False)["prompt"]["hash"] == first
    monkeypatch.setattr("mscsql.training.linker_data.INSTRUCTION", "Name the tables.")
    assert build_linker_data(bench, spider, tmp_path / "c", schema_only=True, progress=False)["prompt"]["hash"] != first


# -- the command line ----------------------------------------------------------------------------------------


def test_the_cli_writes_datasets_that_read_back(spider: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_commands(["train"])
    runner = CliRunner()
    result = runner.invoke(app, ["train", "data", "linker", "--benchmark", "spider-dev", "--data-dir", str(spider),
                                 "--schema-only", "--output", str(tmp_path / "linker"), "--eval-fraction", "0.2"])
    assert result.exit_code == 0, result.output
    data, card = read_dataset(tmp_path / "linker", "linker")
    assert card["counts"] == {name: split.num_rows for name, split in data.items()}
    assert sum(card["counts"].values()) == KEPT + 1  # question 4 is not broken in the files
    # with the databases (values retrieved lexically here, to stay fast)
    monkeypatch.setattr("mscsql.training.generator_data.RetrievalSettings", lambda: NO_EMBEDDINGS)
    result = runner.invoke(app, ["train", "data", "generator", "--benchmark", "spider-dev", "--data-dir",
                                 str(spider), "--output", str(tmp_path / "gen"), "--dbs", "zoo,schools",
                                 "--max-extra-tables", "1", "--limit", "5", "--seed", "3"])
    assert result.exit_code == 0, result.output
    data, card = read_dataset(tmp_path / "gen", "generator")
    assert set(data["train"]["db_id"]) | set(data.get("eval", data["train"])["db_id"]) <= {"zoo", "schools"}
    assert card["settings"]["max_extra_tables"] == 1 and card["settings"]["values"]
    # --dbs first, then --limit: the file's first five questions are all on "shop", which --dbs leaves out
    assert card["questions"]["seen"] == 5
    assert all(len(r["extra_tables"]) <= 1 for split in data.values() for r in split)


# -- the shared benchmark data -------------------------------------------------------------------------------


def test_spider_train_schema_only_from_tables_json(shared_data: Path, tmp_path: Path) -> None:
    root = shared_data / "spider"
    if not (root / "train" / "train_spider_stripped.json").is_file():
        pytest.skip(f"no Spider training questions under {root}")
    bench = load_benchmark("spider-train", root, allow_missing_db=True)
    card = build_linker_data(bench, root, tmp_path / "linker", schema_only=True, limit=300, progress=False)
    assert card["questions"]["seen"] == 300 and card["questions"]["kept"] >= 290
    assert card["sources"]["tables_json"]["path"].endswith("tables.json")
    data, _ = read_dataset(tmp_path / "linker", "linker")
    assert not set(data["train"]["db_id"]) & set(data["eval"]["db_id"])
    row = data["train"][0]
    assert json.loads(row["completion"]) == row["gold_tables"] and row["gold_tables"]


def test_spider_dev_with_a_real_database(shared_data: Path, tmp_path: Path) -> None:
    root = shared_data / "spider"
    bench = load_benchmark("spider-dev", root, allow_missing_db=True)
    bench = filter_databases(bench, ["concert_singer"])
    if not bench.items[0].database:
        pytest.skip("the concert_singer database is not in the shared data")
    card = build_generator_data(replace(bench, items=bench.items[:20]), root, tmp_path / "gen",
                                retrieval=NO_EMBEDDINGS, progress=False)
    assert card["questions"]["kept"] == 20 and card["sources"]["schemas"] == "databases"
    rows = generator_rows(tmp_path / "gen")
    assert any(r["values"] for r in rows)
    assert all(extract_sql(r["completion"], "sqlite").sql == r["gold_sql"].strip().rstrip(";") for r in rows)
