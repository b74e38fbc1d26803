"""Benchmark: how long ``mscsql ask`` takes to say that the configured generators cannot run, this tree against
a baseline commit (which loaded the sentence encoder and the value index first).

Both sides run the default config (three vLLM generators) on the demo database on a machine without vLLM, a
few times each, alternating; the script prints the median seconds, the ratio, and checks that both fail with a
message naming the first generator.

    python eval/bench/fail_fast.py --baseline 8d25a28 [--repeat 3] [--output eval/results/fail_fast.json]
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from benchlib import against_baseline_arguments, baseline_tree, machine, run_in_tree, write_figures

REPO = Path(__file__).resolve().parents[2]
ASK = ("import sys\nfrom mscsql.cli import run\nsys.argv = ['mscsql', 'ask', '--db', sys.argv[1], "
       "'How many customers are there?'] + sys.argv[2:]\nrun()\n")
DEMO = "import sys\nfrom mscsql.demo import create_demo\ncreate_demo(sys.argv[1])\n"


def main() -> None:
    args = against_baseline_arguments(__doc__, baseline="8d25a28", repeat=3, data_dir=False)
    with tempfile.TemporaryDirectory() as scratch, baseline_tree(REPO, args.baseline) as baseline:
        demo = Path(scratch) / "demo.sqlite"
        assert run_in_tree(REPO, DEMO, str(demo)).returncode == 0
        sides = {"baseline": (baseline, ["--config", str(baseline / "configs" / "default.yaml")]),
                 "current": (REPO, [])}
        times: dict[str, list[float]] = {side: [] for side in sides}
        for _ in range(args.repeat):
            for side, (tree, extra) in sides.items():
                started = time.perf_counter()
                done = run_in_tree(tree, ASK, str(demo), *extra, cwd=Path(scratch))
                times[side].append(time.perf_counter() - started)
                assert done.returncode == 2 and "qwen2.5-coder-1.5b" in done.stderr, (side, done.stderr[-500:])
    medians = {side: statistics.median(values) for side, values in times.items()}
    ratio = medians["baseline"] / medians["current"]
    print(f"baseline {medians['baseline']:.2f}s   current {medians['current']:.2f}s   {ratio:.1f}x sooner")
    write_figures(args.output, {"machine": machine(), "baseline": args.baseline, "repeat": args.repeat,
                                "median_s": medians, "sooner": round(ratio, 2)})


if __name__ == "__main__":
    main()
