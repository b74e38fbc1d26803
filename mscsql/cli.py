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

from mscsql.config import ExecutionSettings, SchemaSettings
from mscsql.errors import MscSqlError
from mscsql.types import ExecutionResult, Schema

app = typer.Typer(help="mscsql: text-to-SQL with multi-sample critiquing.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
db_app = typer.Typer(help="Inspect and query a database (read-only).", no_args_is_help=True)
app.add_typer(db_app, name="db")
eval_app = typer.Typer(help="Evaluate on BIRD and Spider with scorers that agree with the official tools.",
                       no_args_is_help=True)
app.add_typer(eval_app, name="eval")

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


def _print_schema(schema: Schema) -> None:
    for table in schema.tables:
        title = f"{table.qualified_name} ({table.kind}, {table.row_count if table.row_count is not None else '?'} rows)"
        if table.nl_name and table.nl_name.lower() != table.name.lower().replace("_", " "):
            title += f" - {table.nl_name}"
        grid = RichTable(title=title, title_justify="left", show_lines=False)
        for header in ("column", "type", "key", "null", "examples", "description"):
            grid.add_column(header, overflow="fold")
        fks = {c: fk for fk in table.foreign_keys for c in fk.columns}
        for col in table.columns:
            key = "PK" if col.primary_key else ""
            if col.name in fks:
                fk = fks[col.name]
                key = (key + " " if key else "") + f"FK -> {fk.ref_table}({', '.join(fk.ref_columns)})"
            description = "; ".join(x for x in (col.nl_name, col.description, col.value_description) if x)
            grid.add_row(col.name, col.type, key, "yes" if col.nullable else "no",
                         ", ".join(_render_cell(v) for v in col.examples), description)
        out.print(grid)


def _print_result(result: ExecutionResult) -> None:
    grid = RichTable(show_lines=False)
    for name in result.columns:
        grid.add_column(name, overflow="fold")
    for row in result.rows:
        grid.add_row(*(_render_cell(v) for v in row))
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
    from mscsql.config import ExecutionSettings
    from mscsql.evaluation.benchmarks import load_benchmark
    from mscsql.evaluation.cache import GoldCache, default_cache_dir
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
