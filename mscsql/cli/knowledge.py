"""``mscsql examples`` and ``mscsql notes``: what people teach the pipeline about a database, kept in the store
(the serve config's with ``--config``, or ``--store`` / the default one with ``--db``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from mscsql.cli.app import app, err, out
from mscsql.cli.render import cells, print_json, warn_if_privileged
from mscsql.errors import ConfigError, RejectedInput, redact

examples_app = typer.Typer(help="Verified examples (question and checked SQL) of a database: few-shot examples in "
                                "every prompt, and direct answers to a question asked again.", no_args_is_help=True)
app.add_typer(examples_app, name="examples")
notes_app = typer.Typer(help="Notes about a database (what its codes mean, which table to use) for every prompt.",
                        no_args_is_help=True)
app.add_typer(notes_app, name="notes")

ServeConfigOpt = Annotated[Path | None, typer.Option("--config", help="a serve config: its store and databases")]
DatabaseOpt = Annotated[str | None, typer.Option("--database", help="the database's name (in the serve config; "
                                                 "with --db, its name in the store: by default where it is, the "
                                                 "file's absolute path or the server, port and database)")]
DbOpt = Annotated[str | None, typer.Option("--db", help="instead of --config: a database URL or .sqlite path")]
StoreOpt = Annotated[str | None, typer.Option("--store", help="the store's URL (default: the serve config's; with "
                                              "--db, $MSCSQL_STORE or ~/.local/share/mscsql/store.sqlite)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


@contextmanager
def target(config: Path | None, database: str | None, db: str | None, store: str | None) -> Iterator[Any]:
    """The :class:`~mscsql.TextToSQL` of the database these options name (no model is loaded)."""
    from mscsql.config import PipelineConfig, default_store_url, load_generation_config
    from mscsql.pipeline import TextToSQL

    if (config is None) == (db is None):
        raise ConfigError("name the database either with --config serve.yaml --database NAME or with --db",
                          hint="e.g. mscsql examples list --config configs/serve.yaml --database demo")
    if config is not None:
        from mscsql.serve.config import load_serve_config

        settings, base = load_serve_config(config)
        if database not in settings.databases:
            raise ConfigError(f"{config} has no database {database!r}" if database else "--database is needed",
                              hint=f"its databases: {', '.join(settings.databases)}")
        entry = settings.databases[database]
        t2s = TextToSQL(settings.pipeline_config(base), entry.url, tables_json=entry.tables_json,
                        store=store or settings.store, name=database)
    else:
        t2s = TextToSQL(load_generation_config("default", PipelineConfig), db, store=store or default_store_url(),
                        name=database)
    warn_if_privileged(t2s.db)
    try:
        yield t2s
    finally:
        t2s.close()


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...], title: str) -> None:
    from rich.table import Table as RichTable

    grid = RichTable(title=title)
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*cells(*(str(row.get(c) if row.get(c) is not None else "") for c in columns)))
    out.print(grid)


@examples_app.command("add")
def examples_add(question: Annotated[str, typer.Argument(help="the question, as people ask it")],
                 sql: Annotated[str, typer.Argument(help="the SQL that answers it (checked, then run read-only)")],
                 evidence: Annotated[str | None, typer.Option(help="a hint that goes with the question")] = None,
                 config: ServeConfigOpt = None, database: DatabaseOpt = None, db: DbOpt = None,
                 store: StoreOpt = None) -> None:
    """Keep one verified example (its SQL must pass the read-only guard and run on the database)."""
    with target(config, database, db, store) as t2s:
        kept = t2s.add_example(question, sql, evidence)
    err.print(f"example {kept['id']} kept for {t2s.name}", highlight=False, markup=False)


@examples_app.command("import")
def examples_import(file: Annotated[Path, typer.Argument(help="JSON list or JSON Lines of {question, sql, "
                                                              "evidence?}")],
                    skip_invalid: Annotated[bool, typer.Option(help="keep the examples that pass and report the "
                                                                   "others (default: keep none unless all pass)")
                                            ] = False,
                    config: ServeConfigOpt = None, database: DatabaseOpt = None, db: DbOpt = None,
                    store: StoreOpt = None) -> None:
    """Keep every example of a file; each SQL is checked and run first."""
    from mscsql.store.examples import read_examples_file

    read_examples_file(file)  # a malformed file is refused before any database is opened
    with target(config, database, db, store) as t2s:
        report = t2s.import_examples(file, skip_invalid=skip_invalid)
    kept, failed, known = report["kept"], report["failed"], report["already"]
    for line in failed.values():
        err.print(f"skipped {line}", highlight=False, markup=False)
    err.print(f"{len(kept)} examples kept for {t2s.name}" + (f" ({known} of them already were)" if known else "")
              + (f", {len(failed)} skipped" if failed else ""), highlight=False, markup=False)
    if failed:
        raise typer.Exit(1)


@examples_app.command("list")
def examples_list(config: ServeConfigOpt = None, database: DatabaseOpt = None, db: DbOpt = None,
                  store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """The database's verified examples."""
    with target(config, database, db, store) as t2s:
        rows = t2s.examples()
    if as_json:
        print_json(rows)
    else:
        _table(rows, ("id", "question", "sql", "evidence", "source"), f"verified examples of {t2s.name}")


