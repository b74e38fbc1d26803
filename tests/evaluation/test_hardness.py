"""Spider hardness on hand-made queries (the counts are worked out from the official rules)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mscsql.benchmarks.hardness import hardness_counts, spider_hardness


@pytest.mark.parametrize(("sql", "c1", "c2", "others", "level"), [
    ("SELECT count(*) FROM singer", 0, 0, 0, "easy"),
    ("SELECT name FROM singer WHERE age > 20", 1, 0, 0, "easy"),
    ("SELECT name, age FROM singer ORDER BY age DESC", 1, 0, 1, "medium"),
    ("SELECT avg(age), min(age), max(age) FROM singer WHERE country = 'France'", 1, 0, 2, "medium"),
    ("SELECT T1.name FROM a AS T1 JOIN b AS T2 ON T1.id = T2.id WHERE T2.x = 1 OR T2.y LIKE '%z%'", 4, 0, 1,
     "extra"),
    ("SELECT name FROM a WHERE id NOT IN (SELECT id FROM b)", 1, 1, 0, "hard"),
    ("SELECT name FROM a UNION SELECT name FROM b", 0, 1, 0, "hard"),
    ("SELECT name FROM a EXCEPT SELECT name FROM b WHERE x IN (SELECT y FROM c)", 0, 1, 0, "hard"),
    # HAVING: each AND/OR and each NOT-condition counts as an "aggregate" (official quirk)
    ("SELECT a FROM t GROUP BY a HAVING count(*) > 1 AND sum(b) < 3", 1, 0, 0, "easy"),
    ("SELECT a, count(*) FROM t GROUP BY a HAVING count(*) > 1 AND sum(b) < 3 OR max(c) = 2", 2, 0, 2, "extra"),
    # a column-valued condition swallows what follows up to the next AND (official parser quirk)
    ("SELECT c FROM t WHERE t.x < t.y OR t.x > t.z", 1, 0, 0, "easy"),
    ("SELECT c FROM t WHERE t.x < 3 OR t.x > t.z", 2, 0, 1, "medium"),
    ("SELECT c FROM t WHERE name = \"John\" OR age > 3", 2, 0, 1, "medium"),  # "John" is a value
    ("SELECT c FROM t WHERE x BETWEEN 1 AND 5 AND y LIKE 'a%'", 2, 0, 1, "medium"),
])
def test_counts_and_levels(sql: str, c1: int, c2: int, others: int, level: str) -> None:
    counts = hardness_counts(sql)
    assert (counts.component1, counts.component2, counts.others) == (c1, c2, others)
    assert counts.level == level == spider_hardness(sql)


@pytest.mark.shared_data
def test_spider_dev_hardness_counts_match_the_official_tool(shared_data: Path) -> None:
    from mscsql.benchmarks.loaders import load_benchmark

    benchmark = load_benchmark("spider-dev", shared_data / "spider", allow_missing_db=True)
    executable = [item for item in benchmark.items if item.database]
    assert len(executable) == 972
    levels = ("easy", "medium", "hard", "extra")
    counts = {level: sum(1 for i in executable if i.difficulty == level) for level in levels}
    assert counts == {"easy": 232, "medium": 416, "hard": 160, "extra": 164}


def test_levels_are_cached_by_the_queries_and_a_bad_cache_is_recomputed(tmp_path: Path) -> None:
    from mscsql.benchmarks import hardness

    queries = ["SELECT count(*) FROM singer", "SELECT name FROM a UNION SELECT name FROM b"]
    assert hardness.spider_hardness_levels(queries, tmp_path) == ["easy", "hard"]
    [kept] = (tmp_path / "hardness").iterdir()
    kept.write_text('["extra", "extra"]')  # what is cached is what is read back
    assert hardness.spider_hardness_levels(queries, tmp_path) == ["extra", "extra"]
    assert hardness.spider_hardness_levels(queries[:1], tmp_path) == ["easy"]  # other queries: another entry
    kept.write_text('["easy"]')  # a damaged entry (wrong length) is recomputed and rewritten
    assert hardness.spider_hardness_levels(queries, tmp_path) == ["easy", "hard"]
    kept.write_text("{not json")
    assert hardness.spider_hardness_levels(queries, tmp_path) == ["easy", "hard"]
    blocked = tmp_path / "file"
    blocked.write_text("")  # a cache folder that cannot be made: the levels are still computed
    assert hardness.spider_hardness_levels(queries, blocked) == ["easy", "hard"]
