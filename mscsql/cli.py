"""The ``mscsql`` command. The only module that reads argv or configures logging."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from mscsql.config import ExecutionSettings, SchemaSettings
from mscsql.errors import ConfigError, MscSqlError
from mscsql.types import ExecutionResult, Schema

app = typer.Typer(help="mscsql: text-to-SQL with multi-sample critiquing.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
db_app = typer.Typer(help="Inspect and query a database (read-only).", no_args_is_help=True)
app.add_typer(db_app, name="db")
eval_app = typer.Typer(help="Evaluate on BIRD and Spider with scorers that agree with the official tools.",
                       no_args_is_help=True)
app.add_typer(eval_app, name="eval")
demo_app = typer.Typer(help="The demo business database.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")
index_app = typer.Typer(help="Build and search a database's value index.", no_args_is_help=True)
app.add_typer(index_app, name="index")
link_app = typer.Typer(help="Schema linking: show what a linker keeps for a question, measure its recall.",
                       no_args_is_help=True)
app.add_typer(link_app, name="link")
train_app = typer.Typer(help="Fine-tune the linker, the generators and the critic: build datasets, train, merge.",
                        invoke_without_command=True)
app.add_typer(train_app, name="train")
train_data_app = typer.Typer(help="Build a training dataset (a Hugging Face datasets folder with a card).",
                             no_args_is_help=True)
train_app.add_typer(train_data_app, name="data")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

TargetArg = Annotated[str, typer.Argument(help="database URL (sqlite:///…, postgresql://…, mysql://…) "
                                               "or path to a .sqlite file", show_default=False)]


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log debugging detail")] = False) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=err, show_path=False)])


def _render_cell(value: Any) -> str:
    return "NULL" if value is None else str(value)


def _cells(*values: str) -> list[Text]:
    """Table cells shown as plain text: database content is never read as rich markup."""
    return [Text(v) for v in values]


def _print_schema(schema: Schema) -> None:
    for table in schema.tables:
        title = f"{table.qualified_name} ({table.kind}, {table.row_count if table.row_count is not None else '?'} rows)"
        if table.nl_name and table.nl_name.lower() != table.name.lower().replace("_", " "):
            title += f" - {table.nl_name}"
        grid = RichTable(title=Text(title), title_justify="left", show_lines=False)
        for header in ("column", "type", "key", "null", "examples", "description"):
            grid.add_column(header, overflow="fold")
        fks = {c: fk for fk in table.foreign_keys for c in fk.columns}
        for col in table.columns:
            key = "PK" if col.primary_key else ""
            if col.name in fks:
                fk = fks[col.name]
                key = (key + " " if key else "") + f"FK -> {fk.ref_table}({', '.join(fk.ref_columns)})"
            description = "; ".join(x for x in (col.nl_name, col.description, col.value_description) if x)
            grid.add_row(*_cells(col.name, col.type, key, "yes" if col.nullable else "no",
                                 ", ".join(_render_cell(v) for v in col.examples), description))
        out.print(grid)


def _print_result(result: ExecutionResult) -> None:
    grid = RichTable(show_lines=False)
    for name in result.columns:
        grid.add_column(Text(name), overflow="fold")
    for row in result.rows:
        grid.add_row(*_cells(*(_render_cell(v) for v in row)))
    out.print(grid)
    more = " (truncated: more rows exist)" if result.truncated else ""
    err.print(f"{result.row_count} row{'s' if result.row_count != 1 else ''}{more} in {result.elapsed_s:.3f}s")


@db_app.command("inspect")
def db_inspect(
    target: TargetArg,
    as_json: Annotated[bool, typer.Option("--json", help="print the schema as JSON")] = False,
    tables_json: Annotated[Path | None,
                           typer.Option(help="Spider/BIRD tables.json with natural-language names")] = None,
    descriptions: Annotated[Path | None, typer.Option(help="BIRD database_description folder")] = None,
    db_id: Annotated[str | None, typer.Option(help="database id in tables.json (default: file name)")] = None,
    examples: Annotated[int, typer.Option(min=0, help="example values per column")] = 3,
) -> None:
    """Show tables, columns, keys, row counts and example values."""
    from mscsql.db import connect

    with connect(target, db_id=db_id, tables_json=tables_json, descriptions_dir=descriptions,
                 schema_settings=SchemaSettings(examples_per_column=examples)) as db:
        schema = db.schema()
    if as_json:
        out.print_json(json.dumps(schema.to_dict(), ensure_ascii=False))
    else:
        _print_schema(schema)


@db_app.command("query")
def db_query(
    target: TargetArg,
    sql: Annotated[str, typer.Argument(help="one read-only SQL query", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    timeout: Annotated[float, typer.Option(min=0.001, help="seconds before the query is cancelled")] = 30.0,
    max_rows: Annotated[int, typer.Option(min=1, help="rows to keep")] = 100,
) -> None:
    """Run one read-only query. Exit status 1 when the query is refused, fails or times out."""
    from mscsql.db import connect

    with connect(target, execution=ExecutionSettings(timeout_s=timeout, max_rows=max_rows)) as db:
        result = db.execute(sql)
    if as_json:
        out.print_json(json.dumps(result.to_dict(), ensure_ascii=False))
    elif result.ok:
        _print_result(result)
    else:
        err.print(f"[bold red]{result.status.value}[/]: {result.error}", highlight=False, markup=True)
    if not result.ok:
        raise typer.Exit(1)


@eval_app.command("run")
def eval_run(
    benchmark: Annotated[str, typer.Option(help="spider-dev, bird-dev, bird-minidev, ...")],
    data_dir: Annotated[Path, typer.Option(help="the benchmark's folder")],
    config: Annotated[Path, typer.Option(help="pipeline config (configs/*.yaml)")],
    output: Annotated[Path, typer.Option(help="folder for every stage's outputs and the scores")],
    scorer: Annotated[str, typer.Option(help="bird, spider-exec, test-suite or strict")] = "spider-exec",
    allow_missing_db: Annotated[bool, typer.Option(help="skip questions whose database is missing")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="only the first N questions (a quick try)")] = None,
) -> None:
    """Run the whole pipeline over a benchmark and score its answers (resumable, every stage kept)."""
    from mscsql.config import PipelineConfig, default_cache_dir, load_generation_config
    from mscsql.evaluation.benchmarks import load_benchmark
    from mscsql.evaluation.cache import GoldCache
    from mscsql.evaluation.pipeline_run import PipelineRun
    from mscsql.evaluation.scorers import get_scorer

    settings = load_generation_config(config, PipelineConfig)
    bench = load_benchmark(benchmark, data_dir, allow_missing_db=allow_missing_db)
    cache = GoldCache(default_cache_dir())
    try:
        summary = PipelineRun(bench, Path(data_dir), settings, output, get_scorer(scorer, bench.dialect), cache,
                              limit=limit).run()
    finally:
        cache.close()
    for f in summary["files"]:
        accuracy = "-" if f["accuracy"] is None else f"{100 * f['accuracy']:.2f}"
        out.print(f"{f['name']}: {accuracy}% of {f['scored']} ({f['correct']} correct)", highlight=False)
    err.print(f"stages in {output}/ (generate/, selections.jsonl, predictions.jsonl, score/)", highlight=False)


@eval_app.command("score")
def eval_score(
    benchmark: Annotated[str, typer.Option(help="spider-dev, spider-train, bird-dev, bird-train, bird-minidev, "
                                                "bird-minidev-mysql or bird-minidev-postgresql")],
    data_dir: Annotated[Path, typer.Option(help="the benchmark's folder (see data/README.md)")],
    predictions: Annotated[list[Path], typer.Option("--predictions", "-p",
                                                    help="prediction files: --predictions A.sql B.sql ... "
                                                         "(or repeat -p)")],
    output: Annotated[Path, typer.Option(help="folder for results.jsonl, summary.json, report.md, accuracy.png")],
    scorer: Annotated[str, typer.Option(help="bird, spider-exec, test-suite or strict")] = "spider-exec",
    allow_missing_db: Annotated[bool, typer.Option(help="skip questions whose database is missing")] = False,
    db_url: Annotated[str | None, typer.Option(help="bird-minidev on MySQL/PostgreSQL: the server database "
                                                    "holding the tables (may contain {db_id})")] = None,
    timeout: Annotated[float, typer.Option(min=0.001, help="seconds per query")] = 30.0,
    workers: Annotated[int | None, typer.Option(min=1, help="parallel queries (default: CPU cores)")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="gold-result cache (default ~/.cache/mscsql)")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="do not read or write the gold-result cache")] = False,
    more_predictions: Annotated[list[Path] | None, typer.Argument(show_default=False, metavar="[FILE...]",
                                                                  help="more prediction files")] = None,
) -> None:
    """Score prediction files (resumable: run the same command again to continue an interrupted run)."""
    from mscsql.config import ExecutionSettings, default_cache_dir
    from mscsql.evaluation.benchmarks import load_benchmark
    from mscsql.evaluation.cache import GoldCache
    from mscsql.evaluation.predictions import load_prediction_files
    from mscsql.evaluation.report import write_reports
    from mscsql.evaluation.runner import ScoreRun, score
    from mscsql.evaluation.scorers import get_scorer

    bench = load_benchmark(benchmark, data_dir, allow_missing_db=allow_missing_db, db_url=db_url)
    files = load_prediction_files([*predictions, *(more_predictions or [])], bench)
    cache = GoldCache(None if no_cache else (cache_dir or default_cache_dir()))
    run_config = ScoreRun(benchmark=bench, files=files, scorer=get_scorer(scorer, bench.dialect), output=output,
                          cache=cache, workers=workers or ExecutionSettings().workers, timeout_s=timeout,
                          command="mscsql " + " ".join(sys.argv[1:]))
    try:
        rows = score(run_config)
        summary = write_reports(rows, run_config)
    finally:
        cache.close()
    for f in summary["files"]:
        accuracy = "-" if f["accuracy"] is None else f"{100 * f['accuracy']:.2f}"
        out.print(f"{f['name']}: {accuracy}% of {f['scored']} ({f['correct']} correct)", highlight=False)
    if summary["skipped_questions"]:
        err.print(f"skipped {summary['skipped_questions']} questions with missing databases: "
                  f"{', '.join(summary['missing_databases'])}", highlight=False)
    err.print(f"results in {output}/ (results.jsonl, summary.json, report.md, accuracy.png)", highlight=False)


def _retrieval_settings(encoder: str | None, max_values: int | None, no_embed: bool) -> Any:
    from mscsql.config import RetrievalSettings

    options: dict[str, Any] = {"embed_values": not no_embed}
    if encoder:
        options["encoder"] = encoder
    if max_values:
        options["max_values_per_column"] = max_values
    return RetrievalSettings(**options)


EncoderOpt = Annotated[str | None, typer.Option(help="sentence-transformers model id or local path "
                                                     "(default: the offline all-MiniLM-L6-v2)")]
MaxValuesOpt = Annotated[int | None, typer.Option(min=1, help="distinct values indexed per column (default 5000)")]
NoEmbedOpt = Annotated[bool, typer.Option("--no-embed", help="lexical matching only (no encoder)")]
IndexDirOpt = Annotated[Path | None, typer.Option("--out", "--index", help="index folder "
                                                  "(default: ~/.cache/mscsql/index/<db>-<hash>)")]
TablesJsonOpt = Annotated[Path | None, typer.Option(help="Spider/BIRD tables.json with natural-language names")]


@index_app.command("build")
def index_build(target: TargetArg, out_dir: IndexDirOpt = None, encoder: EncoderOpt = None,
                max_values: MaxValuesOpt = None, no_embed: NoEmbedOpt = False,
                rebuild: Annotated[bool, typer.Option(help="rebuild even when the stored index is fresh")] = False,
                ) -> None:
    """Index the distinct values of every text column (rebuilt only when the database or settings changed)."""
    import time

    from mscsql.db import connect
    from mscsql.retrieval import ValueIndex, default_index_dir

    settings = _retrieval_settings(encoder, max_values, no_embed)
    with connect(target) as db:
        folder = out_dir or default_index_dir(db)
        started = time.perf_counter()
        index = ValueIndex.open(db, folder, settings, progress=True, rebuild=rebuild)
        elapsed = time.perf_counter() - started
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    out.print(f"{len(index)} values from {len(index.columns)} columns in {folder} ({size / 1e6:.1f} MB, "
              f"{elapsed:.1f}s)", highlight=False)


@index_app.command("search")
def index_search(target: TargetArg, text: Annotated[str, typer.Argument(help="a question or a phrase",
                                                                        show_default=False)],
                 index_dir: IndexDirOpt = None, encoder: EncoderOpt = None, no_embed: NoEmbedOpt = False,
                 top_k: Annotated[int, typer.Option(min=1, help="values to show")] = 20,
                 as_json: Annotated[bool, typer.Option("--json", help="print the matches as JSON")] = False) -> None:
    """Values of the database that the text mentions or means (builds the index first if needed)."""
    from dataclasses import asdict

    from mscsql.db import connect

    with connect(target) as db:
        index = _open_index(db, index_dir, encoder, no_embed)
    matches = index.search(text, top_k=top_k)
    if as_json:
        out.print_json(json.dumps([asdict(m) for m in matches], ensure_ascii=False))
        return
    grid = RichTable()
    for header in ("table", "column", "value", "score", "match"):
        grid.add_column(header, overflow="fold")
    for m in matches:
        grid.add_row(*_cells(m.table, m.column, m.value, f"{m.score:.3f}", m.source))
    out.print(grid)


def _open_index(db: Any, folder: Path | None, encoder: str | None, no_embed: bool) -> Any:
    """The database's value index; an existing one is searched with the settings it was built with (an
    index built with ``--max-values`` or ``--no-embed`` is not silently rebuilt with the defaults)."""
    from mscsql.retrieval import ValueIndex, default_index_dir
    from mscsql.retrieval.index import stored_settings

    folder = folder or default_index_dir(db)
    settings = stored_settings(folder) if not (encoder or no_embed) else None
    return ValueIndex.open(db, folder, settings or _retrieval_settings(encoder, None, no_embed), progress=True)


LinkerOpt = Annotated[list[str], typer.Option("--linker", "-l", help="keep-all, embedding or llm-tables; "
                                                                      "repeat for the union of several")]
GeneratorOpt = Annotated[str | None, typer.Option(help="llm-tables: a causal LM (local path or hub id) with a "
                                                       "chat template")]
SamplesOpt = Annotated[int, typer.Option(min=1, help="llm-tables: samples per question (their union is kept)")]
TableMissOpt = Annotated[float | None, typer.Option(min=0, max=1, help="embedding: accepted chance of dropping a "
                                                                       "needed table (lower keeps more)")]
ColumnMissOpt = Annotated[float | None, typer.Option(min=0, max=1, help="embedding: the same for columns")]


def _linker(names: list[str], generator_model: str | None, samples: int, table_miss: float | None = None,
            column_miss: float | None = None) -> Any:
    from mscsql.linking import build_linker

    generator = None
    if "llm-tables" in names and generator_model:
        from mscsql.generation.hf import HFGenerator

        generator = HFGenerator(generator_model)
    embedding = {k: v for k, v in (("table_miss", table_miss), ("column_miss", column_miss)) if v is not None}
    return build_linker(names, generator=generator, samples=samples, embedding=embedding)


@link_app.command("show")
def link_show(
    target: TargetArg,
    question: Annotated[str, typer.Argument(help="the question", show_default=False)],
    evidence: Annotated[str | None, typer.Option(help="hint or evidence (BIRD)")] = None,
    linker: LinkerOpt = ["embedding"],  # noqa: B006 (typer reads the default)
    budget: Annotated[int | None, typer.Option(min=16, help="token budget of the rendered schema")] = None,
    tables_json: TablesJsonOpt = None,
    db_id: Annotated[str | None, typer.Option(help="database id in tables.json (default: file name)")] = None,
    index_dir: IndexDirOpt = None,
    no_values: Annotated[bool, typer.Option("--no-values", help="do not retrieve values")] = False,
    generator_model: GeneratorOpt = None,
    samples: SamplesOpt = 3,
    table_miss: TableMissOpt = None,
    column_miss: ColumnMissOpt = None,
) -> None:
    """Print the schema text a generator would see for this question, and the linker's decisions."""
    from mscsql.db import connect
    from mscsql.linking import LinkRequest, RenderOptions, render_schema
    from mscsql.retrieval.text import question_text
    from mscsql.types import Question

    with connect(target, db_id=db_id, tables_json=tables_json) as db:
        schema = db.schema()
        values: tuple = ()
        if not no_values:
            values = tuple(_open_index(db, index_dir, None, False).search(question_text(question, evidence)))
    link = _linker(linker, generator_model, samples, table_miss, column_miss).link(
        [LinkRequest(Question(question, db_id=schema.db_id, evidence=evidence), schema, values)])[0]
    rendered = render_schema(link, RenderOptions(budget_tokens=budget))
    out.print(rendered.text, highlight=False, markup=False)
    kept_columns = sum(len(t.columns) for t in link.schema.tables)
    total_columns = sum(len(t.columns) for t in schema.tables)
    err.print(f"{link.linker}: kept {len(link.schema.tables)}/{len(schema.tables)} tables, "
              f"{kept_columns}/{total_columns} columns; about {rendered.tokens} tokens", highlight=False)
    for line in (*link.trace, *rendered.trace):
        err.print(line, highlight=False, markup=False)


