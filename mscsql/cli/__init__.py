"""The ``mscsql`` command: one module per command group (see :mod:`mscsql.cli.app` for the groups).

The command line imports only the modules that register the command it runs: importing every module, and typer
reading every command's signature, would be most of a short command's start-up. :func:`load_commands` with no
arguments registers everything (``from mscsql.cli import app`` alone registers nothing)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib import import_module

from mscsql.cli.app import app
from mscsql.cli.app import run as _run

#: the modules that register each top-level command or one of its subcommands, in the order every module is
#: loaded (so a group lists its commands in the same order either way)
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "generate": ("answer",), "ask": ("answer",), "demo": ("answer",),
    "db": ("db",),
    "eval": ("answer", "evaluate", "significance"), "select": ("evaluate",),
    "examples": ("knowledge",), "notes": ("knowledge",),
    "serve": ("serve",), "mcp": ("serve",), "feedback": ("serve",),
    "train": ("train",),
    "index": ("values",), "link": ("values",),
}
#: every command module, in registration order
MODULES: tuple[str, ...] = ("answer", "db", "evaluate", "knowledge", "serve", "significance", "train", "values")


def command_name(argv: Sequence[str]) -> str | None:
    """The top-level command ``argv`` (the arguments after ``mscsql``) runs: its first word that is not an option
    (the top level's only options are flags)."""
    return next((word for word in argv if not word.startswith("-")), None)


def load_commands(argv: Sequence[str] | None = None) -> None:
    """Register the commands ``argv`` needs (every command when ``argv`` is None, names no known command, or
    asks for the top-level help)."""
    name = command_name(argv) if argv is not None else None
    for module in COMMAND_MODULES.get(name or "", MODULES):
        import_module(f"mscsql.cli.{module}")


def run() -> None:
    """Console-script entry point (see :func:`mscsql.cli.app.run`)."""
    load_commands(sys.argv[1:])
    _run()


__all__ = ["COMMAND_MODULES", "MODULES", "app", "command_name", "load_commands", "run"]
