"""Which features and which penalty for the exactly fitted critic head: cross-validation on the tuning data alone.

Reads a critic dataset built from the tuning pools (``mscsql train data critic``, as
eval/critic/selection_holdout.py builds it in ``WORK/data``), splits its databases into ``--folds`` folds (sorted by
name, every ``folds``-th one), fits the head (:func:`mscsql.training.head_fit.fit_head_exactly`) on the other folds
for every feature set and penalty, and counts on the held-out fold how many more questions the head's choice gets
right than the vote's. Nothing of the measured pools is read: the setting with the largest count is the one
configs/train/critic_encoder_intent.yaml uses. Results go to ``--output`` and a table is printed.

    python eval/critic/head_penalty_cv.py --dataset runs/selection-holdout/data
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from datasets import concatenate_datasets

from mscsql.critic.encoder import EncoderCritic, EncoderCriticConfig
from mscsql.training.dataset_io import read_dataset
from mscsql.training.encoder_critic import Question, questions_of, vote_right
from mscsql.training.head_fit import fit_head_exactly

log = logging.getLogger("head_penalty_cv")
#: the feature sets compared (each with the share of samples and the priority flag)
FEATURE_SETS = {
    "checks": {"answer_checks": True},
    "checks+graded": {"answer_checks": True, "graded_agreement": True},
    "checks+intent": {"answer_checks": True, "intent_features": True},
    "checks+graded+intent": {"answer_checks": True, "graded_agreement": True, "intent_features": True},
}
PENALTIES = (0.001, 0.01, 0.03, 0.1)


def held_out_gain(questions: list[tuple[str, Question]], features: dict[str, bool], l2: float, folds: int) -> int:
    """Questions the fitted head gets right and the vote wrong, minus the reverse, summed over the held-out folds."""
    databases = sorted({db for db, _q in questions})
    gain = 0
    for fold in range(folds):
        held = {db for i, db in enumerate(databases) if i % folds == fold}
        settings = EncoderCriticConfig(text_feature=False, agreement_feature=True, priority_feature=True, **features)
        critic = EncoderCritic.from_pretrained(config=settings, for_training=True)
        fit_head_exactly(critic, [q for db, q in questions if db not in held], l2)
        for q in (q for db, q in questions if db in held):
            scores = critic.score_pairs(q.pairs())
            best = max(range(len(scores)), key=lambda i, s=scores: (s[i], q.shares[i], -i))
            gain += q.labels[best] - int(vote_right(q))
    return gain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=Path("runs/selection-holdout/data"))
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--output", type=Path, default=Path("eval/results/head_penalty_cv.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    data, _card = read_dataset(str(args.dataset), "critic")
    rows = concatenate_datasets([data[name] for name in data])
    questions = [(db, q) for db in sorted(set(rows["db_id"]))
                 for q in questions_of(rows.filter(lambda r, d=db: r["db_id"] == d))]
    found = {name: {str(l2): held_out_gain(questions, features, l2, args.folds) for l2 in PENALTIES}
             for name, features in FEATURE_SETS.items()}
    best = max(((n, l2) for n in found for l2 in found[n]), key=lambda k: found[k[0]][k[1]])
    record = {"command": f"python eval/critic/head_penalty_cv.py --dataset {args.dataset} --folds {args.folds}",
              "questions": len(questions), "folds": args.folds,
              "gain_over_vote_in_held_out_folds": found, "chosen": {"features": best[0], "head_l2": float(best[1])}}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print("| features | " + " | ".join(f"l2 {p}" for p in PENALTIES) + " |")
    print("|---|" + "---:|" * len(PENALTIES))
    for name, gains in found.items():
        print(f"| {name} | " + " | ".join(f"{g:+d}" for g in gains.values()) + " |")
    print(f"chosen: {best[0]}, head_l2 {best[1]} ({len(questions)} questions, {args.folds} database folds)")


if __name__ == "__main__":
    main()
