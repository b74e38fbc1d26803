"""The pools that the confidence and selection measurements draw from published prediction files: no pool holds
one system twice, and no system is on both sides of a hold-out (a file published twice under two names counts
as one system)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def _fit_confidence() -> ModuleType:
    path = REPO / "eval" / "confidence" / "fit_confidence.py"
    spec = importlib.util.spec_from_file_location("fit_confidence_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def predictions(shared_data: Path) -> Path:
    return shared_data / "predictions" / "spider_dev"


def _systems(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.glob("*.sql")}


def test_a_file_published_twice_belongs_to_one_family(predictions: Path) -> None:
    module = _fit_confidence()
    text = _systems(predictions)
    twins = [(a, b) for a in sorted(text) for b in sorted(text) if a < b and text[a] == text[b]]
    assert twins, "the published files hold at least one system under two names"
    for a, b in twins:
        assert module.family(a) == module.family(b), (a, b)
    assert module.family("DAIL-SQL__graphix_result.sql") == "graphix"


def test_drawn_pools_hold_each_system_once_and_never_on_both_sides(predictions: Path) -> None:
    module = _fit_confidence()
    text = _systems(predictions)
    fitting, measuring = module.draw_pools(sorted(text))
    assert len(measuring) == 12 and {len(p) for p in measuring} == {3, 4}
    module.require_distinct_systems(fitting + measuring, predictions)  # stops the script when it fails
    fitted = {text[name] for pool in fitting for name in pool}
    assert not any(text[name] in fitted for pool in measuring for name in pool)


def test_require_distinct_systems_stops_on_a_pool_with_one_system_twice(predictions: Path) -> None:
    module = _fit_confidence()
    with pytest.raises(SystemExit, match="same predictions twice"):
        module.require_distinct_systems([["DAIL-SQL__graphix_result.sql", "NL2SQL360__Graphix_PICARD_3B.sql"]],
                                        predictions)


def test_recorded_selection_pools_hold_each_system_once(predictions: Path) -> None:
    text = _systems(predictions)
    pools = {}
    for name in ("holdout_tune_pools.txt", "holdout_measure_pools.txt"):
        lines = (REPO / "eval" / "critic" / name).read_text(encoding="utf-8").splitlines()
        pools[name] = [line.split(",") for line in lines if line and not line.startswith("#")]
    for found in pools.values():
        for pool in found:
            assert len({text[f] for f in pool}) == len(pool), pool
    tuned = {text[f] for pool in pools["holdout_tune_pools.txt"] for f in pool}
    assert not any(text[f] in tuned for pool in pools["holdout_measure_pools.txt"] for f in pool)
