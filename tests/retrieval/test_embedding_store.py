"""Embeddings kept on disk: a second run (another encoder, which shares only the disk) embeds only the texts the
first did not, gets the same vectors, never mixes models, and runs on without the store when it is unusable."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mscsql.retrieval.embedding_store import FILE_NAME, EmbeddingStore
from mscsql.retrieval.encoder import Encoder, keep_embeddings_in

pytest.importorskip("sentence_transformers")

QUESTIONS = ["How many singers are there?", "Which country has the most stadiums?", "List every concert in 2014."]


@pytest.fixture
def no_disk_store() -> Iterator[None]:
    yield
    keep_embeddings_in(None)


def test_a_second_run_embeds_only_new_texts_and_gets_the_same_vectors(tmp_path: Path, no_disk_store: None) -> None:
    keep_embeddings_in(tmp_path)
    first = Encoder()  # each encoder object has its own memory cache: only the disk carries between them
    first_vectors = first.encode(QUESTIONS[:2])
    second = Encoder()
    second_vectors = second.encode(QUESTIONS)
    assert first.encoded_texts == 2 and second.encoded_texts == 1
    np.testing.assert_array_equal(second_vectors[:2], first_vectors)  # read back exactly
    keep_embeddings_in(None)
    computed = first.encode(QUESTIONS[2:])  # not in the first encoder's memory, and no store: the model runs
    assert first.encoded_texts == 3
    np.testing.assert_allclose(second_vectors[2:], computed, atol=1e-6)


def test_models_do_not_share_stored_embeddings(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path)
    store.put_many("model-a", {"q": np.ones(4, dtype=np.float32)})
    assert set(store.get_many("model-a", ["q", "other"])) == {"q"}
    assert store.get_many("model-b", ["q"]) == {}
    assert store.get_many("model-a", ["q"], dimension=384) == {}  # a vector of another size is not used
    store.close()


def test_an_unusable_store_warns_and_the_encoder_still_embeds(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                             no_disk_store: None) -> None:
    (tmp_path / FILE_NAME).write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.WARNING):
        keep_embeddings_in(tmp_path)
        encoder = Encoder()
        vectors = encoder.encode(QUESTIONS[:1])
    assert vectors.shape == (1, 384) and encoder.encoded_texts == 1
    assert "not kept on disk" in caplog.text or "cannot be read" in caplog.text


def test_loading_the_encoder_draws_no_progress_bar_and_leaves_bars_as_they_were(
        capfd: pytest.CaptureFixture[str], no_disk_store: None) -> None:
    from transformers.utils import logging as hf_logging

    assert hf_logging.is_progress_bar_enabled()
    Encoder().encode(QUESTIONS[:1])  # loads the model
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()  # the setting is given back for other models' loads
