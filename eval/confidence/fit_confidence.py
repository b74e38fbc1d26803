"""Fit the packaged confidence model and measure it on pools of systems it was not fitted on.

Candidate pools are sets of published Spider dev prediction files (one file = one generator's one sample per
question). The files are sorted into families (one base model or system and its variants); pools for fitting
draw on some families, pools for measuring on the others only, so no system of a measured pool was seen in
fitting. Pools have 2 to 6 files from different families. In each pool the vote chooses, and every answer gets
its confidence features (mscsql.critic.confidence) and its verdict (the harness's scorer). The model is a
logistic regression fitted on all fitting pools together, with the strength of its L2 penalty chosen by
cross-validation on the fitting pools alone (each fitting family held out in turn, fitted in one half of the
databases, measured in the other); on each measuring pool it is compared with the
baseline, the plain share of samples in the chosen group: AUROC, accuracy at 50/80/90 % coverage (ties shared
out), expected calibration error.

Fitting and measuring pools answer the same Spider dev questions (with different systems), so a model could
learn which questions are hard rather than what makes an answer doubtful. The database split measures that:
fitted on the fitting pools' answers in half of the databases, measured on the measuring pools' answers in the
other half (both ways round), no question is seen in both.

Every statement of every file runs once (read-only) and each file is scored once; a pool's candidates are the
statements its files propose, exactly as ``mscsql select`` builds them (one pool is checked against
``mscsql select`` at the end).

    python eval/confidence/fit_confidence.py --data ../shared/data --work runs/confidence \\
        --model mscsql/critic/confidence.json --output eval/results/confidence.json
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import platform
import random
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from mscsql.benchmarks.loaders import load_benchmark
from mscsql.benchmarks.predictions import PredictionFile, load_prediction_files
from mscsql.config import default_cache_dir
from mscsql.critic.base import Choice, SelectionItem
from mscsql.critic.confidence import FEATURES, PENALTY_PER_ANSWER, ConfidenceModel, features, fit
from mscsql.critic.grouping import CandidateResult
from mscsql.critic.reliability import estimate_reliability, observed
from mscsql.critic.selectors import VoteSelector
from mscsql.critic.ties import top_tied
from mscsql.db import connect
from mscsql.evaluation.cache import GoldCache
from mscsql.evaluation.confidence import confidence_report
from mscsql.evaluation.runner import ScoreRun, score
from mscsql.evaluation.scorers import get_scorer
from mscsql.evaluation.select import run_candidates

log = logging.getLogger("fit_confidence")

#: family -> file-name pattern. DAIL-SQL's published ``graphix_result.sql`` is Graphix-PICARD's output (the same
#: statements as NL2SQL360's ``Graphix_PICARD_3B.sql`` on every question), so it is graphix, not a system of its own
FAMILIES = {
    "deepseek-coder": r"(?i)deepseek",
    "llama3": r"(?i)llama3|llama-3",
    "codes": r"CodeS",
    "graphix": r"(?i)graphix",
    "codellama": r"(?i)codellama",
    "starcoder": r"(?i)starcoder",
    "llama2": r"(?i)llama2|llama-2",
    "resdsql": r"(?i)resdsql",
    "c3": r"(?i)c3sql|c3_sql",
    "din-sql": r"(?i)din-?sql",
    "codex": r"CodeX",
}
#: families whose files only ever appear in measuring pools
MEASURED = ("deepseek-coder", "llama3", "codes", "graphix")
SIZES = (2, 3, 4, 5, 6)
#: the measuring pools: 6 each of 3 and 4 files (one per measured family)
MEASURE_SIZES, MEASURE_PER_SIZE = (3, 4), 6


def family(name: str) -> str:
    return next((f for f, pattern in FAMILIES.items() if re.search(pattern, name)), "other")


def draw_pools(files: list[str], seed: int = 0, per_size: int = 8) -> tuple[list[list[str]], list[list[str]]]:
    """The fitting pools (``per_size`` of each of :data:`SIZES`, unmeasured families) and the measuring pools,
    drawn from ``seed`` in that order."""
    rng = random.Random(seed)
    fitting = make_pools(files, tuple(f for f in FAMILIES if f not in MEASURED), SIZES, per_size, rng)
    return fitting, make_pools(files, MEASURED, MEASURE_SIZES, MEASURE_PER_SIZE, rng)


def require_distinct_systems(pools: list[list[str]], folder: Path) -> None:
    """Stop when a pool holds two files whose statements are the same on every line (one system published
    twice would vote twice)."""
    text = {name: (folder / name).read_bytes() for pool in pools for name in pool}
    for pool in pools:
        twins = [(a, b) for i, a in enumerate(pool) for b in pool[i + 1:] if text[a] == text[b]]
        if twins:
            raise SystemExit(f"pool {pool} holds the same predictions twice: {twins[0]}; give them one family")


def make_pools(files: list[str], families: tuple[str, ...], sizes: tuple[int, ...], per_size: int,
               rng: random.Random) -> list[list[str]]:
    """Pools of files from distinct families among ``families`` (each file at most once per size)."""
    by_family = {f: names for f, names in files_by_family(files).items() if f in families}
    pools = []
    for size in sizes:
        if size > len(by_family):
            continue
        for _ in range(per_size):
            chosen = rng.sample(sorted(by_family), size)
            pools.append([rng.choice(sorted(by_family[f])) for f in chosen])
    return pools


def pool_items(pool: list[str], candidates: dict[int, list[CandidateResult]], questions: dict[int, Any]
               ) -> list[SelectionItem]:
    """Every question's selection item (in ``candidates``' order), with the pool's files as the generators."""
    order = {name: i for i, name in enumerate(pool)}
    items = []
    for index, proposed in candidates.items():
        kept = []
        for c in proposed:
            sources = tuple(sorted((s for s in c.sources if s in order), key=order.__getitem__))
            if sources:
                kept.append(CandidateResult(c.sql, sources, c.result, c.logprob))
        kept.sort(key=lambda c: order[c.sources[0]])  # in the order the pool's files propose them, as select does
        items.append(SelectionItem(questions[index].question, questions[index].evidence, "", tuple(kept),
                                   tuple(pool)))
    return items