@link_app.command("eval")
def link_eval(
    benchmark: Annotated[str, typer.Option(help="spider-dev, spider-train, bird-dev, bird-minidev, ...")],
    data_dir: Annotated[Path, typer.Option(help="the benchmark's folder")],
    output: Annotated[Path, typer.Option(help="folder for questions.jsonl and summary.json")],
    linker: LinkerOpt = ["embedding"],  # noqa: B006
    allow_missing_db: Annotated[bool, typer.Option(help="skip questions whose database is missing")] = False,
    schema_only: Annotated[bool, typer.Option(help="use tables.json only (no database, no values)")] = False,
    index_dir: Annotated[Path | None, typer.Option(help="folder of value indexes, one sub-folder per database "
                                                        "(default: the cache)")] = None,
    generator_model: GeneratorOpt = None,
    samples: SamplesOpt = 3,
    table_miss: TableMissOpt = None,
    column_miss: ColumnMissOpt = None,
) -> None:
    """Recall of a linker against the tables, columns and values of the gold queries (resumable)."""
    from mscsql.evaluation.benchmarks import load_benchmark
    from mscsql.linking.evaluate import LinkEvaluation

    bench = load_benchmark(benchmark, data_dir, allow_missing_db=allow_missing_db or schema_only)
    chosen = _linker(linker, generator_model, samples, table_miss, column_miss)
    identity = {"linkers": linker, "generator_model": generator_model, "samples": samples,
                "table_miss": table_miss, "column_miss": column_miss}
    summary = LinkEvaluation(bench, Path(data_dir), chosen, output, schema_only=schema_only,
                             index_root=index_dir, identity=identity).run()
    for key in ("questions", "table_recall_strict", "column_recall_strict", "tables_kept_fraction",
                "columns_kept_fraction", "value_hit_rate"):
        out.print(f"{key}: {summary[key]}", highlight=False)
    err.print(f"details in {output}/ (questions.jsonl, summary.json)", highlight=False)


