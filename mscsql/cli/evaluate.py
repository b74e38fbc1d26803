"""``mscsql eval run``, ``mscsql eval score`` and ``mscsql select``: benchmark runs and selection."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mscsql.cli.app import app, eval_app, out
from mscsql.cli.options import (
    AllowMissingDbOpt,
    BenchmarkOpt,
    DataDirOpt,
    DbsOpt,
    DbUrlOpt,
    LimitOpt,
    MaxResultMbOpt,
    MaxValueMbOpt,
    ScorerOpt,
    SetOpt,
    TimeoutOpt,
    WorkersOpt,
)
from mscsql.cli.render import print_confidence, print_reliability, print_selection, say
from mscsql.cli.selection import critic_settings, selection_settings
from mscsql.defaults import default_workers
from mscsql.errors import ConfigError

_MB = 1024 * 1024


def _budget(max_result_mb: float, max_value_mb: float) -> Any:
    from mscsql.types import ResultBudget

    try:
        return ResultBudget(max_result_bytes=int(max_result_mb * _MB), max_value_bytes=max(1, int(max_value_mb * _MB)))
    except ValueError as error:
        raise ConfigError(str(error), hint="--max-value-mb must not be larger than --max-result-mb") from None


@eval_app.command("run")
def eval_run(
    benchmark: BenchmarkOpt,
    data_dir: DataDirOpt,
    config: Annotated[str, typer.Option(help="a pipeline config: a shipped config's name or a YAML file")],
    output: Annotated[Path, typer.Option(help="folder for every stage's outputs and the scores")],
    scorer: ScorerOpt = "spider-exec",
    allow_missing_db: AllowMissingDbOpt = False,
    limit: LimitOpt = None,
    dbs: DbsOpt = None,
    set_: SetOpt = None,
) -> None:
    """Run the whole pipeline over a benchmark and score its answers (resumable, every stage kept)."""
    from mscsql.benchmarks.subsets import load_selected
    from mscsql.config import PipelineConfig, default_cache_dir, load_generation_config
    from mscsql.evaluation.cache import GoldCache
    from mscsql.evaluation.pipeline_run import PipelineRun
    from mscsql.evaluation.scorers import get_scorer
    from mscsql.retrieval.encoder import keep_embeddings_in

    settings = load_generation_config(config, PipelineConfig, set_)
    bench = load_selected(benchmark, data_dir, dbs, allow_missing_db=allow_missing_db)
    keep_embeddings_in(default_cache_dir())  # a run repeated with other settings embeds each question once
    cache = GoldCache(default_cache_dir())
    try:
        summary = PipelineRun(bench, Path(data_dir), settings, output, get_scorer(scorer, bench.dialect), cache,
                              limit=limit).run()
    finally:
        cache.close()
    for f in summary["files"]:
        say(_file_line(f))
    print_confidence("answer", summary["confidence"])
    print_reliability(summary["reliability"])
    say(f"stages in {output}/ (generate/, selections.jsonl, predictions.jsonl, score/, confidence.json, "
        "reliability.json)", to_err=True)


@eval_app.command("score")
def eval_score(
    benchmark: BenchmarkOpt,
    data_dir: DataDirOpt,
    predictions: Annotated[list[Path], typer.Option("--predictions", "-p",
                                                    help="prediction files: --predictions A.sql B.sql ... "
                                                         "(or repeat -p)")],
    output: Annotated[Path, typer.Option(help="folder for results.jsonl, summary.json, report.md, accuracy.png")],
    scorer: ScorerOpt = "spider-exec",
    allow_missing_db: AllowMissingDbOpt = False,
    db_url: DbUrlOpt = None,
    timeout: TimeoutOpt = 30.0,
    workers: WorkersOpt = None,
    max_result_mb: MaxResultMbOpt = 256.0,
    max_value_mb: MaxValueMbOpt = 16.0,
    cache_dir: Annotated[Path | None, typer.Option(help="cache of gold results and hardness levels (default "
                                                        "~/.cache/mscsql)")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="read and write no cache")] = False,
    more_predictions: Annotated[list[Path] | None, typer.Argument(show_default=False, metavar="[FILE...]",
                                                                  help="more prediction files")] = None,
    repeats: Annotated[int, typer.Option(min=1, max=10_000, help="r-ves and ves: timing rounds per right "
                                                                 "prediction (the official tools: 100)")] = 10,
    chart: Annotated[bool, typer.Option(help="draw accuracy.png")] = True,
) -> None:
    """Score prediction files (resumable: run the same command again to continue an interrupted run)."""
    from mscsql.benchmarks.loaders import load_benchmark
    from mscsql.benchmarks.predictions import check_prediction_paths, load_prediction_files
    from mscsql.defaults import default_cache_dir
    from mscsql.evaluation.cache import GoldCache
    from mscsql.evaluation.report import write_reports
    from mscsql.evaluation.runner import ScoreRun, score
    from mscsql.evaluation.scorers import get_scorer

    paths = [*predictions, *(more_predictions or [])]
    get_scorer(scorer)  # an unknown scorer or a missing file is named before the benchmark's own problems
    check_prediction_paths(paths)
    bench = load_benchmark(benchmark, data_dir, allow_missing_db=allow_missing_db, db_url=db_url,
                           cache_dir=cache_dir, use_cache=not no_cache)
    files = load_prediction_files(paths, bench)
    cache = GoldCache(None if no_cache else (cache_dir or default_cache_dir()))
    run_config = ScoreRun(benchmark=bench, files=files, scorer=get_scorer(scorer, bench.dialect, repeats=repeats),
                          output=output,
                          cache=cache, workers=workers or default_workers(), timeout_s=timeout,
                          budget=_budget(max_result_mb, max_value_mb), command="mscsql " + " ".join(sys.argv[1:]))
    try:
        rows = score(run_config)
        summary = write_reports(rows, run_config, chart=chart)
    finally:
        cache.close()
    for f in summary["files"]:
        say(_file_line(f))
    if summary["skipped_questions"]:
        say(f"skipped {summary['skipped_questions']} questions with missing databases: "
            f"{', '.join(summary['missing_databases'])}", to_err=True)
    chart_file = ", accuracy.png" if chart else ""
    say(f"results in {output}/ (results.jsonl, summary.json, report.md{chart_file})", to_err=True)


@eval_app.command("select")
@app.command("select")
def select_command(
    benchmark: BenchmarkOpt,
    data_dir: DataDirOpt,
    candidates: Annotated[list[Path], typer.Option("--candidates", "-c",
                                                   help="candidate files, one per generator, in priority order: "
                                                        "--candidates A.sql B.sql ...")],
    output: Annotated[Path, typer.Option(help="folder for summary.json, selections.jsonl and scores/")],
    selector: Annotated[list[str], typer.Option("--selector", "-s", help="vote, mbr, first-valid, max-logprob, "
                                                                        "encoder or critic; repeat for several")
                        ] = ["vote"],  # noqa: B006
    encoder: Annotated[str | None, typer.Option(help="the encoder selector's checkpoint folder "
                                                     "(default: the packaged checks critic)")] = None,
    critic_model: Annotated[list[str] | None, typer.Option(help="the critic selector's model: a local causal LM "
                                                                "(hf backend); repeat for an ensemble")] = None,
    critic_mode: Annotated[str, typer.Option(help="joint (one prompt shows every group) or pairwise (every pair "
                                                  "of groups in both orders, the most wins chosen)")] = "joint",
    critic_ordering: Annotated[str, typer.Option(help="joint critic: permutations (orders averaged) or by-support "
                                                      "(the most proposed group first)")] = "permutations",
    max_pairs: Annotated[int | None, typer.Option(min=1, help="pairwise critic: the most pairs per question")
                         ] = None,
    scorer: ScorerOpt = "spider-exec",
    allow_missing_db: AllowMissingDbOpt = False,
    timeout: TimeoutOpt = 30.0,
    workers: WorkersOpt = None,
    dbs: DbsOpt = None,
    more_candidates: Annotated[list[Path] | None, typer.Argument(show_default=False, metavar="[FILE...]",
                                                                 help="more candidate files")] = None,
    confidence: Annotated[Path | None, typer.Option(help="a confidence model (from mscsql eval calibrate; default: "
                                                         "the packaged one)")] = None,
) -> None:
    """Select among stored candidates and report each selector's accuracy, the best single file and the
    oracle (every candidate runs read-only; scores are cached and resumable), and how well each selector's
    confidence tells right answers from wrong ones (AUROC, accuracy at 50/80/90 % coverage, calibration
    error) beside the plain share of samples in the chosen group."""
    from mscsql.benchmarks.predictions import load_prediction_files
    from mscsql.config import default_cache_dir
    from mscsql.critic.confidence import ConfidenceModel
    from mscsql.critic.registry import build_selector
    from mscsql.evaluation.cache import GoldCache
    from mscsql.evaluation.scorers import get_scorer
    from mscsql.evaluation.select import SelectRun

    model = ConfidenceModel.load(confidence)
    critic = critic_settings(critic_model, critic_mode, critic_ordering, max_pairs)
    selectors = {name: build_selector(selection_settings(name, encoder, critic)) for name in dict.fromkeys(selector)}
    from mscsql.benchmarks.subsets import load_selected

    bench = load_selected(benchmark, data_dir, dbs, allow_missing_db=allow_missing_db)
    files = load_prediction_files([*candidates, *(more_candidates or [])], bench)
    cache = GoldCache(default_cache_dir())
    try:
        summary = SelectRun(bench, files, get_scorer(scorer, bench.dialect), selectors, output, cache,
                            workers=workers or default_workers(), timeout_s=timeout,
                            confidence=model).run()
    finally:
        cache.close()
        for built in selectors.values():
            built.close()
    print_selection(summary)


def _file_line(f: dict[str, Any]) -> str:
    """One scored file: its accuracy and, for graded or timed scorers, its score."""
    accuracy = "-" if f["accuracy"] is None else f"{100 * f['accuracy']:.2f}"
    extra = "".join(f", {name} {100 * f[name]:.2f}" for name in ("score", "r-ves", "ves") if f.get(name) is not None)
    return f"{f['name']}: {accuracy}% of {f['scored']} ({f['correct']} correct{extra})"


@eval_app.command("calibrate")
def calibrate(
    runs: Annotated[list[Path], typer.Argument(help="mscsql select or mscsql eval run output folders")],
    output: Annotated[Path, typer.Option(help="the confidence model to write (JSON)")],
    selector: Annotated[str, typer.Option(help="mscsql select runs: whose choices to fit on")] = "vote",
) -> None:
    """Fit a confidence model on labelled answers: mscsql select runs on your own candidates and questions, or
    mscsql eval run runs of your own pipeline (its many samples, its selector) on a benchmark; use it with
    selection.confidence in a pipeline config, or mscsql select --confidence."""
    from mscsql.critic.confidence import fit
    from mscsql.evaluation.calibration import labelled_answers

    rows: list[dict[str, float]] = []
    labels: list[bool] = []
    kinds = set()
    for run in runs:
        found, right, kind = labelled_answers(run, selector)
        rows += found
        labels += right
        kinds.add(kind)
    if len(set(labels)) < 2:
        raise ConfigError("the answers are all right or all wrong (or there are none): nothing to calibrate against")
    model = fit(rows, labels, fitted_on={"runs": [str(r) for r in runs], "written_by": sorted(kinds),
                                         "selector": selector if kinds == {"mscsql select"} else None,
                                         "questions": len(rows), "accuracy": round(sum(labels) / len(labels), 4)})
    model.save(output)
    out.print(f"confidence model fitted on {len(rows)} answers ({100 * sum(labels) / len(labels):.1f}% right): "
              f"{output}", highlight=False)
