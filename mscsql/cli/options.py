"""Options and arguments that several commands share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mscsql.defaults import MAX_TIMEOUT_S

TargetArg = Annotated[str, typer.Argument(help="database URL (sqlite:///…, postgresql://…, mysql://…) "
                                               "or path to a .sqlite file", show_default=False)]
TimeoutOpt = Annotated[float, typer.Option(min=0.001, max=MAX_TIMEOUT_S, help="seconds per query before it is "
                                           "cancelled")]
WorkersOpt = Annotated[int | None, typer.Option(min=1, max=1024, help="parallel queries (default: CPU cores)")]
DbsOpt = Annotated[str | None, typer.Option(
    "--dbs", help="only these databases: a,b,c; @FILE (one per line); even or odd (the databases sorted by name, "
                  "at even or odd positions)")]
MaxResultMbOpt = Annotated[float, typer.Option(min=0.001, max=1e6, help="megabytes one prediction's result may hold; "
                                               "past it the rows that fit are kept and the result is truncated")]
MaxValueMbOpt = Annotated[float, typer.Option(min=0.000001, max=1e6, help="megabytes one value may hold; a longer "
                                              "one makes the prediction fail as too_large")]
BenchmarkOpt = Annotated[str, typer.Option(help="spider-dev, spider-test, spider-train, bird-dev, bird-train, "
                                                "bird-minidev, bird-minidev-mysql or bird-minidev-postgresql")]
DataDirOpt = Annotated[Path, typer.Option(help="the benchmark's folder (see data/README.md)")]
ScorerOpt = Annotated[str, typer.Option(help="bird, soft-f1, r-ves, ves, spider-exec, test-suite, exact-match or "
                                             "strict")]
AllowMissingDbOpt = Annotated[bool, typer.Option(help="leave out questions whose database is missing")]
LimitOpt = Annotated[int | None, typer.Option(min=1, help="only the first N questions (a quick try)")]
DbUrlOpt = Annotated[str | None, typer.Option(help="run on a PostgreSQL or MySQL server instead: a database URL in "
                                                   "which {db_id} stands for each question's database (copies made "
                                                   "with mscsql db copy), or bird-minidev's one server database")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="override a config field, repeatable: --set selection.selector=vote, --set generators.0.model=PATH "
                  "(a list item by its name or position)", show_default=False)]