@app.command("generate")
def generate(
    config: Annotated[Path, typer.Option(help="a generation config (configs/*.yaml): generators, linking")],
    benchmark: Annotated[str, typer.Option(help="spider-dev, bird-dev, bird-minidev, ...")],
    data_dir: Annotated[Path, typer.Option(help="the benchmark's folder")],
    output: Annotated[Path, typer.Option(help="folder for candidates.jsonl and samples.jsonl")],
    allow_missing_db: Annotated[bool, typer.Option(help="skip questions whose database is missing")] = False,
    schema_only: Annotated[bool, typer.Option(help="prompts from tables.json only (no database, no values)")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="only the first N questions (a quick try)")] = None,
    db_url: Annotated[str | None, typer.Option(help="bird-minidev on MySQL/PostgreSQL: the server database "
                                                    "holding the tables (may contain {db_id})")] = None,
) -> None:
    """Sample candidate SQL for every question from an ensemble of generators (resumable: samples are
    stored as they arrive, and a re-run continues where a stopped one ended)."""
    from mscsql.config import load_generation_config
    from mscsql.evaluation.benchmarks import load_benchmark
    from mscsql.evaluation.generate import GenerateRun, summary

    settings = load_generation_config(config)
    bench = load_benchmark(benchmark, data_dir, allow_missing_db=allow_missing_db or schema_only, db_url=db_url)
    written = GenerateRun(bench, Path(data_dir), settings, output, schema_only=schema_only, limit=limit).run()
    totals = summary(output)
    out.print(f"{written} questions generated now; {totals['questions']} in {output}/candidates.jsonl, "
              f"{totals['candidates_per_question']} distinct candidates per question", highlight=False)
    for name, count in totals["samples_per_generator"].items():
        out.print(f"  {name}: {count} samples", highlight=False)


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


