"""The ``mscsql`` command: one module per command group (see :mod:`mscsql.cli.app` for the groups).

The command line imports only the modules that register the command it runs: importing every module, and typer
reading every command's signature, would be most of a short command's start-up. :func:`load_commands` with no
arguments registers everything (``from mscsql.cli import app`` alone registers nothing)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib import import_module

import typer
from typer.main import get_command_name

from mscsql.cli.app import app
from mscsql.cli.app import run as _run

#: the modules that register each top-level command or one of its subcommands, in the order every module is
#: loaded (so a group lists its commands in the same order either way)
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "generate": ("answer",), "ask": ("answer",), "demo": ("answer",),
    "db": ("db",),
    "eval": ("answer", "evaluate", "significance"), "select": ("evaluate",),
    "examples": ("knowledge",), "notes": ("knowledge",),
    "serve": ("serve",), "mcp": ("serve",), "feedback": ("knowledge",),
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


def keep_only_invoked(argv: Sequence[str]) -> None:
    """Drop every registered command and group that ``argv`` does not run, so that typer builds only the path to
    the one it runs (typer reads the signature of every registered command, about 1 ms each). A group's
    subcommand is taken from the word right after the group's name (a group's options, which may take values,
    end the walk there), the top level's from its first word that is not an option (its options are flags); a
    word that names nothing keeps everything, so typer's own message lists what exists. For a process that runs
    one command: the dropped commands are gone from ``app``."""
    group: typer.Typer | None = app
    words = list(argv)
    while words and words[0].startswith("-"):
        words.pop(0)
    while group is not None and words:
        groups = [g for g in group.registered_groups if g.name == words[0]]
        commands = [c for c in group.registered_commands
                    if (c.name or get_command_name(c.callback.__name__ if c.callback else "")) == words[0]]
        if not groups and not commands:
            return
        group.registered_groups[:] = groups
        group.registered_commands[:] = commands
        group = groups[0].typer_instance if groups else None
        words.pop(0)


def run() -> None:
    """Console-script entry point (see :func:`mscsql.cli.app.run`)."""
    from mscsql.cli.interrupts import exit_if_interrupted, stop_statements_on_ctrl_c

    load_commands(sys.argv[1:])
    keep_only_invoked(sys.argv[1:])
    stop_statements_on_ctrl_c([word for word in sys.argv[1:] if not word.startswith("-")])
    try:
        _run()
    except SystemExit as stop:  # every end of a command (typer ends an interrupted one with status 130)
        exit_if_interrupted(stop.code)
        raise


__all__ = ["COMMAND_MODULES", "MODULES", "app", "command_name", "keep_only_invoked", "load_commands", "run"]
