"""The ``mscsql`` command: one module per command group (see :mod:`mscsql.cli.app` for the groups)."""

from mscsql.cli import answer, db, evaluate, knowledge, serve, significance, train, values  # noqa: F401  (each registers its commands)
from mscsql.cli.app import app, run

__all__ = ["app", "run"]