def pool_choices(pool: list[str], candidates: dict[int, list[CandidateResult]], questions: dict[int, Any]
                 ) -> list[tuple[SelectionItem, int, Choice]]:
    """(item, question index, the vote's choice) for every question, with the pool's files as the generators."""
    items = pool_items(pool, candidates, questions)
    return list(zip(items, candidates, VoteSelector().choose(items), strict=True))


class TopTies:
    """Whether a question's chosen query's top row is tied (:func:`mscsql.critic.ties.top_tied`), each (question,
    statement) probed once on its database, read-only; the databases stay open until :meth:`close`."""

    def __init__(self) -> None:
        self.found: dict[tuple[int, str], float] = {}
        self.open: dict[str, Any] = {}

    def database(self, question: Any) -> Any:
        """``question``'s database, opened once."""
        if question.database not in self.open:
            self.open[question.database] = connect(question.database)
        return self.open[question.database]

    def __call__(self, question: Any, sql: str) -> float:
        key = (question.index, sql)
        if key not in self.found:
            self.found[key] = top_tied(self.database(question), sql, 30.0)  # as top_ties runs it
        return self.found[key]

    def of(self, question: Any, choice: Choice) -> float:
        """For the vote's ``choice`` of ``question``: 0 without a successful choice."""
        chosen = choice.candidate
        return self(question, chosen.sql) if chosen is not None and chosen.result.ok else 0.0

    def close(self) -> None:
        for db in self.open.values():
            db.close()
        self.open.clear()


#: the probes of every pool of this process (pools share most of their chosen statements)
TIES = TopTies()


