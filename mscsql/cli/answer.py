"""``mscsql ask``, ``mscsql generate`` and ``mscsql demo``: answering questions and sampling candidates."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from mscsql.cli.app import app, demo_app, err, eval_app, out
from mscsql.cli.options import AllowMissingDbOpt, BenchmarkOpt, DataDirOpt, DbUrlOpt, LimitOpt, SetOpt
from mscsql.cli.render import cells, print_failure, print_json, print_result, say, warn_if_privileged
from mscsql.defaults import MAX_ROWS, MAX_TIMEOUT_S
from mscsql.display import terminal_text

log = logging.getLogger(__name__)


@eval_app.command("generate")
@app.command("generate")
def generate(
    config: Annotated[str, typer.Option(help="a generation config: a shipped config's name or a YAML file")],
    benchmark: BenchmarkOpt,
    data_dir: DataDirOpt,
    output: Annotated[Path, typer.Option(help="folder for candidates.jsonl and samples.jsonl")],
    allow_missing_db: AllowMissingDbOpt = False,
    schema_only: Annotated[bool, typer.Option(help="prompts from tables.json only (no database, no values)")] = False,
    limit: LimitOpt = None,
    db_url: DbUrlOpt = None,
    set_: SetOpt = None,
) -> None:
    """Sample candidate SQL for every question from an ensemble of generators (resumable: samples are
    stored as they arrive, and a re-run continues where a stopped one ended)."""
    from mscsql.benchmarks.loaders import SCHEMA_ONLY, load_benchmark
    from mscsql.config import load_generation_config
    from mscsql.evaluation.generate import GenerateRun, summary

    settings = load_generation_config(config, overrides=set_)
    bench = load_benchmark(benchmark, data_dir, allow_missing_db=SCHEMA_ONLY if schema_only else allow_missing_db,
                           db_url=db_url)
    written = GenerateRun(bench, Path(data_dir), settings, output, schema_only=schema_only, limit=limit).run()
    totals = summary(output, [g.name for g in settings.generators])
    out.print(f"{written} questions generated now; {totals['questions']} in {output}/candidates.jsonl, "
              f"{totals['candidates_per_question']} distinct candidates per question", highlight=False)
    for name, count in totals["samples_per_generator"].items():
        none = " (its samples held no query)" if count == 0 and totals["questions"] else ""
        out.print(f"  {name}: {count} samples with a query{none}", highlight=False)




@app.command("ask")
def ask(
    question: Annotated[str, typer.Argument(help="the question, in plain language", show_default=False)],
    db: Annotated[str, typer.Option("--db", help="database URL or path to a .sqlite file")],
    config: Annotated[str, typer.Option(help="a shipped pipeline config's name (default, cpu, local-server, server, "
                                             "paper, msc-plus, tiny) or a YAML file")] = "default",
    evidence: Annotated[str | None, typer.Option(help="a hint or definition that helps (BIRD's evidence)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the answer as JSON")] = False,
    explain: Annotated[bool, typer.Option(help="show every candidate, its group and who proposed it")] = False,
    max_rows: Annotated[int | None, typer.Option(min=1, max=MAX_ROWS, help="rows of the answer to keep "
                                                  "(default: the config's)")] = None,
    timeout: Annotated[float | None, typer.Option(min=0.001, max=MAX_TIMEOUT_S, help="seconds per candidate query "
                                                  "(default: the config's)")] = None,
    conversation: Annotated[str | None, typer.Option(help="an earlier answer's conversation id: ask a follow-up "
                                                          "question")] = None,
    store: Annotated[str | None, typer.Option(help="where verified examples, notes and conversations are kept "
                                                   "(default: $MSCSQL_STORE or ~/.local/share/mscsql/store.sqlite)")
                     ] = None,
    database: Annotated[str | None, typer.Option(help="the database's name in the store (default: the file's or "
                                                      "server database's name)")] = None,
    set_: SetOpt = None,
) -> None:
    """Answer a question: the chosen SQL and its result. Exit status 1 when no query answered, 3 when the answer
    abstains (its confidence is below the config's selection.min_confidence)."""
    from mscsql.config import default_store_url
    from mscsql.pipeline import TextToSQL

    with TextToSQL.from_config(config, db=db, store=store or default_store_url(), name=database,
                                overrides=set_) as t2s:
        warn_if_privileged(t2s.db)
        answer = t2s.ask(question, evidence=evidence, max_rows=max_rows, timeout_s=timeout, conversation=conversation)
        answer_id = keep_quietly(t2s, answer)  # for mscsql feedback and mscsql examples promote
    if as_json:  # the same exit status as the plain output: 1 when no query answered, 3 when unsure
        print_json({**answer.to_dict(), "database": t2s.name, "id": answer_id})
        if not answer.ok:
            raise typer.Exit(1)
        if answer.abstained:
            raise typer.Exit(3)
        return
    if answer.sql is None:
        err.print("no generator proposed a query", highlight=False)
        raise typer.Exit(1)
    if answer.abstained:
        err.print(f"not sure (confidence {answer.confidence:.2f}, below {t2s.config.selection.min_confidence:g}): "
                  "the best guess is below; the candidates are the options", highlight=False, style="yellow")
    say(answer.sql)
    if answer.explanation:
        err.print(terminal_text(answer.explanation, one_line=False), highlight=False, markup=False, style="dim")
    if answer.source == "verified":
        err.print(f"(the verified query of example {answer.example_id})", highlight=False, style="dim")
    elif answer.confidence is not None:
        err.print(f"confidence {answer.confidence:.2f}", highlight=False, style="dim")
    if answer.result is not None and answer.result.ok:
        print_result(answer.result)
    elif answer.result is not None:
        print_failure(answer.result)
    if explain or answer.abstained:
        print_candidates(answer)
    if explain:
        err.print(", ".join(f"{k} {v:.2f}s" for k, v in answer.timings.items()), highlight=False)
    err.print(f"conversation {answer.conversation_id} (ask a follow-up with --conversation {answer.conversation_id})",
              highlight=False, style="dim")
    if answer_id is not None:
        err.print(f"answer {answer_id} (was it right? mscsql feedback {answer_id} --correct, or --wrong --sql \"...\")",
                  highlight=False, markup=False, style="dim")
    if not answer.ok:
        raise typer.Exit(1)
    if answer.abstained:
        raise typer.Exit(3)


def keep_quietly(t2s: Any, answer: Any) -> str | None:
    """``answer`` kept in the store, its id; a store that fails costs the id (logged), never the answer."""
    from mscsql.errors import redact

    try:
        return str(t2s.keep(answer))
    except Exception as error:  # the store's database refused or is gone: SQLAlchemy raises many kinds
        log.error("the answer could not be kept for feedback: %s", redact(str(error)))
        return None


def print_candidates(answer: Any) -> None:
    """Every candidate with its group, agreement, score, status and generators."""
    from rich.table import Table as RichTable
    from rich.text import Text

    grid = RichTable(title=Text(terminal_text(f"candidates ({answer.selector}; chosen group {answer.chosen_group})")))
    for header in ("group", "agreement", "score", "status", "rows", "generators", "sql"):
        grid.add_column(header, overflow="fold")
    for c in answer.candidates:
        score = answer.groups[c.group].score
        grid.add_row(*cells(str(c.group), str(answer.groups[c.group].count),
                            "-" if score is None else f"{score:.3f}", c.status, str(c.row_count),
                            ", ".join(f"{g} x{n}" for g, n in c.generators.items()), c.sql))
    out.print(grid)


@demo_app.command("create")
def demo_create(
    out_path: Annotated[Path, typer.Option("--out", help="the SQLite file to write")] = Path("demo.sqlite"),
    overwrite: Annotated[bool, typer.Option(help="replace an existing file")] = False,
    db: Annotated[str | None, typer.Option("--db", help="load the demo into this new, empty PostgreSQL or MySQL "
                                                        "database instead (a URL; an administrator's login)")] = None,
) -> None:
    """Create the demo database (regions, customers, products, orders) as a SQLite file, or in an empty server
    database (it refuses one that already has tables)."""
    import tempfile

    from mscsql.db import connect
    from mscsql.demo import create_demo

    if db is not None:
        from mscsql.db.copy import copy_sqlite

        with tempfile.TemporaryDirectory() as scratch:
            counts = copy_sqlite(create_demo(Path(scratch) / "demo.sqlite"), db, command="mscsql demo create --db").rows
        out.print(f"{db.split('@')[-1]}: " + ", ".join(f"{n} {name}" for name, n in counts.items()), highlight=False,
                  markup=False)
        return
    path = create_demo(out_path, overwrite=overwrite)
    with connect(path) as database:
        counts = {t.name: t.row_count for t in database.schema().tables}
    out.print(f"{path}: " + ", ".join(f"{n} {name}" for name, n in counts.items()), highlight=False)