@examples_app.command("remove")
def examples_remove(example_id: Annotated[int, typer.Argument(help="the example's id (from examples list)")],
                    config: ServeConfigOpt = None, database: DatabaseOpt = None, db: DbOpt = None,
                    store: StoreOpt = None) -> None:
    """Delete one verified example."""
    with target(config, database, db, store) as t2s:
        t2s.remove_example(example_id)
    err.print(f"example {example_id} removed", highlight=False)


def located(name: str, db: str | None) -> str:
    """Where the database a store names ``name`` is: ``db`` when given, else ``name`` itself when it is a SQLite
    file here (the name the pipeline gives a file it was not given a name for)."""
    if db is not None:
        return db
    if Path(name).is_file():
        return name
    raise ConfigError(f"the store names the answer's database {name!r}, which is not a SQLite file here",
                      hint="say where it is with --db URL (or use --config serve.yaml)")


def answer_store(answer_id: str, config: Path | None, db: str | None, store: str | None) -> tuple[str, str]:
    """(the store's URL, the answer's database name) of the kept answer ``answer_id``: in the serve config's
    store with ``--config``; else in ``--store`` or the default one."""
    from mscsql.config import default_store_url
    from mscsql.store import Store

    if config is not None and db is not None:
        raise ConfigError("--config names the databases; leave --db out",
                          hint="use --config serve.yaml, or --db (with --store) without a serve config")
    if config is not None:
        from mscsql.serve.config import load_serve_config

        settings, _base = load_serve_config(config)
        store = store or settings.store
    url = store or default_store_url()
    with Store(url) as kept:
        found = kept.answers.get(answer_id)
    if found is None:
        raise ConfigError(f"no answer with id {answer_id!r} in the store {redact(url)}",
                          hint="check the id, and --config or --store")
    return url, str(found.get("database"))


@contextmanager
def answer_target(answer_id: str, config: Path | None, db: str | None, store: str | None) -> Iterator[Any]:
    """The :class:`~mscsql.TextToSQL` of the database the kept answer ``answer_id`` answered."""
    url, name = answer_store(answer_id, config, db, store)
    with target(config, name, None if config is not None else located(name, db), url) as t2s:
        yield t2s


@examples_app.command("promote")
def examples_promote(answer_id: Annotated[str, typer.Argument(help="a kept answer's id")],
                     config: ServeConfigOpt = None, db: DbOpt = None, store: StoreOpt = None) -> None:
    """Make a kept answer that feedback confirmed (or corrected) a verified example of its database."""
    with answer_target(answer_id, config, db, store) as t2s:
        kept = t2s.promote(answer_id)
    err.print(f"answer {answer_id} is now example {kept['id']} of {t2s.name}", highlight=False, markup=False)


@app.command("feedback")
def feedback(
    answer_id: Annotated[str, typer.Argument(help="the answer's id (printed by mscsql ask; in the service's answer)")],
    correct: Annotated[bool, typer.Option("--correct/--wrong", help="whether the answer was right")],
    sql: Annotated[str | None, typer.Option(help="the right query, when the answer was wrong")] = None,
    config: Annotated[Path | None, typer.Option(help="the serve config whose store holds the answer")] = None,
    db: DbOpt = None,
    store: StoreOpt = None,
) -> None:
    """Record whether a kept answer was right (and the right query, when it was not)."""
    if sql is not None and correct:
        raise RejectedInput("--correct takes no --sql: a confirmation says the answer's own query was right",
                            hint="to give the right query, mark the answer --wrong --sql \"SELECT ...\"")
    if sql is None:  # a verdict alone is checked against nothing: no database is opened
        from mscsql.store import Store

        url, _name = answer_store(answer_id, config, db, store)
        with Store(url) as kept:
            saved = kept.add_feedback(answer_id, correct, None)
    else:
        with answer_target(answer_id, config, db, store) as t2s:
            saved = t2s.feedback(answer_id, correct, sql)
    err.print(f"feedback {saved['id']} on answer {answer_id}: {'correct' if correct else 'wrong'}", highlight=False)


@notes_app.command("add")
def notes_add(text: Annotated[str, typer.Argument(help="the note, in plain language")],
              config: ServeConfigOpt = None, database: DatabaseOpt = None, db: DbOpt = None,
              store: StoreOpt = None) -> None:
    """Keep a note about the database (it goes into every generator prompt)."""
    with target(config, database, db, store) as t2s:
        kept = t2s.add_note(text)
    err.print(f"note {kept['id']} kept for {t2s.name}", highlight=False, markup=False)


@notes_app.command("list")
def notes_list(config: ServeConfigOpt = None, database: DatabaseOpt = None, db: DbOpt = None,
               store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """The database's notes."""
    with target(config, database, db, store) as t2s:
        rows = t2s.notes()
    if as_json:
        print_json(rows)
    else:
        _table(rows, ("id", "text"), f"notes about {t2s.name}")


@notes_app.command("remove")
def notes_remove(note_id: Annotated[int, typer.Argument(help="the note's id (from notes list)")],
                 config: ServeConfigOpt = None, database: DatabaseOpt = None, db: DbOpt = None,
                 store: StoreOpt = None) -> None:
    """Delete one note."""
    with target(config, database, db, store) as t2s:
        t2s.remove_note(note_id)
    err.print(f"note {note_id} removed", highlight=False)
