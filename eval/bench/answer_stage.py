"""Benchmark: what the answer stage costs with the confidence's tie probe, this tree against a baseline commit.

The confidence reads whether a chosen query's one top row is tied (``mscsql.critic.ties``), which runs one more
read-only query for each chosen ``ORDER BY ... LIMIT 1``. This script runs the stages after generation on Spider
dev for a pool of three published prediction files (every candidate executed, the vote, then each answer's
confidence features, with the tie probe where the tree has it) with this tree's ``mscsql`` and with a baseline
commit's (checked out with ``git worktree``), alternating rounds, and prints the median seconds of each, their
ratio, and the probe's own share of this tree's time.

    python eval/bench/answer_stage.py --data-dir ../shared/data --baseline 8c35f08 \\
        [--repeat 3] [--output eval/results/answer_stage.json]
"""

from __future__ import annotations

import json
import logging
import statistics
from pathlib import Path

from benchlib import against_baseline_arguments, baseline_tree, machine, run_in_tree, write_figures

log = logging.getLogger("bench.answer_stage")
REPO = Path(__file__).resolve().parents[2]
POOL = ("NL2SQL360__deepseek_coder_7b_7000_train_samples.sql", "NL2SQL360__llama3_8b_7000_train_samples.sql",
        "NL2SQL360__resdsql_text2sql_3B_7000_train_samples.sql")

WORKLOAD = r'''
import json, logging, sys, time
from itertools import groupby
from pathlib import Path
import mscsql
import mscsql.stages as stages
from mscsql.benchmarks.loaders import load_benchmark
from mscsql.benchmarks.predictions import load_prediction_files
from mscsql.db import connect
from mscsql.evaluation.generate import benchmark_question
from mscsql.evaluation.select import run_candidates
logging.disable(logging.WARNING)
data_dir, names = Path(sys.argv[1]), sys.argv[2].split(",")
bench = load_benchmark("spider-dev", data_dir / "spider", allow_missing_db=True)
files = load_prediction_files([data_dir / "predictions" / "spider_dev" / n for n in names], bench)
items = sorted((i for i in bench.items if i.database), key=lambda i: (i.database, i.index))
probing = hasattr(stages, "top_ties")
total = probe = 0.0
tied = answered = 0
for _db, group in groupby(items, key=lambda i: i.database):
    batch = list(group)
    started = time.perf_counter()
    with connect(batch[0].database) as db:
        schema = db.schema()
        ran = run_candidates(db, [i.index for i in batch], files, workers=2, timeout_s=30.0)
        executed = [ran[i.index] for i in batch]
        questions = [benchmark_question(i) for i in batch]
        choices = stages.choose(stages.VoteSelector(), questions, [""] * len(batch), executed, [f.name for f in files])
        ties = [0.0] * len(batch)
        if probing:
            before = time.perf_counter()
            ties = stages.top_ties(db, choices, limits=stages.Limits(timeout_s=30.0, max_rows=2), workers=2)
            probe += time.perf_counter() - before
    for question, candidates, choice, tie in zip(questions, executed, choices, ties):
        extra = {"top_tied": tie} if probing else {}
        stages.confidence_features(question.text, question.evidence, candidates, choice, schema, **extra)
        answered += 1
        tied += tie > 0
    total += time.perf_counter() - started
print(json.dumps({"seconds": total, "probe_seconds": probe, "answers": answered, "tied": tied,
                  "module": mscsql.__file__}))
'''


def _run(tree: Path, data_dir: Path) -> dict:
    done = run_in_tree(tree, WORKLOAD, str(data_dir), ",".join(POOL))
    if done.returncode != 0:
        raise RuntimeError(f"the workload failed in {tree}: {done.stderr.strip().splitlines()[-3:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    args = against_baseline_arguments(__doc__, baseline="8c35f08", repeat=3)  # 8c35f08: before the tie probe
    data_dir = args.data_dir.resolve()
    runs: dict[str, list[dict]] = {"this tree": [], "baseline": []}
    with baseline_tree(REPO, args.baseline) as baseline:
        trees = {"this tree": REPO, "baseline": baseline}
        for round_ in range(args.repeat):
            for label in (("this tree", "baseline") if round_ % 2 == 0 else ("baseline", "this tree")):
                runs[label].append(_run(trees[label], data_dir))
                log.info("round %d, %s: %.2f s", round_ + 1, label, runs[label][-1]["seconds"])
    median = {label: statistics.median(r["seconds"] for r in found) for label, found in runs.items()}
    probe = statistics.median(r["probe_seconds"] for r in runs["this tree"])
    figures = {"machine": machine(), "baseline": args.baseline, "repeat": args.repeat, "pool": list(POOL),
               "answers": runs["this tree"][0]["answers"], "tied_answers": runs["this tree"][0]["tied"],
               "median_seconds": {k: round(v, 3) for k, v in median.items()},
               "ratio_this_tree_to_baseline": round(median["this tree"] / median["baseline"], 3),
               "probe_seconds": round(probe, 3), "probe_share_of_this_tree": round(probe / median["this tree"], 3)}
    print(f"answer stage on {figures['answers']} Spider dev questions ({figures['tied_answers']} tied answers): "
          f"this tree {median['this tree']:.2f} s, baseline {median['baseline']:.2f} s, ratio "
          f"{figures['ratio_this_tree_to_baseline']:.3f}; the tie probe {probe:.2f} s "
          f"({100 * figures['probe_share_of_this_tree']:.1f} % of this tree's)")
    write_figures(args.output, figures)


if __name__ == "__main__":
    main()
