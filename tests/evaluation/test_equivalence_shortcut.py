"""The text shortcut in front of the token comparison (statements whose lower-cased text without spaces and
semicolons differs are not compared token by token) gives the token comparison's verdict, the token comparison
takes nothing for equivalent that an engine reads differently, and blank predictions are still recognised
without the guard."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from mscsql.evaluation.equivalence import holds_no_statement, textually_equivalent, token_key


def _by_tokens(a: str, b: str, dialect: str) -> bool:
    key = token_key(a, dialect)
    return a == b or (key is not None and key == token_key(b, dialect))


def _variants(sql: str, rng: random.Random) -> list[str]:
    """Rewritings a prediction file holds: other case, other spacing, a semicolon, a comment, a changed literal."""
    words = sql.split(" ")
    return [sql.lower(), sql.upper(), "  ".join(words), "\n".join(words), sql + " ;", sql + ";;",
            sql + " -- checked", "/* q */ " + sql, sql.replace("'", '"'), sql.replace("=", " = "),
            " ".join(w.upper() if rng.random() < 0.5 else w.lower() for w in words),
            sql.replace(" 1", " 1.0"), sql.replace("\t", " "), sql.replace(" ", "\u00a0", 1), sql + " #x"]


CONSTRUCTED = [
    ("SELECT name FROM t WHERE a = 'x y'", "select NAME from T where A = 'x y';"),
    ("SELECT name FROM t WHERE a = 'x y'", "SELECT name FROM t WHERE a = 'xy'"),
    ("SELECT name FROM t WHERE a = 'A'", "SELECT name FROM t WHERE a = 'a'"),
    ("SELECT a FROM t GROUP  BY a", "SELECT a FROM t group by a"),
    ("SELECT a FROM t; ", "SELECT a FROM t"),
    ("SELECT ';' FROM t", "SELECT '' FROM t"),
    ("SELECT a FROM t -- note", "SELECT a FROM t"),
    ("SELECT a FROM t", "SELECT\u00a0a FROM t"),
    ("SELECT \"a\" FROM t", "SELECT a FROM t"),
    ("SELECT a<>1 FROM t", "SELECT a != 1 FROM t"),
]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql"])
def test_the_shortcut_gives_the_token_comparison_verdict_on_constructed_pairs(dialect: str) -> None:
    for a, b in CONSTRUCTED:
        assert textually_equivalent(a, b, dialect) == _by_tokens(a, b, dialect), (a, b, dialect)
    # sqlglot finds keywords by Unicode upper case, engines by ASCII: "ſELECT" and "LıMıT" are not keywords to
    # them, with or without a comment that makes the text comparison read the tokens
    for odd in ("ſELECT a FROM t LIMIT 1", "SELECT a FROM t LıMıT 1", "SELECT a FROM t CROß JOIN u LIMIT 1"):
        for comment in ("", " -- checked"):
            assert not textually_equivalent(odd + comment, "SELECT a FROM t LIMIT 1", dialect)
            assert not textually_equivalent(odd + comment, "SELECT a FROM t CROSS JOIN u LIMIT 1", dialect)
    # a command's words are one token to sqlglot: never compared
    assert not textually_equivalent("SHOW a b", "SHOW c b", dialect)
    assert not textually_equivalent("EXPLAIN SELECT a FROM t", "EXPLAIN SELECT b FROM t", dialect)
    # SQLite folds ASCII letters in names, no others: "Ä" and "ä" are two columns there
    assert not textually_equivalent("SELECT Ä FROM t", "SELECT ä FROM t", "sqlite")
    assert textually_equivalent("SELECT Name FROM T", "select name from t", "sqlite")
    # and it still finds what is equivalent
    assert textually_equivalent("SELECT a FROM t GROUP  BY a", "select a from t group by a;", dialect)


def test_the_shortcut_gives_the_token_comparison_verdict_on_spider_dev(shared_data: Path) -> None:
    dev = json.loads((shared_data / "spider" / "dev.json").read_text())
    golds = [e["query"] for e in dev]
    rng = random.Random(7)
    predictions = sorted((shared_data / "predictions" / "spider_dev").glob("*.sql"))[:4]
    pairs = []
    for path in predictions:
        lines = path.read_text(encoding="utf-8").split("\n")
        pairs += list(zip(lines, golds, strict=False))
    pairs += [(v, g) for g in golds[::4] for v in _variants(g, rng)]
    equivalent = 0
    for prediction, gold in pairs:
        verdict = textually_equivalent(prediction, gold, "sqlite")
        assert verdict == _by_tokens(prediction, gold, "sqlite"), (prediction, gold)
        equivalent += verdict
    assert len(pairs) > 5000 and 0.1 < equivalent / len(pairs) < 0.9


@pytest.mark.parametrize(("sql", "blank"), [
    ("", True), ("  ;\n ;", True), ("-- nothing", True), ("/* a */ ;", True), ("#", None),
    ("SELECT 1", False), (";SELECT 1", False), ("-- x\nSELECT 1", False), ("\u00a0", None),
])
def test_blank_predictions_are_recognised_from_text_or_tokens(sql: str, blank: bool | None) -> None:
    expected = None if token_key(sql, "sqlite") is None else not token_key(sql, "sqlite")
    assert holds_no_statement(sql, "sqlite") == expected
    if blank is not None:
        assert expected == blank
