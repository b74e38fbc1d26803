"""mscsql: text-to-SQL with multi-sample critiquing.

Importing ``mscsql`` loads no heavy backend: torch, transformers, vllm and database drivers are imported only by
the code paths that need them, and the names below are imported when first used (so a command that scores a
benchmark does not load the pipeline).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from mscsql.errors import MscSqlError

if TYPE_CHECKING:
    from mscsql.answer import Answer
    from mscsql.db import Database, connect, execute_many
    from mscsql.pipeline import TextToSQL
    from mscsql.types import ExecutionResult, ExecutionStatus, ResultBudget, Schema

__version__ = "0.1.0"

#: public name -> the module that defines it
_LAZY = {"Answer": "mscsql.answer", "Database": "mscsql.db", "connect": "mscsql.db", "execute_many": "mscsql.db",
         "TextToSQL": "mscsql.pipeline", "ExecutionResult": "mscsql.types", "ExecutionStatus": "mscsql.types",
         "Schema": "mscsql.types", "ResultBudget": "mscsql.types"}

__all__ = ["Answer", "Database", "ExecutionResult", "ExecutionStatus", "MscSqlError", "ResultBudget", "Schema",
           "TextToSQL", "__version__", "connect", "execute_many"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mscsql' has no attribute {name!r}")
