"""The gold-result cache gives back every cell as it was stored."""

from __future__ import annotations

from pathlib import Path

from mscsql.evaluation.cache import GoldCache
from mscsql.types import ExecutionResult, ExecutionStatus


def test_a_cached_result_comes_back_cell_for_cell(tmp_path: Path) -> None:
    rows = ((1, 2.5, "Zoë", None, True), (-7, 1e-300, "", None, False), (2**62, -0.0, "inf", None, 0))
    result = ExecutionResult(sql="SELECT * FROM t", status=ExecutionStatus.OK, columns=("a", "b", "c", "d", "e"),
                             rows=rows, row_count=3, truncated=False, elapsed_s=0.25)
    cache = GoldCache(tmp_path)
    try:
        cache.put_many({"k": result})
    finally:
        cache.close()
    reopened = GoldCache(tmp_path)
    try:
        found = reopened.get_many(["k", "absent"])
    finally:
        reopened.close()
    assert list(found) == ["k"]
    back = found["k"]
    assert back == result
    assert [[type(c) for c in r] for r in back.rows] == [[type(c) for c in r] for r in rows]
    assert isinstance(back.rows, tuple) and all(isinstance(r, tuple) for r in back.rows)
