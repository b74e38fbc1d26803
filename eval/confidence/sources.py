"""Probe: fit the confidence model on pools of one sample per generator *and* pools of several samples per
generator (checkpoints of one family standing in for one generator's samples, as in ``many_samples.py``)?

Chosen, as ever, on the fitting families alone: the family-held-out cross-validation of ``fit_confidence.py``
(each fitting family held out in turn, fitted in one half of the databases on the pools without it, measured in
the other half on the one-sample pools of 3 or more files with it), with and without the many-sample fitting
pools added to what is fitted on. Then both models are measured on the measuring pools of both kinds.

    python eval/confidence/sources.py --data ../shared/data --work runs/confidence \\
        --output eval/results/confidence_sources.json
"""

from __future__ import annotations

import random
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fit_confidence as base
import many_samples as many

from mscsql.critic.confidence import fit

Rows = list[tuple[dict[str, float], bool]]


def cross_validated(one: dict[tuple[str, ...], Rows], several: dict[tuple[str, ...], Rows], databases: list[str],
                    with_several: bool) -> float:
    """Mean gain at 80 % coverage over the share on the held-out family's one-sample pools."""
    halves = base._halves(databases)
    gains = []
    families = sorted({base.family(name) for pool in one for name in pool})
    pools = {**one, **(several if with_several else {})}
    for fit_half, measure_half in (("even", "odd"), ("odd", "even")):
        for held in families:
            rows = [r for pool, found in pools.items() if held not in map(base.family, pool)
                    for r, db in zip(found, databases, strict=True) if db in halves[fit_half]]
            tested = [[r for r, db in zip(found, databases, strict=True) if db in halves[measure_half]]
                      for pool, found in one.items() if held in map(base.family, pool) and len(pool) >= 3]
            if not rows or not tested:
                continue
            model = fit([f for f, _ok in rows], [ok for _f, ok in rows])
            gains += [100 * base.compare(t, model)["gain_over_share"]["0.8"] for t in tested]
    return round(statistics.mean(gains), 3)


def main() -> None:
    args = base.probe_arguments(__doc__, "eval/results/confidence_sources.json")
    files, verdict, items, candidates = base.load_study(args.data, args.work, progress=False)
    questions = {i.index: i for i in items}
    schemas = base.schemas_of(items)
    names = [f.name for f in files]
    fitting, measuring = base.draw_pools(names)  # the pools fit_confidence.py draws
    one_fit = {tuple(p): base.pool_rows(p, candidates, questions, verdict, schemas) for p in fitting}
    one_measure = [base.pool_rows(p, candidates, questions, verdict, schemas) for p in measuring]
    rng = random.Random(0)  # the pools many_samples.py draws
    many_measure = [many.draw(names, design, rng) for _label, design in many.DESIGNS for _ in range(many.DRAWS)]
    many_fit = [many.draw_fitting(names, design, rng) for _label, design in many.DESIGNS
                for _ in range(many.FITTING_DRAWS)]
    several = {tuple(p): many.pool_rows(p, candidates, questions, verdict, schemas, reliability=True) for p in many_fit}
    measured_several = [many.pool_rows(p, candidates, questions, verdict, schemas, reliability=True)
                        for p in many_measure]
    databases = [questions[i].db_id for i in candidates]
    found: dict[str, Any] = {}
    for label, with_several in (("one-sample pools", False), ("one-sample and many-sample pools", True)):
        rows = [r for found_rows in one_fit.values() for r in found_rows]
        rows += [r for found_rows in several.values() for r in found_rows] if with_several else []
        model = fit([f for f, _ok in rows], [ok for _f, ok in rows])
        found[label] = {
            "cross_validated_gain_at_80": cross_validated(one_fit, several, databases, with_several),
            "one_sample_measured_pools": base.summarise(
                [100 * base.compare(r, model)["gain_over_share"]["0.8"] for r in one_measure]),
            "many_sample_measured_pools": base.summarise(
                [100 * base.compare(r, model)["gain_over_share"]["0.8"] for r in measured_several]),
            "answers_fitted": len(rows)}
        print(label, found[label])
    base.write_probe_record(args, __file__, {"results": found})


if __name__ == "__main__":
    main()
