"""The command line's consoles: plain lines are written as they are, without loading rich; tables, styled text and
log records go through rich (a short command that prints only plain lines never loads it: see
tests/evaluation/test_cli_startup.py)."""

from __future__ import annotations

import logging

import pytest

from mscsql.cli.consoles import LazyConsole, LazyRichHandler
from mscsql.errors import RedactCredentials


def test_a_plain_line_is_written_as_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    console = LazyConsole()
    console.print("db [x]: :smile: 42%", highlight=False, markup=False)
    console.print("two", "words", highlight=False)
    assert capsys.readouterr().out == "db [x]: :smile: 42%\ntwo words\n"  # no emoji, no markup read


def test_plain_lines_lose_the_control_characters_rich_removes(capsys: pytest.CaptureFixture[str]) -> None:
    LazyConsole(stderr=True).print("a\x07b\rc\x0bd", highlight=False, markup=False)
    captured = capsys.readouterr()
    assert captured.err == "abcd\n" and captured.out == ""


def test_markup_and_tables_go_through_rich(capsys: pytest.CaptureFixture[str]) -> None:
    from rich.table import Table

    console = LazyConsole()
    console.print("[bold]shown[/bold] plainly", highlight=False)  # markup is read, as rich reads it
    grid = Table()
    grid.add_column("name")
    grid.add_row("Ada")
    console.print(grid)
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "shown plainly"
    assert "name" in out and "Ada" in out and "─" in out  # drawn as a table


def test_log_records_go_through_rich_with_credentials_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    handler = LazyRichHandler(LazyConsole(stderr=True))
    handler.addFilter(RedactCredentials())
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("mscsql.test.consoles")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("cannot reach postgresql://ada:s3cret@db.example:5432/shop")
    finally:
        logger.removeHandler(handler)
    err = capsys.readouterr().err
    assert "WARNING" in err and "db.example" in err and "s3cret" not in err
