"""``python -m mscsql``: the same as the ``mscsql`` command."""

from mscsql.cli import run

run()
