"""Options and arguments that several commands share."""

from __future__ import annotations

from typing import Annotated

import typer

from mscsql.config import MAX_TIMEOUT_S

TargetArg = Annotated[str, typer.Argument(help="database URL (sqlite:///…, postgresql://…, mysql://…) "
                                               "or path to a .sqlite file", show_default=False)]
TimeoutOpt = Annotated[float, typer.Option(min=0.001, max=MAX_TIMEOUT_S, help="seconds per query before it is "
                                           "cancelled")]
WorkersOpt = Annotated[int | None, typer.Option(min=1, max=1024, help="parallel queries (default: CPU cores)")]
DbsOpt = Annotated[str | None, typer.Option(
    "--dbs", help="only these databases: a,b,c; @FILE (one per line); even or odd (the databases sorted by name, "
                  "at even or odd positions)")]
AllowMissingOpt = Annotated[bool, typer.Option(help="leave out questions whose database is missing")]
MaxResultMbOpt = Annotated[float, typer.Option(min=0.001, max=1e6, help="megabytes one prediction's result may hold; "
                                               "past it the rows that fit are kept and the result is truncated")]
MaxValueMbOpt = Annotated[float, typer.Option(min=0.000001, max=1e6, help="megabytes one value may hold; a longer "
                                              "one makes the prediction fail as too_large")]
