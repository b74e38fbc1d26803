"""How a scoring run cuts its questions into chunks."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mscsql.errors import ConfigError
from mscsql.evaluation.runner import MIN_CHUNK, ScoreRun, _chunks


def _items(n: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(db_id=f"db{i % 3}", index=i) for i in range(n)]


def test_every_question_once_in_database_order_and_the_last_chunks_shrink() -> None:
    items = _items(500)
    chunks = list(_chunks(items, 50, 2))
    flat = [i for c in chunks for i in c]
    assert sorted(i.index for i in flat) == list(range(500))
    assert flat == sorted(items, key=lambda i: (i.db_id, i.index))
    sizes = [len(c) for c in chunks]
    assert max(sizes) == 50 and sizes[-2] == MIN_CHUNK and sizes == sorted(sizes, reverse=True)
    assert [len(c) for c in _chunks(items, 50, 1)] == [50] * 10  # one process: equal chunks
    assert max(len(c) for c in _chunks(items, 3, 4)) == 3  # never above the size asked for


def test_a_chunk_size_below_one_is_refused(tmp_path) -> None:
    from mscsql.benchmarks.loaders import Benchmark
    from mscsql.evaluation.cache import GoldCache
    from mscsql.evaluation.scorers import get_scorer

    bench = Benchmark(name="x", dialect="sqlite", items=(), difficulty_levels=())
    with pytest.raises(ConfigError, match="chunk size 0"):
        ScoreRun(benchmark=bench, files=[], scorer=get_scorer("bird"), output=tmp_path, cache=GoldCache(None),
                 chunk_size=0)