_DbsOption = Annotated[str | None, typer.Option(
    "--dbs", help="only these databases: a,b,c; @FILE (one per line); even or odd (the databases sorted by name, "
                  "at even or odd positions)")]


@app.command("select")
def select_command(
    benchmark: Annotated[str, typer.Option(help="spider-dev, bird-dev, bird-minidev, ...")],
    data_dir: Annotated[Path, typer.Option(help="the benchmark's folder")],
    candidates: Annotated[list[Path], typer.Option("--candidates", "-c",
                                                   help="candidate files, one per generator, in priority order: "
                                                        "--candidates A.sql B.sql ...")],
    output: Annotated[Path, typer.Option(help="folder for summary.json, selections.jsonl and scores/")],
    selector: Annotated[list[str], typer.Option("--selector", "-s", help="vote, first-valid, max-logprob, "
                                                                        "encoder or critic; repeat for several")
                        ] = ["vote"],  # noqa: B006
    encoder: Annotated[str | None, typer.Option(help="the encoder selector's checkpoint folder "
                                                     "(default: the untrained offline encoder)")] = None,
    critic_model: Annotated[str | None, typer.Option(help="the critic selector's model: a local causal LM "
                                                          "(hf backend)")] = None,
    scorer: Annotated[str, typer.Option(help="bird, spider-exec, test-suite or strict")] = "spider-exec",
    allow_missing_db: Annotated[bool, typer.Option(help="skip questions whose database is missing")] = False,
    timeout: Annotated[float, typer.Option(min=0.001, help="seconds per query")] = 30.0,
    workers: Annotated[int | None, typer.Option(min=1, help="parallel queries (default: CPU cores)")] = None,
    dbs: _DbsOption = None,
    more_candidates: Annotated[list[Path] | None, typer.Argument(show_default=False, metavar="[FILE...]",
                                                                 help="more candidate files")] = None,
) -> None:
    """Select among stored candidates and report each selector's accuracy, the best single file and the
    oracle (every candidate runs read-only; scores are cached and resumable)."""
    from mscsql.config import default_cache_dir
    from mscsql.evaluation.benchmarks import load_benchmark
    from mscsql.evaluation.cache import GoldCache
    from mscsql.evaluation.predictions import load_prediction_files
    from mscsql.evaluation.scorers import get_scorer
    from mscsql.evaluation.select import SelectRun

    critics: dict[str, Any] = {}
    if "critic" in selector:
        if not critic_model:
            raise ConfigError("--selector critic needs --critic-model", hint="a local causal LM folder")
        from mscsql.critic.llm import LLMCritic
        from mscsql.generation.hf import HFGenerator

        critics["critic"] = LLMCritic(HFGenerator(critic_model, progress=False))
    if "encoder" in selector:
        from mscsql.critic.encoder import EncoderCritic

        critics["encoder"] = EncoderCritic.load(encoder) if encoder else EncoderCritic.from_pretrained()
    from mscsql.evaluation.subsets import filter_databases, parse_db_filter

    bench = load_benchmark(benchmark, data_dir, allow_missing_db=allow_missing_db)
    bench = filter_databases(bench, parse_db_filter(dbs, bench))
    files = load_prediction_files([*candidates, *(more_candidates or [])], bench)
    cache = GoldCache(default_cache_dir())
    try:
        summary = SelectRun(bench, files, get_scorer(scorer, bench.dialect), list(selector), output, cache,
                            workers=workers or ExecutionSettings().workers, timeout_s=timeout, critics=critics).run()
    finally:
        cache.close()
    out.print(f"{summary['questions']} questions ({summary['scorer']})", highlight=False)
    for name, accuracy in summary["selectors"].items():
        out.print(f"{name}: {100 * (accuracy or 0):.2f}%", highlight=False)
    best = summary["best_single"]
    out.print(f"best_single ({best['name']}): {100 * (best['accuracy'] or 0):.2f}%", highlight=False)
    out.print(f"oracle: {100 * (summary['oracle'] or 0):.2f}%", highlight=False)


DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"


@app.command("ask")
def ask(
    question: Annotated[str, typer.Argument(help="the question, in plain language", show_default=False)],
    db: Annotated[str, typer.Option("--db", help="database URL or path to a .sqlite file")],
    config: Annotated[Path, typer.Option(help="pipeline config (configs/*.yaml)")] = DEFAULT_CONFIG,
    evidence: Annotated[str | None, typer.Option(help="a hint or definition that helps (BIRD's evidence)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the answer as JSON")] = False,
    explain: Annotated[bool, typer.Option(help="show every candidate, its group and who proposed it")] = False,
) -> None:
    """Answer a question: the chosen SQL and its result."""
    from mscsql.pipeline import TextToSQL, answer_json

    with TextToSQL.from_config(config, db=db) as t2s:
        answer = t2s.ask(question, evidence=evidence)
    if as_json:
        out.print_json(answer_json(answer))
        return
    if answer.sql is None:
        err.print("no generator proposed a query", highlight=False)
        raise typer.Exit(1)
    out.print(answer.sql, highlight=False, markup=False)
    if answer.result is not None and answer.result.ok:
        _print_result(answer.result)
    elif answer.result is not None:
        err.print(f"{answer.result.status.value}: {answer.result.error}", highlight=False, markup=False)
    if explain:
        grid = RichTable(title=Text(f"candidates ({answer.selector}; chosen group {answer.chosen_group})"))
        for header in ("group", "agreement", "score", "status", "rows", "generators", "sql"):
            grid.add_column(header, overflow="fold")
        for c in answer.candidates:
            score = answer.groups[c.group].score
            grid.add_row(*_cells(str(c.group), str(answer.groups[c.group].count),
                                 "-" if score is None else f"{score:.3f}", c.status, str(c.row_count),
                                 ", ".join(f"{g} x{n}" for g, n in c.generators.items()), c.sql))
        out.print(grid)
        err.print(", ".join(f"{k} {v:.2f}s" for k, v in answer.timings.items()), highlight=False)
    if not answer.ok:
        raise typer.Exit(1)


