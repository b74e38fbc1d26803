"""Critic training data from hand-made candidate pools on a Spider-layout benchmark built here: labels match
the scorer's verdicts worked out by hand, the kept questions follow the rule, the right option's position is
balanced, and both critics' inputs are rendered by the critics' own code."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest

from mscsql.benchmarks.loaders import load_benchmark
from mscsql.benchmarks.subsets import filter_databases, parse_db_filter
from mscsql.critic.encoder_pairs import describe_group
from mscsql.critic.llm import LABELS
from mscsql.evaluation.cache import GoldCache
from mscsql.evaluation.scorers import get_scorer
from mscsql.training.critic_data import CriticDataBuild, balanced_orders
from mscsql.training.dataset_io import read_dataset
from tests import dbutil
from tests.test_cli import mscsql

pytest.importorskip("datasets")

SHOP_EXTRA = "CREATE TABLE staff (id INTEGER PRIMARY KEY, name TEXT, age INTEGER);" \
             "INSERT INTO staff VALUES (1, 'Ann', 31), (2, 'Bo', 45), (3, 'Cy', 22);"

#: (db, question, gold, predictions of files a, b, c, the right files worked out by hand)
QUESTIONS = [
    # the minority (file c) is right; a and b agree on a wrong count
    ("shop", "How many tools are there?", "SELECT count(*) FROM items WHERE category = 'tools'",
     ("SELECT count(*) FROM items", "SELECT count(id) FROM items",
      "SELECT count(*) FROM items WHERE category = 'tools'"),
     {"c"}),
    # everyone is right (two spellings, one result): dropped, no wrong option
    ("shop", "List the item names.", "SELECT name FROM items",
     ("SELECT name FROM items", "SELECT name FROM items ORDER BY id", "SELECT items.name FROM items"), set()),
    # three different results, b is right
    ("shop", "Which staff are older than 30?", "SELECT name FROM staff WHERE age > 30",
     ("SELECT name FROM staff", "SELECT name FROM staff WHERE age > 30", "SELECT name FROM staff WHERE age < 30"),
     {"b"}),
    # one query fails: only two options remain, a is right
    ("shop", "What is the most expensive item?", "SELECT name FROM items ORDER BY price DESC LIMIT 1",
     ("SELECT name FROM items ORDER BY price DESC LIMIT 1", "SELECT name FROM items ORDER BY price LIMIT 1",
      "SELECT nme FROM items"), {"a"}),
    # all wrong: dropped
    ("pets", "How many dogs are there?", "SELECT count(*) FROM pets WHERE kind = 'dog'",
     ("SELECT count(*) FROM pets", "SELECT 0", "SELECT 17"), set()),
    # the majority is right on the second database
    ("pets", "How many cats are there?", "SELECT count(*) FROM pets WHERE kind = 'cat'",
     ("SELECT count(*) FROM pets WHERE kind = 'cat'", "SELECT count(*) FROM pets",
      "SELECT count(*) FROM pets WHERE kind = 'cat'"),
     {"a", "c"}),
]
PETS = "CREATE TABLE pets (id INTEGER PRIMARY KEY, kind TEXT);" \
       "INSERT INTO pets VALUES (1, 'dog'), (2, 'cat'), (3, 'cat'), (4, 'fish');"


@pytest.fixture()
def pools(tmp_path: Path) -> tuple[Path, list[Path]]:
    return make_pools(tmp_path)


def make_pools(tmp_path: Path) -> tuple[Path, list[Path]]:
    """A two-database Spider-style benchmark of :data:`QUESTIONS` and the prediction files a, b and c."""
    root = tmp_path / "spider"
    dbutil.make_sqlite(root / "database" / "shop" / "shop.sqlite", dbutil.SQLITE_DDL + SHOP_EXTRA)
    dbutil.make_sqlite(root / "database" / "pets" / "pets.sqlite", PETS)
    dev = [{"db_id": db, "question": q, "query": gold} for db, q, gold, _p, _r in QUESTIONS]
    (root / "dev.json").write_text(json.dumps(dev), encoding="utf-8")
    (root / "dev_gold.sql").write_text("".join(f"{gold}\t{db}\n" for db, _q, gold, _p, _r in QUESTIONS))
    files = []
    for n, name in enumerate("abc"):
        path = tmp_path / f"{name}.sql"
        path.write_text("".join(p[n] + "\n" for _db, _q, _g, p, _r in QUESTIONS), encoding="utf-8")
        files.append(path)
    return root, files


def build(root: Path, files: list[Path], out: Path, **kwargs: object) -> dict[str, object]:
    bench = load_benchmark("spider-dev", root)
    cache = GoldCache(out.parent / "cache")
    try:
        return CriticDataBuild(bench, [[str(f) for f in files]], get_scorer("spider-exec", "sqlite"), out, cache,
                               eval_fraction=0.0, progress=False, workers=1, **kwargs).run()  # type: ignore[arg-type]
    finally:
        cache.close()


def test_labels_match_the_verdicts_worked_out_by_hand(pools: tuple[Path, list[Path]], tmp_path: Path) -> None:
    root, files = pools
    card = build(root, files, tmp_path / "data", orderings=1)
    data, stored = read_dataset(tmp_path / "data", "critic")
    rows = list(data["train"])
    # kept: the questions with a right and a wrong option among at least two successful groups
    assert sorted(r["index"] for r in rows) == [0, 2, 3, 5]
    assert stored["questions"] == 4 and card["counts"] == {"train": 4}
    for row in rows:
        _db, _q, _gold, predictions, right_files = QUESTIONS[row["index"]]
        # every option's label: is one of the right files' statements in it? (the description quotes the SQL)
        for text, label in zip(row["group_texts"], row["labels"], strict=True):
            proposers = {name for name, sql in zip("abc", predictions, strict=True) if json.dumps(sql) in text}
            assert proposers, text
            assert bool(label) == bool(proposers & right_files), (row["index"], text)
        # the LLM critic's completion is the letter of the right option in its prompt
        assert row["completion"] == LABELS[row["answer"]] and row["labels"][row["answer"]] == 1
        prompt = row["messages"][-1]["content"]
        assert [f"Option {LABELS[i]} (" in prompt for i in range(4)] == [i < len(row["labels"]) for i in range(4)]
    failing = next(r for r in rows if r["index"] == 3)
    assert len(failing["group_texts"]) == 2 and "nme" not in json.dumps(failing["group_texts"])
    # the majority's share and the first file's flag come with each option
    majority = next(r for r in rows if r["index"] == 5)
    assert sorted(majority["shares"]) == pytest.approx([1 / 3, 2 / 3])
    assert majority["firsts"][majority["labels"].index(1)] == 1.0
    # and each option's graded agreement: the log of its graded support (at least its share), its nearest other
    for row in rows:
        assert len(row["graded"]) == len(row["labels"])
        for (support, nearest), share in zip(row["graded"], row["shares"], strict=True):
            assert support >= math.log(share) - 1e-9 and 0.0 <= nearest <= 1.0
    # and its intent features, those of the SQL its description shows
    from mscsql.critic.intent import INTENT_FEATURES, intent_features
    from mscsql.types import ExecutionResult, ExecutionStatus

    for row in rows:
        assert [len(v) for v in row["intents"]] == [len(INTENT_FEATURES)] * len(row["labels"])
        for text, intent in zip(row["group_texts"], row["intents"], strict=True):
            sql = json.loads(text.split("SQL: ", 1)[1].split("\n", 1)[0])
            count = int(text.split("Row count: ", 1)[1].split(" ", 1)[0])
            expected = intent_features(row["question"].removeprefix("Question: "), sql,
                                       ExecutionResult(sql, ExecutionStatus.OK, ("x",), (), count))
            assert intent == pytest.approx(list(expected))


def test_by_support_rows_show_the_options_in_the_order_the_critic_shows_them(pools: tuple[Path, list[Path]],
                                                                             tmp_path: Path) -> None:
    root, files = pools
    card = build(root, files, tmp_path / "data", orderings=4, ordering="by-support")
    data, _stored = read_dataset(tmp_path / "data", "critic")
    rows = list(data["train"])
    assert card["settings"]["ordering"] == "by-support"  # type: ignore[index]
    assert sorted(r["index"] for r in rows) == [0, 2, 3, 5]  # one row per question, whatever --orderings says
    for row in rows:
        # the most proposed option first; equal shares: the one holding the first file's answer first
        keys = [(-share, -first) for share, first in zip(row["shares"], row["firsts"], strict=True)]
        assert keys == sorted(keys)
        assert row["completion"] == LABELS[row["answer"]] and row["labels"][row["answer"]] == 1
        prompt = row["messages"][-1]["content"]
        sqls = [next(line for line in text.splitlines() if line.startswith("SQL: ")).removeprefix("SQL: ")
                for text in row["group_texts"]]
        where = [prompt.index(f"  SQL: {sql}\n") for sql in sqls]
        assert where == sorted(where)  # the prompt shows the options in the same order


def test_pairwise_rows_are_each_right_wrong_pair_in_both_orders(pools: tuple[Path, list[Path]],
                                                                 tmp_path: Path) -> None:
    root, files = pools
    card = build(root, files, tmp_path / "data", pairwise=True)
    data, _stored = read_dataset(tmp_path / "data", "critic")
    rows = list(data["train"])
    assert card["settings"]["pairwise"] is True  # type: ignore[index]
    # question 2 has one right and two wrong groups (two pairs); 0, 3 and 5 one right and one wrong (one pair)
    assert Counter(r["index"] for r in rows) == {0: 2, 2: 4, 3: 2, 5: 2}
    seen: Counter[tuple[int, frozenset[str]]] = Counter()
    for row in rows:
        assert len(row["group_texts"]) == 2 and sorted(row["labels"]) == [0, 1]
        assert row["completion"] == LABELS[row["answer"]] and row["labels"][row["answer"]] == 1
        prompt = row["messages"][-1]["content"]
        assert "Option A (" in prompt and "Option B (" in prompt and "Option C (" not in prompt
        seen[(row["index"], frozenset(row["group_texts"]))] += 1
        # the pair's other order is there too, with the other letter
        twin = [r for r in rows if r["index"] == row["index"] and r["group_texts"] == row["group_texts"][::-1]]
        assert len(twin) == 1 and twin[0]["answer"] == 1 - row["answer"]
    assert set(seen.values()) == {2}
    capped = build(root, files, tmp_path / "capped", pairwise=True, max_pairs=1)
    assert capped["counts"] == {"train": 8}


def test_keep_all_keeps_unanimous_and_hopeless_questions(pools: tuple[Path, list[Path]], tmp_path: Path) -> None:
    root, files = pools
    build(root, files, tmp_path / "data", orderings=1, keep_all=True)
    data, _card = read_dataset(tmp_path / "data", "critic")
    assert sorted(r["index"] for r in data["train"]) == [0, 2, 3, 4, 5]  # question 1 has one result only
    hopeless = next(r for r in data["train"] if r["index"] == 4)
    # no option to learn: the LLM recipe leaves the row out, the encoder reads its all-zero labels
    assert hopeless["completion"] == "" and hopeless["answer"] == -1 and not any(hopeless["labels"])
    answered = [r for r in data["train"] if r["index"] != 4]
    assert all(r["completion"] == LABELS[r["answer"]] and r["labels"][r["answer"]] for r in answered)


def test_orderings_put_the_right_option_everywhere(pools: tuple[Path, list[Path]], tmp_path: Path) -> None:
    root, files = pools
    build(root, files, tmp_path / "data", orderings=3)
    data, card = read_dataset(tmp_path / "data", "critic")
    rows = list(data["train"])
    three = [r for r in rows if r["index"] == 2]
    assert len(three) == 3 and sorted(r["answer"] for r in three) == [0, 1, 2]
    assert all(r["ordering"] == n for n, r in enumerate(three))
    for row in three:  # the prompt shows the options in the row's order
        prompt = row["messages"][-1]["content"]
        positions = [prompt.index(json.dumps(sql)) for sql in
                     ("SELECT name FROM staff", "SELECT name FROM staff WHERE age > 30",
                      "SELECT name FROM staff WHERE age < 30")]
        order = sorted(range(3), key=lambda i: positions[i])
        assert order.index(1) == row["answer"]
    positions = Counter(r["answer"] for r in rows)
    assert card["label_balance"]["right_option_position"] == {LABELS[p]: n for p, n in sorted(positions.items())}


def test_balanced_orders_cycle_the_right_position() -> None:
    import random

    rng = random.Random(3)
    seen: Counter[int] = Counter()
    for _ in range(300):
        n = rng.choice([2, 3, 4, 5])
        answer = rng.randrange(n)
        orders = balanced_orders(n, answer, n, rng)
        assert len(orders) == n and len(set(orders)) == n
        assert all(sorted(o) == list(range(n)) for o in orders)
        assert sorted(o.index(answer) for o in orders) == list(range(n))  # each position exactly once
        seen.update(o.index(answer) for o in balanced_orders(n, answer, 1, rng))
    # one ordering per question: the right option's position is spread, not stuck at A
    assert seen[0] < 0.5 * sum(seen.values())


def test_identical_pools_are_kept_once(pools: tuple[Path, list[Path]], tmp_path: Path) -> None:
    root, files = pools
    bench = load_benchmark("spider-dev", root)
    cache = GoldCache(tmp_path / "cache")
    try:
        card = CriticDataBuild(bench, [[str(f) for f in files], [str(f) for f in files]],
                               get_scorer("spider-exec", "sqlite"), tmp_path / "data", cache, orderings=1,
                               eval_fraction=0.0, progress=False, workers=1).run()
    finally:
        cache.close()
    assert card["questions_seen"] == 12 and card["questions"] == 4


def test_a_missing_database_is_one_clear_error(pools: tuple[Path, list[Path]], tmp_path: Path) -> None:
    root, files = pools
    (root / "database" / "pets" / "pets.sqlite").unlink()
    result = mscsql("train", "data", "critic", "--benchmark", "spider-dev", "--data-dir", str(root),
                    "--pool", ",".join(map(str, files)), "--output", str(tmp_path / "data"))
    assert result.returncode == 2, result.stderr
    assert "pets" in result.stderr and "--allow-missing-db" in result.stderr and "Traceback" not in result.stderr
    ok = mscsql("train", "data", "critic", "--benchmark", "spider-dev", "--data-dir", str(root), "--allow-missing-db",
                "--pool", ",".join(map(str, files)), "--output", str(tmp_path / "data"), "--eval-fraction", "0")
    assert ok.returncode == 0, ok.stderr
    data, _card = read_dataset(tmp_path / "data", "critic")
    assert {r["db_id"] for r in data["train"]} == {"shop"}


def test_the_database_filter_and_the_eval_split(pools: tuple[Path, list[Path]], tmp_path: Path) -> None:
    root, files = pools
    bench = load_benchmark("spider-dev", root)
    assert parse_db_filter("even", bench) == ["pets"] and parse_db_filter("odd", bench) == ["shop"]
    assert [i.db_id for i in filter_databases(bench, ["shop"]).items] == ["shop"] * 4
    result = mscsql("train", "data", "critic", "--benchmark", "spider-dev", "--data-dir", str(root), "--pools-file",
                    str(_pools_file(tmp_path, files)), "--eval-fraction", "0.5", "--output", str(tmp_path / "data"))
    assert result.returncode == 0, result.stderr
    data, card = read_dataset(tmp_path / "data", "critic")
    train_dbs, eval_dbs = {r["db_id"] for r in data["train"]}, {r["db_id"] for r in data["eval"]}
    assert train_dbs and eval_dbs and not train_dbs & eval_dbs
    assert card["eval_databases"] == sorted(eval_dbs)
    unknown = mscsql("train", "data", "critic", "--benchmark", "spider-dev", "--data-dir", str(root), "--dbs", "zoo",
                     "--pool", str(files[0]), "--output", str(tmp_path / "x"))
    assert unknown.returncode == 2 and "'zoo'" in unknown.stderr
    from mscsql.errors import ConfigError

    with pytest.raises(ConfigError, match=r"no database named 'shpo', 'evne' \(did you mean 'shop', 'even'\?\)"):
        parse_db_filter("shpo,evne", bench)


def test_descriptions_are_the_encoder_critics_own(pools: tuple[Path, list[Path]], tmp_path: Path) -> None:
    from mscsql.benchmarks.predictions import load_prediction_files
    from mscsql.critic.grouping import group_by_result
    from mscsql.db import connect
    from mscsql.evaluation.select import run_candidates

    root, files = pools
    build(root, files, tmp_path / "data", orderings=1)
    data, card = read_dataset(tmp_path / "data", "critic")
    row = next(r for r in data["train"] if r["index"] == 0)
    bench = load_benchmark("spider-dev", root)
    loaded = load_prediction_files(files, bench)
    with connect(str(root / "database" / "shop" / "shop.sqlite")) as db:
        groups = group_by_result(run_candidates(db, [0], loaded, workers=1, timeout_s=10)[0])
    from mscsql.critic.encoder import EncoderCriticConfig

    options = EncoderCriticConfig.from_dict(card["encoder_critic"]).metadata
    assert sorted(row["group_texts"]) == sorted(describe_group(g, 3, options) for g in groups)


def _pools_file(tmp_path: Path, files: list[Path]) -> Path:
    path = tmp_path / "pools.txt"
    path.write_text("# a comment\n" + ",".join(map(str, files)) + "\n\n", encoding="utf-8")
    return path


def test_a_generation_runs_candidates_are_labelled_as_the_same_prediction_files(
        pools: tuple[Path, list[Path]], tmp_path: Path) -> None:
    root, files = pools
    generators = "\n".join(f"  - {{name: g{n}, backend: replay, n: 1, options: {{predictions: \"{f}\"}}}}"
                           for n, f in enumerate(files))
    config = tmp_path / "replay.yaml"
    config.write_text(f"linking: {{linkers: [keep-all]}}\nuse_values: false\ngenerators:\n{generators}\n")
    run = tmp_path / "generated-run"
    made = mscsql("generate", "--config", str(config), "--benchmark", "spider-dev", "--data-dir", str(root),
                  "--output", str(run))
    assert made.returncode == 0, made.stderr
    from_files = build(root, files, tmp_path / "from-files", orderings=1)
    bench = load_benchmark("spider-dev", root)
    cache = GoldCache(tmp_path / "cache")
    try:
        card = CriticDataBuild(bench, [], get_scorer("spider-exec", "sqlite"), tmp_path / "from-run", cache,
                               generated=[run], orderings=1, eval_fraction=0.0, progress=False, workers=1).run()
    finally:
        cache.close()
    assert card["questions"] == from_files["questions"] == 4
    assert card["generated"][0]["generators"] == ["g0", "g1", "g2"]
    by_files = {r["index"]: r for r in read_dataset(tmp_path / "from-files", "critic")[0]["train"]}
    by_run = {r["index"]: r for r in read_dataset(tmp_path / "from-run", "critic")[0]["train"]}
    assert sorted(by_run) == sorted(by_files)
    for index, row in by_run.items():
        # the same options with the same agreement and the same verdicts; the pool is the run's generators
        assert sorted(zip(row["group_texts"], row["labels"], row["shares"], strict=True)) == \
            sorted(zip(by_files[index]["group_texts"], by_files[index]["labels"], by_files[index]["shares"],
                       strict=True))
        assert row["pool"] == ["g0", "g1", "g2"]
        first_file_option = by_files[index]["group_texts"][by_files[index]["firsts"].index(1.0)]
        assert row["firsts"][row["group_texts"].index(first_file_option)] == 1.0
    # the LLM critic's prompt shows the linked schema the run's generator prompt showed
    records = [json.loads(line) for line in (run / "candidates.jsonl").read_text().splitlines()]
    linked = next(r["schema_text"] for r in records if r["index"] == 0)
    assert linked and linked in by_run[0]["messages"][-1]["content"]


def test_a_folder_without_a_generation_run_is_one_clear_error(pools: tuple[Path, list[Path]], tmp_path: Path) -> None:
    root, _files = pools
    result = mscsql("train", "data", "critic", "--benchmark", "spider-dev", "--data-dir", str(root),
                    "--generated", str(tmp_path), "--output", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "holds no generation run" in result.stderr and "Traceback" not in result.stderr
