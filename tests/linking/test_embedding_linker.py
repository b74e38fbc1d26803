"""The embedding linker on hand-made schemas, with the offline all-MiniLM-L6-v2 encoder."""

from __future__ import annotations

import pytest

from mscsql.linking.base import LinkRequest
from mscsql.linking.embedding import EmbeddingLinker, EmbeddingLinkerSettings
from mscsql.retrieval import get_encoder
from mscsql.types import Question, ValueMatch
from tests.linking.test_gold_and_metrics import SCHEMA

pytest.importorskip("sentence_transformers")


@pytest.fixture(scope="module")
def linker() -> EmbeddingLinker:
    return EmbeddingLinker()


def link(linker: EmbeddingLinker, text: str, values: tuple[ValueMatch, ...] = ()):
    return linker.link([LinkRequest(Question(text), SCHEMA, values)])[0]


def kept(result) -> dict[str, set[str]]:
    return {t.name: {c.name for c in t.columns} for t in result.schema.tables}


def test_a_question_about_one_table_keeps_it_and_its_mentioned_columns(linker: EmbeddingLinker) -> None:
    result = link(linker, "What is the average age of singers from each country?")
    tables = kept(result)
    assert "singer" in tables and "stadium" not in tables
    assert {"Age", "Country"} <= tables["singer"]
    assert result.scores["singer"] > result.scores["stadium"]
    assert result.linker == "embedding" and result.full_schema is SCHEMA


def test_joined_tables_come_with_the_bridge_and_its_keys(linker: EmbeddingLinker) -> None:
    result = link(linker, "Show the names of singers and the names of the concerts they performed in.")
    tables = kept(result)
    assert {"singer", "concert", "singer_in_concert"} <= set(tables)
    # the keys that join them are kept, whatever their scores
    assert {"concert_ID", "Singer_ID"} <= tables["singer_in_concert"]
    assert "Singer_ID" in tables["singer"] and "concert_ID" in tables["concert"]


def test_a_retrieved_value_pulls_in_its_column(linker: EmbeddingLinker) -> None:
    question = "How many concerts were held at Balmoor?"
    without = link(linker, question)
    value = ValueMatch("stadium", "Location", "Balmoor", 1.0, "exact")
    with_value = link(linker, question, (value,))
    assert with_value.scores["stadium.Location"] > without.scores["stadium.Location"]
    assert "Location" in kept(with_value).get("stadium", set())
    assert with_value.values == (value,)


def test_thresholds_trade_recall_for_size(linker: EmbeddingLinker) -> None:
    question = "List the names of all stadiums."
    strict = EmbeddingLinker(EmbeddingLinkerSettings(table_miss=1.0, column_miss=1.0, min_columns=0),
                             encoder=linker.encoder)
    loose = EmbeddingLinker(EmbeddingLinkerSettings(table_miss=0.0, column_miss=0.0),
                            encoder=linker.encoder)
    small = kept(strict.link([LinkRequest(Question(question), SCHEMA)])[0])
    everything = kept(loose.link([LinkRequest(Question(question), SCHEMA)])[0])
    assert list(small) == ["stadium"]  # the best table is always kept
    assert everything == {t.name: {c.name for c in t.columns} for t in SCHEMA.tables}


def test_the_question_is_embedded_once_and_the_schema_once_per_batch(linker: EmbeddingLinker) -> None:
    encoder = get_encoder()
    fresh = EmbeddingLinker(encoder=encoder)
    questions = ["Which singer is the oldest?", "Which stadium has the largest capacity?"]
    before = encoder.encoded_texts
    fresh.link([LinkRequest(Question(q), SCHEMA) for q in questions])
    elements = len(SCHEMA.tables) + sum(len(t.columns) for t in SCHEMA.tables)
    assert encoder.encoded_texts - before == elements + len(questions)
