"""``python -m mscsql.cli``: the same as the ``mscsql`` command."""

from mscsql.cli import run

run()
