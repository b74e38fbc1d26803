"""Limits, defaults and the execution settings' read-only view, without the configuration models.

The database layer and the scorers need only these: a command that scores prediction files never loads
pydantic or the configuration models (:mod:`mscsql.config`, which re-exports the limits and
``default_cache_dir``), which took about a quarter of a short scoring run. :class:`ExecutionLimits` is what a
database gets when no :class:`mscsql.config.ExecutionSettings` is given; both read the same defaults from this
module.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mscsql.errors import ConfigError
from mscsql.types import ResultBudget, TablePolicy

#: the longest statement timeout mscsql accepts (a week; PostgreSQL's own maximum is about 24.8 days)
MAX_TIMEOUT_S = 7 * 24 * 3600.0
#: the most rows one result may keep
MAX_ROWS = 1_000_000_000
#: a statement's timeout and kept rows when the configuration says nothing
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_ROWS = 10_000


def default_workers() -> int:
    """Parallel statements when none are configured: one per CPU."""
    return max(1, os.cpu_count() or 1)


def checked_limits(timeout_s: float, max_rows: int, where: str = "execution") -> tuple[float, int]:
    """``(timeout_s, max_rows)`` when both are usable (finite, positive, below the engines' maxima), else a
    :class:`ConfigError` saying which value is wrong and what is allowed."""
    if not isinstance(timeout_s, int | float) or isinstance(timeout_s, bool) or not math.isfinite(timeout_s) \
            or not 0 < timeout_s <= MAX_TIMEOUT_S:
        raise ConfigError(f"{where}: timeout {timeout_s!r} s is not usable",
                          hint=f"give a number of seconds above 0 and at most {MAX_TIMEOUT_S:g}")
    if not isinstance(max_rows, int) or isinstance(max_rows, bool) or not 1 <= max_rows <= MAX_ROWS:
        raise ConfigError(f"{where}: row limit {max_rows!r} is not usable",
                          hint=f"give a whole number from 1 to {MAX_ROWS}")
    return float(timeout_s), max_rows


class ExecutionView:
    """What the database layer reads of execution settings, shared by :class:`ExecutionLimits` and
    :class:`mscsql.config.ExecutionSettings` (a subclass provides the fields)."""

    if TYPE_CHECKING:  # the fields, declared by each subclass
        timeout_s: float
        max_rows: int
        workers: int
        max_result_bytes: int
        max_value_bytes: int
        allowed_functions: tuple[str, ...]
        allowed_tables: tuple[str, ...]
        denied_tables: tuple[str, ...]

    @property
    def budget(self) -> ResultBudget:
        return ResultBudget(max_result_bytes=self.max_result_bytes, max_value_bytes=self.max_value_bytes)

    @property
    def table_policy(self) -> TablePolicy:
        """``allowed_tables`` and ``denied_tables`` as the guard and the schema read them."""
        return TablePolicy.of(self.allowed_tables, self.denied_tables)

    @property
    def function_allowlist(self) -> frozenset[str]:
        """``allowed_functions`` as the guard reads them (lower case)."""
        return frozenset(name.strip().lower() for name in self.allowed_functions)


@dataclass(frozen=True)
class ExecutionLimits(ExecutionView):
    """Execution settings for code that builds them itself (the scorers, a database opened without a config):
    the defaults of :class:`mscsql.config.ExecutionSettings`, checked the same way."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    max_rows: int = DEFAULT_MAX_ROWS
    max_result_bytes: int = ResultBudget().max_result_bytes
    max_value_bytes: int = ResultBudget().max_value_bytes
    allowed_functions: tuple[str, ...] = ()
    allowed_tables: tuple[str, ...] = ()
    denied_tables: tuple[str, ...] = ()
    workers: int = field(default_factory=default_workers)

    def __post_init__(self) -> None:
        checked_limits(self.timeout_s, self.max_rows)
        for name in ("allowed_functions", "allowed_tables", "denied_tables"):
            names = getattr(self, name)
            if isinstance(names, str) or not all(isinstance(n, str) for n in names):
                raise ConfigError(f"execution: {name} must be a list of names, not {names!r}")
            object.__setattr__(self, name, tuple(names))
        if not isinstance(self.max_result_bytes, int) or self.max_result_bytes < 1024:
            raise ConfigError(f"execution: max_result_bytes {self.max_result_bytes!r} is not usable",
                              hint="give at least 1024 bytes")
        try:
            self.budget  # noqa: B018 - ResultBudget checks the two sizes
        except ValueError as error:
            raise ConfigError(f"execution: {error}") from None
        if not isinstance(self.workers, int) or self.workers < 1:
            raise ConfigError(f"execution: workers {self.workers!r} is not usable", hint="give a whole number >= 1")


def default_cache_dir() -> Path:
    """Where mscsql keeps caches (gold results, value indexes): ``$MSCSQL_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/mscsql``, else ``~/.cache/mscsql``."""
    base = os.environ.get("MSCSQL_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mscsql")
    return Path(base)
