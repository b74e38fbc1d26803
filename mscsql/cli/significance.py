"""``mscsql eval compare``: whether two scored runs really differ."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mscsql.cli.app import eval_app, out
from mscsql.fileio import write_json_atomic


@eval_app.command("compare")
def compare(
    run_a: Annotated[Path, typer.Argument(help="the first scored run (mscsql eval score or eval run folder)")],
    run_b: Annotated[Path, typer.Argument(help="the second, on the same questions")],
    file_a: Annotated[str | None, typer.Option(help="the prediction file of A, when A scored several")] = None,
    file_b: Annotated[str | None, typer.Option(help="the prediction file of B, when B scored several")] = None,
    output: Annotated[Path, typer.Option(help="where the comparison is written (JSON)")] = Path("compare.json"),
    resamples: Annotated[int, typer.Option(min=100, max=1_000_000, help="bootstrap resamples")] = 10_000,
    seed: Annotated[int, typer.Option(help="the bootstrap's seed")] = 0,
) -> None:
    """B's accuracy against A's on the same questions: the difference with a paired bootstrap 95 % interval and
    the exact McNemar test, overall and per difficulty."""
    from mscsql.evaluation.compare import compare_runs, read_verdicts

    result = compare_runs(read_verdicts(run_a, file_a), read_verdicts(run_b, file_b), resamples=resamples, seed=seed)
    write_json_atomic(output, result)
    out.print(f"A: {result['a']['file']} ({run_a})\nB: {result['b']['file']} ({run_b})", highlight=False,
              markup=False)
    for level, found in result.items():
        if isinstance(found, dict) and "mcnemar_p" in found:
            out.print(_line(level, found), highlight=False)
    out.print(f"written to {output}", highlight=False, markup=False)


def _line(level: str, found: dict[str, Any]) -> str:
    low, high = found["interval_95"]
    return (f"{level:>10}: {found['questions']:5d} questions  A {100 * found['accuracy_a']:6.2f}%  "
            f"B {100 * found['accuracy_b']:6.2f}%  B-A {100 * found['difference']:+6.2f} "
            f"[{100 * low:+.2f}, {100 * high:+.2f}]  only A {found['only_a']}, only B {found['only_b']}, "
            f"McNemar p = {found['mcnemar_p']:.4g}")
