"""How the packaged confidence model, fitted on pools of one sample per generator, carries over to generators
that each propose several samples (the default ensemble: three generators, eight samples each).

No generator here samples, so the published checkpoints of one fine-tuning family stand in for one
generator's samples: several DeepSeek-Coder-7B checkpoints (500 to 7000 training steps, two series) are one
generator's samples, several Llama 3 8B checkpoints another's, and CodeS (1B, 3B) or Graphix-PICARD (its two
copies) a third's. These are the four families the model was never fitted on. Samples of one generator are
alike, as samples of one model at a temperature are, and the generator share (how many generators agree)
now differs from the sample share, which it never did in the fitting pools.

Pools: 6 each of three generators with 2 samples each (DeepSeek, Llama 3, and CodeS or Graphix), and of two
generators (DeepSeek, Llama 3) with 4 and with 8 samples each. In each the vote over all samples chooses;
the model is compared with the plain share of samples in the chosen group (gain in accuracy at 80 % coverage,
AUROC, calibration error), with the generators' reliabilities estimated over the pool's questions (as
``mscsql select`` does) and with every generator weighing the same (a question asked with none configured).

Refitting on your own runs of many samples, as ``mscsql eval calibrate`` does on ``mscsql eval run`` folders,
is simulated by a model fitted (the packaged penalty per answer) on pools of the same three designs drawn from
the fitting families with enough checkpoints (CodeLlama, Llama 2, StarCoder, RESDSQL; 8 pools per design), and
measured on the same pools as the packaged model.

    python eval/confidence/many_samples.py --data ../shared/data --work runs/confidence \\
        --output eval/results/confidence_many_samples.json
"""

from __future__ import annotations

import random
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fit_confidence as base

from mscsql.critic.base import SelectionItem
from mscsql.critic.confidence import ConfidenceModel, features, fit
from mscsql.critic.grouping import CandidateResult
from mscsql.critic.reliability import estimate_reliability, observed
from mscsql.critic.selectors import VoteSelector

#: (label, {generator: (family, samples)}), each drawn 6 times
DESIGNS = (
    ("3 generators x 2 samples", {"deepseek": ("deepseek-coder", 2), "llama3": ("llama3", 2), "third": ("", 2)}),
    ("2 generators x 4 samples", {"deepseek": ("deepseek-coder", 4), "llama3": ("llama3", 4)}),
    ("2 generators x 8 samples", {"deepseek": ("deepseek-coder", 8), "llama3": ("llama3", 8)}),
)
DRAWS = 6
#: fitting families with enough published checkpoints to stand in for several samples
FITTING_MANY = ("codellama", "llama2", "starcoder", "resdsql")
FITTING_DRAWS = 8


def draw(files: list[str], design: dict[str, tuple[str, int]], rng: random.Random) -> dict[str, str]:
    """file -> the generator it is a sample of (the third generator: CodeS or Graphix, both files)."""
    by_family = base.files_by_family(files)
    pool = {}
    for generator, (family, samples) in design.items():
        family = family or rng.choice(["codes", "graphix"])
        for name in rng.sample(by_family[family], samples):
            pool[name] = generator
    return pool


def draw_fitting(files: list[str], design: dict[str, tuple[str, int]], rng: random.Random) -> dict[str, str]:
    """A pool of the same shape as ``design`` (generators, samples each) from :data:`FITTING_MANY`."""
    by_family = base.files_by_family(files)
    families = rng.sample(FITTING_MANY, len(design))
    pool = {}
    for generator, ((_family, samples), family) in enumerate(zip(design.values(), families, strict=True)):
        for name in rng.sample(by_family[family], samples):
            pool[name] = f"g{generator}"
    return pool


