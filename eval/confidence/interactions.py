"""Probe: does the confidence model gain from reading the reliable share times each other feature (so that, say,
a coverage doubt may weigh more when the samples agree)?

Beside the packaged features, two variants read products of ``reliable_share`` with every other feature but the
plain share, or with ten chosen ones (hardness, coverage, unused schema words, the answer checks, the result's
size, the generator share, the graded share). Each is cross-validated on the fitting pools alone, as
``fit_confidence.py`` chooses the penalty, then measured on the measuring pools and the database split at the
penalty its cross-validation chose.

    python eval/confidence/interactions.py --data ../shared/data --work runs/confidence \\
        --output eval/results/confidence_interactions.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fit_confidence as base

from mscsql.critic.confidence import FEATURES

CHOSEN = ("hardness", "question_coverage", "schema_words_unused_share", "no_answer", "values_missing",
          "values_unasked", "result_rows", "one_row", "generators", "graded_share")


def with_products(rows: base.Rows, names: tuple[str, ...]) -> base.Rows:
    """``rows`` with the reliable share times each of ``names`` added (as ``share_x_NAME``)."""
    return {pool: [({**f, **{f"share_x_{n}": f["reliable_share"] * f[n] for n in names}}, ok) for f, ok in found]
            for pool, found in rows.items()}


def main() -> None:
    args = base.probe_arguments(__doc__, "eval/results/confidence_interactions.json")
    files, verdict, items, candidates = base.load_study(args.data, args.work, progress=False)
    questions = {i.index: i for i in items}
    fitting, measuring = base.draw_pools([f.name for f in files])  # the pools fit_confidence.py draws
    schemas = base.schemas_of(items)
    fitting_rows = {tuple(p): base.pool_rows(p, candidates, questions, verdict, schemas) for p in fitting}
    measuring_rows = {tuple(p): base.pool_rows(p, candidates, questions, verdict, schemas) for p in measuring}
    databases = [questions[i].db_id for i in candidates]
    every = tuple(n for n in FEATURES if n not in ("share", "reliable_share"))
    found = {}
    for label, products in (("packaged features", ()), ("+ reliable share x every feature", every),
                            ("+ reliable share x ten features", CHOSEN)):
        names = (*FEATURES, *(f"share_x_{n}" for n in products))
        fitting_with, measuring_with = with_products(fitting_rows, products), with_products(measuring_rows, products)
        cross = base.choose_penalty(fitting_with, databases, names)
        gains = base.gains_with(names, fitting_with, measuring_with, databases, cross["penalty_per_answer"])
        found[label] = {"features": len(names), "penalty_per_answer": cross["penalty_per_answer"],
                        "cross_validated_gain_at_80": {p: round(100 * g, 2)
                                                       for p, g in cross["cross_validated_gain_at_80"].items()},
                        "gain_at_80_measured_pools": base.summarise(gains["measured"]),
                        "gain_at_80_database_split": base.summarise(gains["split"]),
                        "per_pool": [round(g, 2) for g in gains["measured"]]}
        print(label, json.dumps(found[label]))
    base.write_probe_record(args, __file__, {"results": found})


if __name__ == "__main__":
    main()
