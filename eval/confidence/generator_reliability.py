"""Probe: does weighting each generator by a reliability estimated without labels help selection or confidence?

A generator's reliability in a pool is how often its answer agrees with the vote of the pool's other files over
all the pool's questions (leave-one-out, add-one smoothed); its weight is the log-odds of that (at least 0.05).
On the same fitting and measuring pools as ``fit_confidence.py`` (same seed), it reports:
- the reliability-weighted vote's accuracy against the vote's;
- the vote with ties broken by reliability (instead of the order of the pool's files);
- the confidence model without the reliability-weighted share of the vote's answer (``reliable_share``, which
  the packaged model reads since this probe; :mod:`mscsql.critic.reliability`), with it, and with its margin
  over the runner-up too: accuracy at 80 % coverage over the plain share cross-validated on the fitting pools
  alone (the protocol that chooses the penalty), on the measuring pools and on the database split.
No label is read to estimate a reliability; labels only score the outcome.

    python eval/confidence/generator_reliability.py --data ../shared/data --work runs/confidence \\
        --output eval/results/generator_reliability.json
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fit_confidence as base

from mscsql.critic.confidence import FEATURES
from mscsql.critic.grouping import CandidateResult, result_key
from mscsql.critic.reliability import generator_reliability, reliability_weights, reliable_share

Answers = dict[int, dict[str, Any]]


def pick(pool: list[str], answers: dict[str, Any], weight: dict[str, float], tie: dict[str, float] | None = None
         ) -> str | None:
    """The file whose answer group weighs most (successful results first; ties by ``tie``, then pool order)."""
    mass: dict[Any, float] = defaultdict(float)
    tie_mass: dict[Any, float] = defaultdict(float)
    first: dict[Any, int] = {}
    for position, name in enumerate(pool):
        key = answers.get(name)
        if key is None:
            continue
        mass[key] += weight[name]
        tie_mass[key] += (tie or {}).get(name, 0.0)
        first.setdefault(key, position)
    if not mass:
        return None
    best = min(mass, key=lambda k: (k[0] == "failed", -round(mass[k], 9), -tie_mass[k], first[k]))
    members = [n for n in pool if answers.get(n) == best]
    return max(members, key=lambda n: ((tie or {}).get(n, 0.0), -pool.index(n)))


def selection(pools: list[list[str]], answers: Answers, verdict: dict[tuple[str, int], bool],
              batch_of: Callable[[list[str]], list[tuple[CandidateResult, ...]]]) -> list[dict[str, Any]]:
    """The weighted vote and the vote with ties broken by reliability, against the vote, on each pool
    (``batch_of``: a pool's candidates of every question)."""
    out = []
    for pool in pools:
        rel = generator_reliability(batch_of(pool), pool)
        ones, weight = dict.fromkeys(pool, 1.0), reliability_weights(rel)
        right = {"vote": 0, "weighted": 0, "tie_by_reliability": 0}
        for index, found in answers.items():
            for name, chosen in (("vote", pick(pool, found, ones)), ("weighted", pick(pool, found, weight)),
                                 ("tie_by_reliability", pick(pool, found, ones, rel))):
                right[name] += bool(chosen and verdict.get((chosen, index)))
        n = len(answers)
        out.append({"pool": pool, "reliability": {k: round(v, 3) for k, v in rel.items()},
                    "vote": round(right["vote"] / n, 4),
                    "weighted_gain": round(100 * (right["weighted"] - right["vote"]) / n, 2),
                    "tie_by_reliability_gain": round(100 * (right["tie_by_reliability"] - right["vote"]) / n, 2)})
    return out


def reliable_margin(choice: Any, weights: dict[str, float]) -> float:
    """The chosen group's reliability-weighted share minus the largest other successful group's (0 without one)."""
    if choice.group is None:
        return 0.0
    chosen = reliable_share(choice.groups, choice.group, weights)
    others = [reliable_share(choice.groups, i, weights) for i, g in enumerate(choice.groups)
              if g.ok and i != choice.group]
    return chosen - max(others) if others else 0.0


def main() -> None:
    args = base.probe_arguments(__doc__, "eval/results/generator_reliability.json")
    files, verdict, items, candidates = base.load_study(args.data, args.work, progress=False)
    questions = {i.index: i for i in items}
    answers: Answers = {index: {s: result_key(c.result) for c in proposed for s in c.sources}
                        for index, proposed in candidates.items()}
    names = [f.name for f in files]
    fitting, measuring = base.draw_pools(names)  # the pools fit_confidence.py draws
    schemas = base.schemas_of(items)

    def rows_of(pool: list[str]) -> list[tuple[dict[str, float], bool]]:
        return base.pool_rows(pool, candidates, questions, verdict, schemas,
                              lambda _item, choice, weights: {"reliable_margin": reliable_margin(choice, weights)})

    def batch_of(pool: list[str]) -> list[tuple[CandidateResult, ...]]:
        return [item.candidates for item in base.pool_items(pool, candidates, questions)]

    fitting_rows = {tuple(p): rows_of(p) for p in fitting}
    measuring_rows = {tuple(p): rows_of(p) for p in measuring}
    databases = [questions[i].db_id for i in candidates]
    confidence = {}
    without = tuple(f for f in FEATURES if f != "reliable_share")
    for label, used in (("without reliable_share", without), ("packaged features (with reliable_share)", FEATURES),
                        ("+ reliable_margin", (*FEATURES, "reliable_margin"))):
        found = base.variant_report(used, without, fitting_rows, measuring_rows, databases)
        confidence[label] = {k: v for k, v in found.items() if k != "weights"}
    selected = {"measuring_pools": selection(measuring, answers, verdict, batch_of),
                "fitting_pools": selection(fitting, answers, verdict, batch_of)}
    for group, found in list(selected.items()):
        for key in ("weighted_gain", "tie_by_reliability_gain"):
            selected[f"{group}_{key}"] = base.summarise([p[key] for p in found])
    base.write_probe_record(args, __file__, {"confidence": confidence, "selection": selected})
    for label, found in confidence.items():
        print(f"confidence {label:40s} cross-validated {found['cross_validated_gain_at_80']} "
              f"measured {found['gain_at_80_measured_pools']}  split "
              f"{found['gain_at_80_database_split']}")
    for group in ("measuring_pools", "fitting_pools"):
        print(f"selection on {group}: weighted vote {selected[f'{group}_weighted_gain']}, ties by reliability "
              f"{selected[f'{group}_tie_by_reliability_gain']}")


if __name__ == "__main__":
    main()