def pool_rows(pool: list[str], candidates: dict[int, list[CandidateResult]], questions: dict[int, Any],
              verdict: dict[tuple[str, int], bool], schemas: dict[str, Any],
              extra: Callable[[SelectionItem, Choice, dict[str, float]], dict[str, float]] | None = None, *,
              reliability: str = "run") -> list[tuple[dict[str, float], bool]]:
    """(features, right) of the vote's answer to every question, with the pool's files as the generators;
    ``reliability``: how their weights are estimated: "run", over the pool's questions, as ``mscsql select``
    estimates them over its run; "none", all weigh the same, as for a question asked with no reliabilities
    configured; "other-databases", over the pool's questions in the other half of the databases, as
    ``selection.reliability`` gives a pipeline the estimate of an earlier run on other questions. ``extra``: more
    features of an item's choice, given the generators' weights (a probe's)."""
    if reliability not in ("run", "none", "other-databases"):
        raise ValueError(f"reliability must be run, none or other-databases, not {reliability!r}")
    rows = []
    chosen = pool_choices(pool, candidates, questions)
    db_of = {index: questions[index].db_id for _item, index, _choice in chosen}
    halves = _halves(list(db_of.values()))

    def weights_over(kept: Callable[[str], bool]) -> dict[str, float]:
        return estimate_reliability((observed(item.candidates) for item, index, _c in chosen if kept(db_of[index])),
                                    pool).weights()

    every = weights_over(lambda _db: True) if reliability == "run" else {}
    other = ({half: weights_over(lambda db, half=half: db not in halves[half]) for half in halves}
             if reliability == "other-databases" else {})
    for item, index, choice in chosen:
        right = bool(choice.candidate and verdict[(choice.candidate.sources[0], index)])
        schema = schemas[questions[index].db_id]
        half = "even" if db_of[index] in halves["even"] else "odd"
        weights = other[half] if reliability == "other-databases" else every
        found = features(item.question, item.evidence, item.candidates, choice, schema, weights,
                         top_tied=TIES.of(questions[index], choice))
        rows.append(({**found, **extra(item, choice, weights)} if extra else found, right))
    return rows


#: candidate strengths of the L2 penalty, per fitted answer (the penalty is this times the number of answers)
PENALTIES = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1)


def choose_penalty(fitting: dict[tuple[str, ...], list[Any]], databases: list[str],
                   names: tuple[str, ...] = FEATURES) -> dict[str, Any]:
    """The L2 strength that generalises best on the fitting pools alone: for each fitting family, fitted on the
    pools without it in one half of the databases, measured (gain at 80 % coverage over the share) on the pools
    of 3 or more files with it (as the measuring pools have), in the other half. A family in every pool, or in no
    pool of 3 or more files, gives no fold. The measuring pools play no part. ``names``: the features the
    model reads."""
    halves = _halves(databases)
    gains: dict[float, list[float]] = {p: [] for p in PENALTIES}
    families = sorted({family(name) for pool in fitting for name in pool})
    for fit_half, measure_half in (("even", "odd"), ("odd", "even")):
        for held in families:
            rows = [r for pool, found in fitting.items() if held not in map(family, pool)
                    for r, db in zip(found, databases, strict=True) if db in halves[fit_half]]
            tested = [[r for r, db in zip(found, databases, strict=True) if db in halves[measure_half]]
                      for pool, found in fitting.items() if held in map(family, pool) and len(pool) >= 3]
            if not rows or not tested:
                continue
            for penalty in PENALTIES:
                model = fit([f for f, _ok in rows], [ok for _f, ok in rows], names=names,
                            penalty_per_answer=penalty)
                gains[penalty] += [compare(t, model)["gain_over_share"]["0.8"] for t in tested]
    if not gains[PENALTIES[0]]:
        raise SystemExit("no cross-validation fold: draw more fitting pools (--per-size)")
    means = {p: sum(g) / len(g) for p, g in gains.items()}
    best = max(PENALTIES, key=means.__getitem__)
    return {"penalty_per_answer": best, "cross_validated_gain_at_80": {str(p): round(m, 4) for p, m in means.items()}}


def _halves(databases: list[str]) -> dict[str, set[str]]:
    names = sorted(set(databases))
    return {"even": {d for i, d in enumerate(names) if i % 2 == 0}, "odd": {d for i, d in enumerate(names) if i % 2}}


