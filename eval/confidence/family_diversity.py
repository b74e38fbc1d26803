"""Probe: does the confidence model generalise better to an unseen family of systems when it is fitted on more
families, beyond having more answers to fit on?

The cross-validation of ``fit_confidence.py`` (each fitting family held out in turn, fitted in one half of the
databases on the pools without it, measured in the other half on the pools of 3 or more files with it) is run
with 1, 2 or 3 further families dropped from the fitting pools, and, beside each, with as many fitting pools
dropped at random (three draws each). If the gain at 80 % coverage falls more when families are dropped than
when the same number of pools is, the variety of systems matters beyond the amount of data. Only the fitting
pools take part.

    python eval/confidence/family_diversity.py --data ../shared/data --work runs/confidence \\
        --output eval/results/family_diversity.json
"""

from __future__ import annotations

import random
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fit_confidence as base

from mscsql.critic.confidence import fit


def main() -> None:
    args = base.probe_arguments(__doc__, "eval/results/family_diversity.json")
    files, verdict, items, candidates = base.load_study(args.data, args.work, progress=False)
    questions = {i.index: i for i in items}
    fitting, _measuring = base.draw_pools([f.name for f in files])
    schemas = base.schemas_of(items)
    rows = {tuple(p): base.pool_rows(p, candidates, questions, verdict, schemas) for p in fitting}
    databases = [questions[i].db_id for i in candidates]
    halves = base._halves(databases)
    families = sorted({base.family(name) for pool in fitting for name in pool})
    rng = random.Random(1)
    found: dict[str, list[tuple[float, int]]] = {}
    for fit_half, measure_half in (("even", "odd"), ("odd", "even")):
        for held in families:
            tested = [[r for r, db in zip(answers, databases, strict=True) if db in halves[measure_half]]
                      for pool, answers in rows.items() if held in map(base.family, pool) and len(pool) >= 3]
            if not tested:
                continue
            without = [pool for pool in rows if held not in map(base.family, pool)]
            for dropped_count in (0, 1, 2, 3):
                for _draw in range(3 if dropped_count else 1):
                    dropped = set(rng.sample([f for f in families if f != held], dropped_count))
                    kept = [pool for pool in without if not dropped & set(map(base.family, pool))]
                    for way, pools in (("families", kept), ("random pools", rng.sample(without, len(kept)))):
                        fitted = [r for pool in pools for r, db in zip(rows[pool], databases, strict=True)
                                  if db in halves[fit_half]]
                        if not fitted:
                            continue
                        model = fit([f for f, _ in fitted], [ok for _, ok in fitted])
                        gain = statistics.mean(100 * base.compare(t, model)["gain_over_share"]["0.8"]
                                               for t in tested)
                        found.setdefault(f"{dropped_count} dropped, {way}", []).append((gain, len(pools)))
    report: dict[str, Any] = {
        label: {"mean_gain_at_80": round(statistics.mean(g for g, _ in runs), 3),
                "mean_fitting_pools": round(statistics.mean(n for _, n in runs), 1), "folds": len(runs)}
        for label, runs in sorted(found.items())}
    base.write_probe_record(args, __file__, {"results": report})
    for label, figures in report.items():
        print(f"{label:28s} {figures}")


if __name__ == "__main__":
    main()
