"""``mscsql db``: inspect and query a database read-only; print (and, if asked, create) a least-privilege role."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from mscsql.cli.app import db_app, err, out
from mscsql.cli.options import TargetArg, TimeoutOpt
from mscsql.cli.render import open_database, print_failure, print_json, print_result, print_schema, say
from mscsql.config import MAX_ROWS, ExecutionSettings, SchemaSettings
from mscsql.errors import ConfigError


@db_app.command("inspect")
def db_inspect(
    target: TargetArg,
    as_json: Annotated[bool, typer.Option("--json", help="print the schema as JSON")] = False,
    tables_json: Annotated[Path | None,
                           typer.Option(help="Spider/BIRD tables.json with natural-language names")] = None,
    descriptions: Annotated[Path | None, typer.Option(help="BIRD database_description folder")] = None,
    db_id: Annotated[str | None, typer.Option(help="database id in tables.json (default: file name)")] = None,
    examples: Annotated[int, typer.Option(min=0, max=1000, help="example values per column")] = 3,
) -> None:
    """Show tables, columns, keys, row counts and example values."""
    with open_database(target, db_id=db_id, tables_json=tables_json, descriptions_dir=descriptions,
                       schema_settings=SchemaSettings(examples_per_column=examples)) as db:
        schema = db.schema()
    if as_json:
        print_json(schema.to_dict())
    else:
        print_schema(schema)


@db_app.command("query")
def db_query(
    target: TargetArg,
    sql: Annotated[str, typer.Argument(help="one read-only SQL query", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON (values whole)")] = False,
    timeout: TimeoutOpt = 30.0,
    max_rows: Annotated[int, typer.Option(min=1, max=MAX_ROWS, help="rows to keep")] = 100,
    allow_function: Annotated[list[str] | None, typer.Option(
        help="PostgreSQL/MySQL: a read-only function of this database the query may call (name or schema.name; "
             "repeat for several), as execution.allowed_functions in a config")] = None,
) -> None:
    """Run one read-only query. Exit status 1 when the query is refused, fails or times out."""
    execution = ExecutionSettings(timeout_s=timeout, max_rows=max_rows, allowed_functions=tuple(allow_function or ()))
    with open_database(target, execution=execution) as db:
        result = db.execute(sql)
    if as_json:
        print_json(result.to_dict())
    elif result.ok:
        print_result(result)
    else:
        print_failure(result)
        if "execution.allowed_functions" in (result.error or ""):  # the guard's word for a function not listed
            say("hint: a read-only function of this database may be allowed with --allow-function NAME", to_err=True)
    if not result.ok:
        raise typer.Exit(1)


@db_app.command("readonly-role")
def db_readonly_role(
    target: Annotated[str, typer.Argument(help="the database, as a URL of an administrator who may create roles "
                                               "(postgresql://… or mysql://…)", show_default=False)],
    name: Annotated[str, typer.Option(help="the new role (PostgreSQL) or user (MySQL)")] = "mscsql_reader",
    schema: Annotated[list[str] | None, typer.Option(help="PostgreSQL: a schema the role may read; repeat for "
                                                          "several (default: every schema with tables)")] = None,
    password_env: Annotated[str | None, typer.Option(help="the environment variable holding the new login's "
                                                          "password (never printed); required for MySQL")] = None,
    host: Annotated[str, typer.Option(help="MySQL: the host the user may connect from")] = "%",
    timeout: TimeoutOpt = 30.0,
    apply: Annotated[bool, typer.Option("--apply", help="run the printed statements (else only print them)")] = False,
) -> None:
    """Print the SQL for a login that can only SELECT, with a statement timeout; --apply runs it.

    An administrator's command: it runs exactly the statements it prints (passwords masked), never
    generated SQL, and only creates: a role that already exists is refused."""
    from mscsql.db.admin import admin_connection
    from mscsql.db.roles import apply_plan, readonly_role_plan

    password = None
    if password_env:
        password = os.environ.get(password_env)
        if not password:
            raise ConfigError(f"the environment variable {password_env} is not set or empty",
                              hint=f"export {password_env}=... with the new login's password")
    with admin_connection(target) as admin:
        plan = readonly_role_plan(admin.dialect, name=name, database=admin.database,
                                  schemas=schema or admin.schemas(), timeout_s=timeout, password=password,
                                  host=host, mariadb=admin.mariadb)
        say(f"-- a login that can only read {admin.database} ({admin.dialect}); mscsql runs these statements "
            f"as {admin.user} only with --apply, and nothing else")
        for statement in plan.shown:
            say(statement + ";")
        for note in plan.notes:
            say(f"-- {note}")
        if not apply:
            err.print("not applied: run again with --apply, or run the statements yourself", highlight=False)
            return
        apply_plan(admin.connection, plan, host=host)
    err.print(f"applied {len(plan.run)} statements; connect as {admin.login_url(name)}", highlight=False,
              markup=False)
    out.print(admin.login_url(name), highlight=False, markup=False)


@db_app.command("copy")
def db_copy(
    source: Annotated[Path, typer.Argument(help="the SQLite file to copy")],
    target: Annotated[str, typer.Argument(help="a new, empty PostgreSQL or MySQL database (URL; an administrator's "
                                               "login); a target with tables is refused")],
) -> None:
    """Copy a SQLite database (tables, keys, rows; types from the declared types and the values) into an empty
    server database, e.g. to run a benchmark on PostgreSQL or MySQL (mscsql eval score --db-url)."""
    from mscsql.db.copy import copy_sqlite

    report = copy_sqlite(source, target, command="mscsql db copy")
    out.print(f"{source} -> {target.split('@')[-1]}: " + ", ".join(f"{n} {name}" for name, n in report.rows.items()),
              highlight=False, markup=False)
    for note in report.notes:
        err.print(note, highlight=False, markup=False)