@demo_app.command("create")
def demo_create(
    out_path: Annotated[Path, typer.Option("--out", help="the SQLite file to write")] = Path("demo.sqlite"),
    overwrite: Annotated[bool, typer.Option(help="replace an existing file")] = False,
) -> None:
    """Create the demo database (regions, customers, products, orders) as a SQLite file."""
    from mscsql.db import connect
    from mscsql.demo import create_demo

    path = create_demo(out_path, overwrite=overwrite)
    with connect(path) as db:
        counts = {t.name: t.row_count for t in db.schema().tables}
    out.print(f"{path}: " + ", ".join(f"{n} {name}" for name, n in counts.items()), highlight=False)


@train_app.callback()
def train_command(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option(help="a training config, e.g. configs/train/critic_qlora.yaml")] = None,
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
    from mscsql.evaluation.benchmarks import load_benchmark
    from mscsql.evaluation.subsets import filter_databases, parse_db_filter, present_only

    bench = load_benchmark(benchmark, data_dir, allow_missing_db=True)
    bench = filter_databases(bench, parse_db_filter(dbs, bench))
    return present_only(bench) if drop_missing else bench


_AllowMissingOption = Annotated[bool, typer.Option(help="leave out questions whose database is missing")]


@train_data_app.command("linker")
def train_data_linker(
    benchmark: Annotated[str, typer.Option(help="spider-train, spider-dev, bird-train, bird-dev, ...")],
    data_dir: Annotated[Path, typer.Option(help="the benchmark's folder")],
    output: Annotated[Path, typer.Option(help="the dataset folder to write")],
    schema_only: Annotated[bool, typer.Option(help="read schemas from tables.json (no databases needed)")] = False,
    allow_missing_db: _AllowMissingOption = False,
    dbs: _DbsOption = None,
    limit: Annotated[int | None, typer.Option(min=1, help="the first N questions only")] = None,
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
    benchmark: Annotated[str, typer.Option(help="spider-train, spider-dev, bird-train, bird-dev, ...")],
    data_dir: Annotated[Path, typer.Option(help="the benchmark's folder")],
    output: Annotated[Path, typer.Option(help="the dataset folder to write")],
    schema_only: Annotated[bool, typer.Option(help="read schemas from tables.json (no databases, no values)")
                           ] = False,
    allow_missing_db: _AllowMissingOption = False,
    dbs: _DbsOption = None,
    limit: Annotated[int | None, typer.Option(min=1, help="the first N questions only")] = None,
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
    benchmark: Annotated[str, typer.Option(help="spider-dev, bird-dev, bird-minidev, ...")],
    data_dir: Annotated[Path, typer.Option(help="the benchmark's folder")],
    output: Annotated[Path, typer.Option(help="the dataset folder to write")],
    pool: Annotated[list[str] | None, typer.Option(help="one candidate pool: prediction files (one per generator, "
                                                        "best first) joined by commas; repeat for several pools")
                    ] = None,
    pools_file: Annotated[Path | None, typer.Option(help="a file of pools, one per line (files joined by commas; "
                                                         "# comments)")] = None,
    generated: Annotated[list[Path] | None, typer.Option(help="the folder of a generation run (mscsql generate): "
                                                             "its candidates are one pool; repeat for several")
                         ] = None,
    dbs: _DbsOption = None,
    scorer: Annotated[str, typer.Option(help="bird, spider-exec, test-suite or strict")] = "spider-exec",
    orderings: Annotated[int, typer.Option(min=1, help="orderings of each question's groups")] = 4,
    keep_all: Annotated[bool, typer.Option(help="keep questions whose groups are all right or all wrong too")
                        ] = False,
    allow_missing_db: _AllowMissingOption = False,
    order_by_accuracy: Annotated[bool, typer.Option(help="order each pool's files by their accuracy on these "
                                                         "questions, the best first (as a user ranks generators)")
                                 ] = False,
    eval_fraction: Annotated[float, typer.Option(min=0.0, max=0.5, help="share of databases held out as the "
                                                                          "eval split")] = 0.1,
    seed: Annotated[int, typer.Option(help="seeds the orderings and the eval split")] = 0,
    timeout: Annotated[float, typer.Option(min=0.001, help="seconds per query")] = 30.0,
    workers: Annotated[int | None, typer.Option(min=1, help="parallel queries (default: CPU cores)")] = None,
) -> None:
    """Critic data: candidate pools run on the databases, grouped by result, labelled by the scorer."""
    from mscsql.config import default_cache_dir
    from mscsql.evaluation.cache import GoldCache
    from mscsql.evaluation.scorers import get_scorer
    from mscsql.training.critic_data import CriticDataBuild, read_pools

    pools = [p.split(",") for p in pool or []] + (read_pools(pools_file) if pools_file else [])
    bench = _training_benchmark(benchmark, data_dir, dbs, allow_missing_db)
    cache = GoldCache(default_cache_dir())
    try:
        card = CriticDataBuild(bench, pools, get_scorer(scorer, bench.dialect), output, cache,
                               orderings=orderings, keep_all=keep_all, eval_fraction=eval_fraction, seed=seed,
                               order_by_accuracy=order_by_accuracy, generated=list(generated or []),
                               timeout_s=timeout,
                               workers=workers or ExecutionSettings().workers).run()
    finally:
        cache.close()
    out.print(f"{output}: {card['counts']}; {card['questions']} questions kept of {card['questions_seen']}",
              highlight=False)


def run() -> None:
    """Console-script entry point: user errors become one message and exit status 2, never a traceback."""
    try:
        app()
    except MscSqlError as error:
        err.print(f"error: {error}", highlight=False, markup=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted", highlight=False)
        sys.exit(130)


if __name__ == "__main__":
    run()
