"""``mscsql train``: datasets, fine-tuning, merging, tiny test models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mscsql.cli.app import err, out, train_app, train_data_app
from mscsql.cli.options import (
    AllowMissingDbOpt,
    BenchmarkOpt,
    DataDirOpt,
    DbsOpt,
    LimitOpt,
    ScorerOpt,
    TimeoutOpt,
    WorkersOpt,
)
from mscsql.config import ExecutionSettings
from mscsql.errors import ConfigError


@train_app.command("tiny-model")
def train_tiny_model(
    output: Annotated[Path, typer.Option(help="the folder to write the model and its tokenizer to")],
    family: Annotated[str, typer.Option(help="llama or qwen2")] = "llama",
    seed: Annotated[int, typer.Option(help="seeds the random weights")] = 0,
) -> None:
    """Build a tiny random-init causal LM with a tokenizer trained here, offline, to smoke-test the recipes."""
    from mscsql.training.tiny import build_tiny_causal_lm

    path = build_tiny_causal_lm(output, family=family, seed=seed)
    out.print(f"tiny {family} model written to {path} (random weights: for smoke tests only)", highlight=False)



@train_app.callback()
def train_command(
    ctx: typer.Context,
    config: Annotated[str | None, typer.Option(help="a training config: a shipped name (critic_qlora, "
                                                    "tiny/critic_lora, ...) or a YAML file")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override a config field: --set training.max_steps=10"
                                                  )] = None,
    resume: Annotated[bool, typer.Option(help="continue from the last checkpoint in the output folder, if any")
                      ] = True,
) -> None:
    """Train one role from a config: mscsql train --config configs/train/<role>_<method>.yaml"""
    if ctx.invoked_subcommand is not None:
        return
    if config is None:
        err.print(ctx.get_help(), highlight=False, markup=False)
        raise typer.Exit(2)
    from mscsql.training.config import load_train_config

    settings = load_train_config(config, set_)
    if settings.method == "encoder":
        from mscsql.training.encoder_critic import train_encoder_critic

        result = train_encoder_critic(settings, resume=resume)
    else:
        from mscsql.training.recipe import train_causal_lm

        result = train_causal_lm(settings, resume=resume)
    if result is not None and getattr(result, "main_process", True):
        out.print(result.summary(), highlight=False)


@train_app.command("merge")
def train_merge(
    adapter: Annotated[Path, typer.Option(help="an adapter folder written by mscsql train (LoRA or QLoRA)")],
    output: Annotated[Path, typer.Option(help="the folder for the merged model")],
    base: Annotated[str | None, typer.Option(help="the base model (default: the one the adapter names)")] = None,
    dtype: Annotated[str, typer.Option(help="float32, bfloat16 or float16")] = "float32",
) -> None:
    """Merge an adapter into its base model and save the result (a plain transformers model folder)."""
    from mscsql.training.merge import merge_adapter

    path = merge_adapter(adapter, output, base=base, dtype=dtype)
    out.print(f"merged model written to {path}", highlight=False)


def _training_benchmark(benchmark: str, data_dir: Path, dbs: str | None, drop_missing: bool) -> Any:
    """The benchmark's questions on the databases ``dbs`` selects; with ``drop_missing``, only those whose
    database is present (else the builders refuse a question without one, naming its database)."""
    from mscsql.benchmarks.loaders import SCHEMA_ONLY, load_benchmark
    from mscsql.benchmarks.subsets import filter_databases, parse_db_filter, present_only

    # no warning while loading: the questions left out (only with drop_missing) are named once the databases
    # are chosen; the others need their databases or tables.json, and the builders say which is missing
    bench = load_benchmark(benchmark, data_dir, allow_missing_db=SCHEMA_ONLY)
    bench = filter_databases(bench, parse_db_filter(dbs, bench))
    return present_only(bench) if drop_missing else bench


@train_data_app.command("linker")
def train_data_linker(
    benchmark: BenchmarkOpt,
    data_dir: DataDirOpt,
    output: Annotated[Path, typer.Option(help="the dataset folder to write")],
    schema_only: Annotated[bool, typer.Option(help="read schemas from tables.json (no databases needed)")] = False,
    allow_missing_db: AllowMissingDbOpt = False,
    dbs: DbsOpt = None,
    limit: LimitOpt = None,
    eval_fraction: Annotated[float, typer.Option(min=0.0, max=0.5, help="share held out as the eval split")] = 0.05,
    seed: Annotated[int, typer.Option(help="seeds the eval split")] = 0,
) -> None:
    """Linker data: (question, evidence, full schema) -> the gold tables."""
    from mscsql.training.linker_data import build_linker_data

    bench = _training_benchmark(benchmark, data_dir, dbs, allow_missing_db and not schema_only)
    card = build_linker_data(bench, data_dir, output, schema_only=schema_only, limit=limit,
                             eval_fraction=eval_fraction, seed=seed)
    out.print(f"{output}: {card['counts']}", highlight=False)


@train_data_app.command("generator")
def train_data_generator(
    benchmark: BenchmarkOpt,
    data_dir: DataDirOpt,
    output: Annotated[Path, typer.Option(help="the dataset folder to write")],
    schema_only: Annotated[bool, typer.Option(help="read schemas from tables.json (no databases, no values)")
                           ] = False,
    allow_missing_db: AllowMissingDbOpt = False,
    dbs: DbsOpt = None,
    limit: LimitOpt = None,
    max_extra_tables: Annotated[int, typer.Option(min=0, help="random extra tables beside the gold ones (0 to N)")
                                ] = 2,
    eval_fraction: Annotated[float, typer.Option(min=0.0, max=0.5, help="share held out as the eval split")] = 0.05,
    seed: Annotated[int, typer.Option(help="seeds the extra tables and the eval split")] = 0,
) -> None:
    """Generator data: (question, evidence, linked schema with values) -> the gold SQL in a ```sql block."""
    from mscsql.training.generator_data import build_generator_data

    bench = _training_benchmark(benchmark, data_dir, dbs, allow_missing_db and not schema_only)
    card = build_generator_data(bench, data_dir, output, schema_only=schema_only, limit=limit,
                                max_extra_tables=max_extra_tables, eval_fraction=eval_fraction, seed=seed)
    out.print(f"{output}: {card['counts']}", highlight=False)


@train_data_app.command("critic")
def train_data_critic(
    output: Annotated[Path, typer.Option(help="the dataset folder to write")],
    benchmark: Annotated[str | None, typer.Option(help="the benchmark whose questions the pools answer "
                                                      "(spider-dev, bird-dev, ...)")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="the benchmark's folder (see data/README.md)")] = None,
    feedback: Annotated[str | None, typer.Option(help="instead of a benchmark: a store URL whose answers people "
                                                      "gave feedback on (with --database and --db)")] = None,
    database: Annotated[str | None, typer.Option(help="with --feedback: the database's name in the store")] = None,
    db: Annotated[str | None, typer.Option("--db", help="with --feedback: that database (URL or .sqlite path), "
                                                        "where the answers' candidates run again")] = None,
    pool: Annotated[list[str] | None, typer.Option(help="one candidate pool: prediction files (one per generator, "
                                                        "best first) joined by commas; repeat for several pools")
                    ] = None,
    pools_file: Annotated[Path | None, typer.Option(help="a file of pools, one per line (files joined by commas; "
                                                         "# comments)")] = None,
    generated: Annotated[list[Path] | None, typer.Option(help="the folder of a generation run (mscsql generate): "
                                                             "its candidates are one pool; repeat for several")
                         ] = None,
    dbs: DbsOpt = None,
    scorer: ScorerOpt = "spider-exec",
    orderings: Annotated[int, typer.Option(min=1, help="orderings of each question's groups")] = 4,
    ordering: Annotated[str, typer.Option(help="permutations (--orderings balanced orders of each question's "
                                               "groups) or by-support (the one order a critic with ordering: "
                                               "by-support shows)")] = "permutations",
    pairwise: Annotated[bool, typer.Option(help="rows for a pairwise critic (critic.mode: pairwise): each pair of "
                                                "a right and a wrong option, in both orders")] = False,
    max_pairs: Annotated[int | None, typer.Option(min=1, help="with --pairwise: the most pairs per question")
                         ] = None,
    keep_all: Annotated[bool, typer.Option(help="keep questions whose groups are all right or all wrong too")
                        ] = False,
    allow_missing_db: AllowMissingDbOpt = False,
    order_by_accuracy: Annotated[bool, typer.Option(help="order each pool's files by their accuracy on these "
                                                         "questions, the best first (as a user ranks generators)")
                                 ] = False,
    eval_fraction: Annotated[float, typer.Option(min=0.0, max=0.5, help="share of databases held out as the "
                                                                          "eval split")] = 0.1,
    seed: Annotated[int, typer.Option(help="seeds the orderings and the eval split")] = 0,
    timeout: TimeoutOpt = 30.0,
    workers: WorkersOpt = None,
) -> None:
    """Critic data: candidate pools run on the databases, grouped by result, labelled by the scorer; or, with
    --feedback, the stored answers people confirmed or corrected."""
    from mscsql.config import default_cache_dir
    from mscsql.critic.llm import ORDERINGS
    from mscsql.evaluation.cache import GoldCache
    from mscsql.evaluation.scorers import get_scorer
    from mscsql.training.critic_data import CriticDataBuild, read_pools

    if ordering not in ORDERINGS:
        raise ConfigError(f"unknown --ordering {ordering!r}", hint=f"one of {', '.join(ORDERINGS)}")
    if max_pairs is not None and not pairwise:
        raise ConfigError("--max-pairs is for --pairwise critic data")
    if pairwise and ordering != "permutations":
        raise ConfigError("--pairwise rows show each pair in both orders; leave --ordering out")
    if feedback is not None:
        if pairwise:
            raise ConfigError("--pairwise builds from benchmark pools, not from --feedback")
        if not database or benchmark or data_dir:
            raise ConfigError("--feedback needs --database (its name in the store; --db too when that name is not "
                              "the SQLite file's path), and no benchmark",
                              hint="mscsql train data critic --feedback sqlite:///mscsql-store.sqlite "
                                   "--database demo --db demo.sqlite --output data/critic-feedback")
        from mscsql.cli.knowledge import located
        from mscsql.training.feedback_data import FeedbackDataBuild

        built = FeedbackDataBuild(feedback, database, located(database, db), output, orderings=orderings,
                                  ordering=ordering, eval_fraction=eval_fraction, seed=seed, timeout_s=timeout).run()
        out.print(f"{output}: {built['counts']}; {built['questions']} of {built['feedback']['answers']} answers with "
                  "feedback kept", highlight=False)
        return
    if benchmark is None or data_dir is None:
        raise ConfigError("critic data needs --benchmark and --data-dir (or --feedback with --database and --db)")

    pools = [p.split(",") for p in pool or []] + (read_pools(pools_file) if pools_file else [])
    bench = _training_benchmark(benchmark, data_dir, dbs, allow_missing_db)
    cache = GoldCache(default_cache_dir())
    try:
        card = CriticDataBuild(bench, pools, get_scorer(scorer, bench.dialect), output, cache,
                               orderings=orderings, ordering=ordering, pairwise=pairwise, max_pairs=max_pairs,
                               keep_all=keep_all,
                               eval_fraction=eval_fraction, seed=seed,
                               order_by_accuracy=order_by_accuracy, generated=list(generated or []),
                               timeout_s=timeout,
                               workers=workers or ExecutionSettings().workers).run()
    finally:
        cache.close()
    out.print(f"{output}: {card['counts']}; {card['questions']} questions kept of {card['questions_seen']}",
              highlight=False)


