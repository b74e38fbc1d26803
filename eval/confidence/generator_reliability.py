"""Probe: does weighting each generator by a reliability estimated without labels help selection or confidence?

A generator's reliability in a pool is how often its answer agrees with the vote of the pool's other files over
all the pool's questions (leave-one-out, add-one smoothed); its weight is the log-odds of that (at least 0.05).
On the same fitting and measuring pools as ``fit_confidence.py`` (same seed), it reports:
- the reliability-weighted vote's accuracy against the vote's;
- the vote with ties broken by reliability (instead of the order of the pool's files);
- the confidence model refitted with the reliability-weighted share of the vote's answer as one more feature
  (and with its margin over the runner-up), against the packaged features: accuracy at 80 % coverage over the
  plain share on the measuring pools and on the database split.
No label is read to estimate a reliability; labels only score the outcome.

    python eval/confidence/generator_reliability.py --data ../shared/data --work runs/confidence \\
        --output eval/results/generator_reliability.json
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fit_confidence as base

from mscsql.critic.confidence import FEATURES, fit
from mscsql.critic.grouping import result_key
from mscsql.db import connect

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


def reliability(pool: list[str], answers: Answers) -> dict[str, float]:
    out = {}
    for name in pool:
        others = [n for n in pool if n != name]
        agree = seen = 0
        for found in answers.values():
            chosen = pick(others, found, dict.fromkeys(others, 1.0))
            if chosen is None or found[chosen][0] == "failed":
                continue
            seen += 1
            agree += found.get(name) == found[chosen]
        out[name] = (agree + 1) / (seen + 2)
    return out


def weights(rel: dict[str, float]) -> dict[str, float]:
    return {n: max(math.log(r / (1 - r)), 0.05) for n, r in rel.items()}


def selection(pools: list[list[str]], answers: Answers, verdict: dict[tuple[str, int], bool]) -> list[dict[str, Any]]:
    out = []
    for pool in pools:
        rel = reliability(pool, answers)
        ones, weight = dict.fromkeys(pool, 1.0), weights(rel)
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


def with_reliability(rows: list[tuple[dict[str, float], bool]], pool: list[str], answers: Answers
                     ) -> list[tuple[dict[str, float], bool]]:
    """The vote's rows with the reliability-weighted share of the chosen answer and its margin added."""
    weight = weights(reliability(pool, answers))
    out = []
    for (row, right), found in zip(rows, answers.values(), strict=True):
        chosen = pick(pool, found, dict.fromkeys(pool, 1.0))
        total = sum(weight[n] for n in pool if n in found)
        mass: dict[Any, float] = defaultdict(float)
        for n in pool:
            if n in found:
                mass[found[n]] += weight[n] / total
        share = mass.get(found[chosen], 0.0) if chosen else 0.0
        other = max((m for k, m in mass.items() if chosen is None or k != found[chosen]), default=0.0)
        out.append(({**row, "reliable_share": share, "reliable_margin": share - other}, right))
    return out


def summarise(gains: list[float]) -> dict[str, Any]:
    return {"mean": round(sum(gains) / len(gains), 2), "min": round(min(gains), 2),
            "at_least_2": sum(g >= 2 for g in gains), "pools": len(gains)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("runs/confidence"))
    parser.add_argument("--output", type=Path, default=Path("eval/results/generator_reliability.json"))
    args = parser.parse_args()
    files, verdict, items, candidates = base.load_study(args.data, args.work, progress=False)
    questions = {i.index: i for i in items}
    answers: Answers = {index: {s: result_key(c.result) for c in proposed for s in c.sources}
                        for index, proposed in candidates.items()}
    names = [f.name for f in files]
    rng = random.Random(0)  # the pools fit_confidence.py draws
    fitting = base.make_pools(names, tuple(f for f in base.FAMILIES if f not in base.MEASURED), base.SIZES, 8, rng)
    measuring = base.make_pools(names, base.MEASURED, (3, 4, 5), 4, rng)
    schemas = {}
    for item in items:
        if item.db_id not in schemas:
            with connect(item.database) as db:
                schemas[item.db_id] = db.schema()

    def rows_of(pool: list[str]) -> list[tuple[dict[str, float], bool]]:
        return with_reliability(base.pool_rows(pool, candidates, questions, verdict, schemas), pool,
                                {i: answers[i] for i in candidates})

    fitting_rows = {tuple(p): rows_of(p) for p in fitting}
    measuring_rows = {tuple(p): rows_of(p) for p in measuring}
    databases = [questions[i].db_id for i in candidates]
    halves = base._halves(databases)
    confidence = {}
    for label, extra in (("packaged features", ()), ("+ reliable_share", ("reliable_share",)),
                         ("+ reliable_share, reliable_margin", ("reliable_share", "reliable_margin"))):
        names_used = tuple(FEATURES) + extra
        rows = [r for found in fitting_rows.values() for r in found]
        model = fit([f for f, _ in rows], [ok for _, ok in rows], names=names_used)
        measured = [100 * base.compare(found, model)["gain_over_share"]["0.8"] for found in measuring_rows.values()]
        split = []
        for fit_half, measure_half in (("even", "odd"), ("odd", "even")):
            rows = [r for found in fitting_rows.values() for r, db in zip(found, databases, strict=True)
                    if db in halves[fit_half]]
            model = fit([f for f, _ in rows], [ok for _, ok in rows], names=names_used)
            split += [100 * base.compare([r for r, db in zip(found, databases, strict=True)
                                          if db in halves[measure_half]], model)["gain_over_share"]["0.8"]
                      for found in measuring_rows.values()]
        confidence[label] = {"gain_at_80_measured_pools": summarise(measured),
                             "gain_at_80_database_split": summarise(split), "per_pool": [round(g, 2) for g in measured]}
    selected = {"measuring_pools": selection(measuring, answers, verdict),
                "fitting_pools": selection(fitting, answers, verdict)}
    for group, found in list(selected.items()):
        for key in ("weighted_gain", "tie_by_reliability_gain"):
            selected[f"{group}_{key}"] = summarise([p[key] for p in found])
    result = {"command": "python eval/confidence/generator_reliability.py --data ../shared/data --work runs/confidence "
                         f"--output {args.output}", "confidence": confidence, "selection": selected}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    for label, found in confidence.items():
        print(f"confidence {label:36s} measured {found['gain_at_80_measured_pools']}  split "
              f"{found['gain_at_80_database_split']}")
    for group in ("measuring_pools", "fitting_pools"):
        print(f"selection on {group}: weighted vote {selected[f'{group}_weighted_gain']}, ties by reliability "
              f"{selected[f'{group}_tie_by_reliability_gain']}")


if __name__ == "__main__":
    main()
