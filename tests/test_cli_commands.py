"""The command line registers only the modules of the command it runs; that must give every command the same
options and subcommands as registering everything."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mscsql.cli import COMMAND_MODULES, command_name

# prints the command tree (every group's commands, every command's parameters) after load_commands(argv)
TREE = """
import json, sys
import typer.main
from mscsql.cli import app, keep_only_invoked, load_commands
argv = json.loads(sys.argv[1])
load_commands(argv)
if len(sys.argv) > 2:  # as the command line runs: only the invoked path is built
    keep_only_invoked(argv)

def tree(command):
    if hasattr(command, "commands"):
        return {name: tree(sub) for name, sub in command.commands.items()}
    return [[p.name, sorted(p.opts), p.required, str(p.default)] for p in command.params]

loaded = sorted(m for m in sys.modules if m.startswith("mscsql.cli."))
print(json.dumps({"tree": tree(typer.main.get_command(app)), "loaded": loaded}))
"""


def _tree(argv: list[str] | None, *, invoked_only: bool = False) -> dict:
    done = subprocess.run([sys.executable, "-c", TREE, json.dumps(argv), *(["invoked"] if invoked_only else [])],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def everything() -> dict:
    return _tree(None)


def test_every_top_level_command_names_its_modules(everything: dict) -> None:
    assert sorted(everything["tree"]) == sorted(COMMAND_MODULES)


@pytest.mark.parametrize("name", sorted(COMMAND_MODULES))
def test_a_command_alone_is_registered_as_with_everything(name: str, everything: dict) -> None:
    alone = _tree(["-v", name, "--help"])
    assert alone["tree"][name] == everything["tree"][name]
    # and only what it needs: the serve command's modules are not imported to score a run
    if name == "eval":
        assert "mscsql.cli.serve" not in alone["loaded"] and "mscsql.cli.train" not in alone["loaded"]


def test_an_unknown_command_or_the_top_level_help_registers_everything(everything: dict) -> None:
    assert _tree(["no-such-command"])["tree"] == everything["tree"]
    assert _tree(["--help"])["tree"] == everything["tree"]


def test_the_command_is_the_first_word_that_is_not_an_option() -> None:
    assert command_name(["--verbose", "eval", "score", "--scorer", "bird"]) == "eval"
    assert command_name(["-v"]) is None
    assert command_name([]) is None


@pytest.mark.parametrize("path", [["eval", "score"], ["train", "data", "critic"], ["db", "copy"], ["ask"],
                                  ["select"], ["train"], ["eval"]])
def test_only_the_invoked_path_is_built_and_as_with_everything(path: list[str], everything: dict) -> None:
    built = _tree(["-v", *path, "--config", "merge", "data", "--help"], invoked_only=True)["tree"]
    expected = everything["tree"]
    for word in path:
        assert list(built) == [word]  # nothing beside the path
        built, expected = built[word], expected[word]
    # the command, or the group named last with every command it holds (a group's option ends the walk, though
    # its value here names one of the train group's commands)
    assert built == expected


def test_a_word_that_names_no_command_keeps_every_command_of_its_group(everything: dict) -> None:
    built = _tree(["eval", "scroe"], invoked_only=True)["tree"]
    assert built == {"eval": everything["tree"]["eval"]}  # typer's message can list them