def pool_rows(pool: dict[str, str], candidates: dict[int, list[CandidateResult]], questions: dict[int, Any],
              verdict: dict[tuple[str, int], bool], schemas: dict[str, Any], *, reliability: bool
              ) -> list[tuple[dict[str, float], bool]]:
    """(features, right) of the vote's answer to every question, each file's sample counted for its generator."""
    order = list(dict.fromkeys(pool.values()))
    items, proposer = [], []
    for index, proposed in candidates.items():
        kept, files = [], []
        for c in proposed:
            own = [s for s in c.sources if s in pool]
            if own:
                kept.append(CandidateResult(c.sql, tuple(sorted((pool[s] for s in own), key=order.index)), c.result))
                files.append(own[0])
        items.append(SelectionItem(questions[index].question, questions[index].evidence, "", tuple(kept),
                                   tuple(order)))
        proposer.append(files)
    weights = estimate_reliability((observed(i.candidates) for i in items), order).weights() if reliability else {}
    rows = []
    for item, files, index, choice in zip(items, proposer, candidates, VoteSelector().choose(items), strict=True):
        position = next((k for k, c in enumerate(item.candidates) if c is choice.candidate), None)
        right = position is not None and verdict[(files[position], index)]
        found = features(item.question, item.evidence, item.candidates, choice, schemas[questions[index].db_id],
                         weights, top_tied=base.TIES.of(questions[index], choice))
        rows.append((found, right))
    return rows


def main() -> None:
    args = base.probe_arguments(__doc__, "eval/results/confidence_many_samples.json")
    files, verdict, items, candidates = base.load_study(args.data, args.work, progress=False)
    questions = {i.index: i for i in items}
    schemas = base.schemas_of(items)
    model = ConfidenceModel.load()
    names = [f.name for f in files]
    rng = random.Random(0)
    measuring = {label: [draw(names, design, rng) for _ in range(DRAWS)] for label, design in DESIGNS}
    fitting = [draw_fitting(names, design, rng) for _label, design in DESIGNS for _ in range(FITTING_DRAWS)]
    fit_rows = [r for pool in fitting
                for r in pool_rows(pool, candidates, questions, verdict, schemas, reliability=True)]
    refit = fit([f for f, _ok in fit_rows], [ok for _f, ok in fit_rows])
    found: dict[str, Any] = {}
    for label, _design in DESIGNS:
        pools = measuring[label]
        runs = []
        for pool in pools:
            rows = pool_rows(pool, candidates, questions, verdict, schemas, reliability=True)
            with_weights, refitted = base.compare(rows, model), base.compare(rows, refit)
            alone = base.compare(pool_rows(pool, candidates, questions, verdict, schemas, reliability=False), model)
            runs.append({"pool": pool, "accuracy": with_weights["accuracy"],
                         "share": with_weights["share"], "model": with_weights["model"],
                         "gain_at_80": round(100 * with_weights["gain_over_share"]["0.8"], 2),
                         "gain_at_80_without_reliability": round(100 * alone["gain_over_share"]["0.8"], 2),
                         "refitted_gain_at_80": round(100 * refitted["gain_over_share"]["0.8"], 2),
                         "refitted_model": refitted["model"]})
        found[label] = {
            "gain_at_80": base.summarise([r["gain_at_80"] for r in runs]),
            "gain_at_80_without_reliability": base.summarise([r["gain_at_80_without_reliability"] for r in runs]),
            "refitted_gain_at_80": base.summarise([r["refitted_gain_at_80"] for r in runs]),
            "refitted_auroc_ece": [round(statistics.mean(r["refitted_model"][k] for r in runs), 4)
                                   for k in ("auroc", "ece")],
            "auroc_share_to_model": [round(statistics.mean(r[k]["auroc"] for r in runs), 4)
                                     for k in ("share", "model")],
            "ece_share_to_model": [round(statistics.mean(r[k]["ece"] for r in runs), 4) for k in ("share", "model")],
            "accuracy": round(statistics.mean(r["accuracy"] for r in runs), 4), "pools": runs}
        print(label, {k: v for k, v in found[label].items() if k != "pools"})
    base.write_probe_record(args, __file__, {"refitted_on": {"pools": fitting, "answers": len(fit_rows)},
                                             "designs": found})
    base.TIES.close()


if __name__ == "__main__":
    main()