def compare(rows: list[tuple[dict[str, float], bool]], model: ConfidenceModel) -> dict[str, Any]:
    labels = [ok for _f, ok in rows]
    model_report = confidence_report([model.predict(f) for f, _ok in rows], labels)
    share_report = confidence_report([f["share"] for f, _ok in rows], labels)
    gain = {c: round(model_report["accuracy_at_coverage"][c] - share_report["accuracy_at_coverage"][c], 4)
            for c in ("0.5", "0.8", "0.9")}
    return {"questions": len(rows), "accuracy": round(sum(labels) / len(labels), 4), "model": model_report,
            "share": share_report, "gain_over_share": gain}


def wrong_kept(rows: list[tuple[dict[str, float], bool]], indexes: list[int], model: ConfidenceModel,
               missed: set[int]) -> dict[str, Any]:
    """The wrong answers among the model's most confident 80 % of ``rows`` (the answers to ``indexes``): how many,
    how many of them answer a question in ``missed`` (one that nearly every published system gets wrong), and the
    gain over the share at 80 % coverage if only those stayed (what a confidence blind to the reference SQL could
    hope for at best)."""
    confidence = [model.predict(f) for f, _ok in rows]
    kept = sorted(range(len(rows)), key=lambda k: -confidence[k])[: int(0.8 * len(rows))]
    wrong = [k for k in kept if not rows[k][1]]
    hopeless = sum(indexes[k] in missed for k in wrong)
    share = compare(rows, model)["share"]["accuracy_at_coverage"]["0.8"]
    return {"wrong_kept_at_80": len(wrong), "of_them_on_questions_nearly_every_system_misses": hopeless,
            "gain_at_80_if_only_those_stayed": round(1 - hopeless / len(kept) - share, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("runs/confidence"))
    parser.add_argument("--model", type=Path, default=Path("mscsql/critic/confidence.json"))
    parser.add_argument("--output", type=Path, default=Path("eval/results/confidence.json"))
    parser.add_argument("--per-size", type=int, default=8, help="fitting pools per pool size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.perf_counter()
    spider = args.data / "spider"
    files, verdict, items, candidates = load_study(args.data, args.work)
    questions = {i.index: i for i in items}
    names = [f.name for f in files]
    fitting, measuring = draw_pools(names, args.seed, args.per_size)
    require_distinct_systems(fitting + measuring, args.data / "predictions" / "spider_dev")
    log.info("%d fitting pools, %d measuring pools", len(fitting), len(measuring))
    schemas = schemas_of(items)
    fitting_rows = {tuple(p): pool_rows(p, candidates, questions, verdict, schemas) for p in fitting}
    measuring_rows = {tuple(p): pool_rows(p, candidates, questions, verdict, schemas) for p in measuring}
    fit_rows = [row for rows in fitting_rows.values() for row in rows]
    databases = [questions[i].db_id for i in candidates]
    chosen = choose_penalty(fitting_rows, databases)
    penalty = chosen["penalty_per_answer"]
    log.info("L2 penalty per answer %s (cross-validated on the fitting pools: %s)", penalty,
             chosen["cross_validated_gain_at_80"])
    model = fit([f for f, _ok in fit_rows], [ok for _f, ok in fit_rows], penalty_per_answer=penalty, fitted_on={
        "penalty_per_answer": penalty,
        "benchmark": "spider-dev", "scorer": "spider-exec", "selector": "vote", "pools": len(fitting),
        "pool_sizes": list(SIZES), "answers": len(fit_rows),
        "families": sorted(f for f in FAMILIES if f not in MEASURED),
        "command": "python eval/confidence/fit_confidence.py --data ../shared/data --work runs/confidence"})
    model.save(args.model)
    # questions at least 90 % of the published files get wrong: mostly where the reference SQL itself is doubtful
    missed = {i for i in candidates if sum(not verdict[(n, i)] for n in names) >= 0.9 * len(names)}
    measured = [{"pool": list(pool), "size": len(pool), **compare(rows, model),
                 "wrong": wrong_kept(rows, list(candidates), model, missed)}
                for pool, rows in measuring_rows.items()]
    by_size = {}
    for size in SIZES:
        sized = [row for pool, rows in fitting_rows.items() if len(pool) == size for row in rows]
        if sized:
            by_size[str(size)] = compare(sized, model)
    split = _database_split(fitting_rows, measuring_rows, databases, penalty)
    # a question asked on its own has no batch to estimate reliabilities over: every generator weighs the same,
    # unless the pipeline is given the reliabilities of an earlier run on other questions (selection.reliability)
    alone = [compare(pool_rows(p, candidates, questions, verdict, schemas, reliability="none"), model)
             for p in measuring]
    earlier = [compare(pool_rows(p, candidates, questions, verdict, schemas, reliability="other-databases"), model)
               for p in measuring]
    check = _check_with_select(measuring[0], spider, args.work / "select-check", model, args.model, measured[0])
    result = {"command": "python eval/confidence/fit_confidence.py --data ../shared/data --work runs/confidence "
                         f"--model {args.model} --output {args.output}",
              "seconds": round(time.perf_counter() - started, 1),
              "machine": f"{platform.machine()}, Python {platform.python_version()}",
              "features": list(FEATURES), "penalty": chosen, "model": model.to_dict(),
              "measured_pools": measured, "database_split": split, "fitting_pools_by_size": by_size,
              "measured_pools_without_reliability": {
                  "gain_at_80": summarise([100 * a["gain_over_share"]["0.8"] for a in alone]),
                  "auroc": [a["model"]["auroc"] for a in alone], "ece": [a["model"]["ece"] for a in alone]},
              "measured_pools_with_reliability_of_other_databases": {
                  "gain_at_80": summarise([100 * a["gain_over_share"]["0.8"] for a in earlier]),
                  "auroc": [a["model"]["auroc"] for a in earlier], "ece": [a["model"]["ece"] for a in earlier]},
              "fitting_pools": fitting, "select_check": check,
              "questions_nearly_every_system_misses": {"questions": len(missed), "files": len(names),
                                                       "wrong_in_at_least": 0.9},
              "every_measured_pool_gains_2_points_at_80": all(m["gain_over_share"]["0.8"] >= 0.02 for m in measured)}
    TIES.close()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print("database split, gain at 80 %:", split["gain_at_80"])
    for m in measured:
        share, model_at = m["share"]["accuracy_at_coverage"]["0.8"], m["model"]["accuracy_at_coverage"]["0.8"]
        print(f"{m['size']} files  acc {m['accuracy']:.3f}  AUROC {m['share']['auroc']} -> {m['model']['auroc']}  "
              f"acc@80 {share:.4f} -> {model_at:.4f} ({100 * m['gain_over_share']['0.8']:+.2f})  "
              f"ECE {m['share']['ece']} -> {m['model']['ece']}")


def probe_arguments(doc: str | None, output: str) -> argparse.Namespace:
    """The command line of a probe script: --data, --work (this script's) and --output (``output`` by default)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("runs/confidence"))
    parser.add_argument("--output", type=Path, default=Path(output))
    return parser.parse_args()


@dataclass(frozen=True)
class ProbeStudy:
    """What every probe starts from: the study (:func:`load_study`), the pools this script draws, the schemas."""

    files: list[PredictionFile]
    verdict: dict[tuple[str, int], bool]
    items: list[Any]
    candidates: dict[int, list[CandidateResult]]
    questions: dict[int, Any]
    fitting: list[list[str]]
    measuring: list[list[str]]
    schemas: dict[str, Any]

    @property
    def databases(self) -> list[str]:
        """Each question's database, in the candidates' order (what the database split reads)."""
        return [self.questions[i].db_id for i in self.candidates]


def probe_study(args: argparse.Namespace) -> ProbeStudy:
    """The study and pools of this script's default seed, for a probe run with ``args`` (:func:`probe_arguments`)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    files, verdict, items, candidates = load_study(args.data, args.work, progress=False)
    fitting, measuring = draw_pools([f.name for f in files])
    return ProbeStudy(files, verdict, items, candidates, {i.index: i for i in items}, fitting, measuring,
                      schemas_of(items))


def write_probe_record(args: argparse.Namespace, script: str, content: dict[str, Any]) -> None:
    """Write a probe's record to ``args.output``: the command that made it, then ``content``."""
    command = (f"python eval/confidence/{Path(script).name} --data ../shared/data --work runs/confidence "
               f"--output {args.output}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"command": command, **content}, indent=2) + "\n")


def files_by_family(files: list[str]) -> dict[str, list[str]]:
    """Each family's files, sorted by name."""
    found: dict[str, list[str]] = defaultdict(list)
    for name in sorted(files):
        found[family(name)].append(name)
    return dict(found)


def schemas_of(items: list[Any]) -> dict[str, Any]:
    """Each database's schema (the coverage features read it), read once."""
    schemas = {}
    for item in items:
        if item.db_id not in schemas:
            with connect(item.database) as db:
                schemas[item.db_id] = db.schema()
    return schemas


Rows = dict[tuple[str, ...], list[tuple[dict[str, float], bool]]]


def gains_with(names: tuple[str, ...], fitting: Rows, measuring: Rows, databases: list[str],
               penalty: float = PENALTY_PER_ANSWER) -> dict[str, Any]:
    """A probe's measure of a model reading ``names``: its gain at 80 % coverage over the share, in points, on
    each measuring pool (fitted on every fitting pool) and on the database split (fitted on one half of the
    databases, measured on the other, both ways round), and the model fitted on every fitting pool."""
    rows = [r for found in fitting.values() for r in found]
    model = fit([f for f, _ in rows], [ok for _, ok in rows], names=names, penalty_per_answer=penalty)
    measured = [100 * compare(found, model)["gain_over_share"]["0.8"] for found in measuring.values()]
    split = [100 * m["gain_over_share"]["0.8"] for runs in _split_compares(fitting, measuring, databases, names,
                                                                             penalty).values() for m in runs]
    return {"measured": measured, "split": split, "model": model}


def variant_report(used: tuple[str, ...], base_names: tuple[str, ...], fitting: Rows, measuring: Rows,
                   databases: list[str]) -> dict[str, Any]:
    """A probe's record of a model reading ``used``: its gain at 80 % coverage over the share cross-validated on
    the fitting pools alone (the protocol that chooses), on the measuring pools and on the database split, and the
    weights of the features beyond ``base_names``."""
    cross = choose_penalty(fitting, databases, used)["cross_validated_gain_at_80"]
    found = gains_with(used, fitting, measuring, databases)
    added = [n for n in used if n not in base_names]
    coef = dict(zip(used, found["model"].coef, strict=True))
    return {"cross_validated_gain_at_80": {p: round(100 * g, 2) for p, g in cross.items()},
            "gain_at_80_measured_pools": summarise(found["measured"]),
            "gain_at_80_database_split": summarise(found["split"]),
            "per_pool": [round(g, 2) for g in found["measured"]], "weights": {n: coef[n] for n in added}}


def summarise(gains: list[float]) -> dict[str, Any]:
    """Mean, lowest and how many of ``gains`` (points) reach 2."""
    return {"mean": round(sum(gains) / len(gains), 2), "min": round(min(gains), 2),
            "at_least_2": sum(g >= 2 for g in gains), "pools": len(gains)}


def _database_split(fitting: Rows, measuring: Rows, databases: list[str], penalty: float) -> dict[str, Any]:
    """Fitted on the fitting pools' answers in the databases at even (odd) positions, measured on the measuring
    pools' answers in the others."""
    out: dict[str, Any] = _split_compares(fitting, measuring, databases, FEATURES, penalty)
    gains = [m["gain_over_share"]["0.8"] for runs in out.values() for m in runs]
    out["gain_at_80"] = {"mean": round(sum(gains) / len(gains), 4), "min": round(min(gains), 4),
                         "pools_at_least_2_points": sum(g >= 0.02 for g in gains), "pools": len(gains)}
    return out


def _split_compares(fitting: Rows, measuring: Rows, databases: list[str], names: tuple[str, ...], penalty: float
                    ) -> dict[str, list[dict[str, Any]]]:
    """The database split: for each way round, a model reading ``names`` fitted on the fitting pools' answers in
    one half of the databases, compared (:func:`compare`) on each measuring pool's answers in the other."""
    halves = _halves(databases)
    out = {}
    for fit_half, measure_half in (("even", "odd"), ("odd", "even")):
        rows = [r for found in fitting.values() for r, db in zip(found, databases, strict=True)
                if db in halves[fit_half]]
        model = fit([f for f, _ok in rows], [ok for _f, ok in rows], names=names, penalty_per_answer=penalty)
        out[f"fit_{fit_half}_measure_{measure_half}"] = [
            {"pool": list(pool), **compare([r for r, db in zip(found, databases, strict=True)
                                            if db in halves[measure_half]], model)}
            for pool, found in measuring.items()]
    return out


Study = tuple[list[PredictionFile], dict[tuple[str, int], bool], list[Any], dict[int, list[CandidateResult]]]


def load_study(data: Path, work: Path, *, progress: bool = True) -> Study:
    """Every published Spider dev prediction file, each answer's verdict (file, question index), the questions
    with a database, and every question's candidates from every file (kept in ``work`` for a re-run)."""
    bench = load_benchmark("spider-dev", data / "spider", allow_missing_db=True)
    files: list[PredictionFile] = load_prediction_files(sorted((data / "predictions" / "spider_dev").glob("*.sql")),
                                                        bench)
    cache = GoldCache(default_cache_dir())
    try:
        rows = score(ScoreRun(benchmark=bench, files=files, scorer=get_scorer("spider-exec", bench.dialect),
                              output=work / "scores", cache=cache, workers=2, progress=progress))
    finally:
        cache.close()
    verdict = {(r["prediction_file"], r["index"]): bool(r["correct"]) for r in rows if r["status"] != "skipped"}
    items = [i for i in bench.items if i.database]
    return files, verdict, items, _every_candidate(items, files, work / "candidates.pickle")


def _every_candidate(items: list[Any], files: list[PredictionFile], kept: Path) -> dict[int, list[CandidateResult]]:
    """Every question's candidates from every file (each statement run once), kept in ``kept`` for a re-run."""
    if kept.is_file():
        with kept.open("rb") as source:
            return pickle.load(source)
    candidates: dict[int, list[CandidateResult]] = {}
    for _db, group in groupby(sorted(items, key=lambda i: (i.database, i.index)), key=lambda i: i.database):
        batch = list(group)
        log.info("running every file's statements on %s (%d questions)", batch[0].db_id, len(batch))
        with connect(batch[0].database) as db:
            candidates.update(run_candidates(db, [i.index for i in batch], files, workers=2, timeout_s=30.0))
    kept.parent.mkdir(parents=True, exist_ok=True)
    with kept.open("wb") as sink:
        pickle.dump(candidates, sink)
    return candidates


def _check_with_select(pool: list[str], spider: Path, folder: Path, model: ConfidenceModel, model_path: Path,
                       measured: dict[str, Any]) -> dict[str, Any]:
    """``mscsql select`` on one measuring pool gives the same figures as this script."""
    predictions = spider.parent / "predictions" / "spider_dev"
    shutil.rmtree(folder, ignore_errors=True)  # this script's own scratch folder: a check of other pools may be there
    subprocess.run([sys.executable, "-m", "mscsql", "select", "--benchmark", "spider-dev", "--data-dir", str(spider),
                    "--allow-missing-db", "-s", "vote", "--confidence", str(model_path), "--output", str(folder),
                    *[x for name in pool for x in ("-c", str(predictions / name))]], check=True)
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    same = summary["confidence"]["vote"]["model"] == measured["model"]
    return {"pool": pool, "select_summary": summary["confidence"]["vote"], "same_as_script": same}


if __name__ == "__main__":
    main()
