"""mscsql: text-to-SQL with multi-sample critiquing.

Importing ``mscsql`` loads no heavy backend: torch, transformers, vllm and database drivers are
imported only by the code paths that need them.
"""

from mscsql.answer import Answer
from mscsql.db import Database, connect, execute_many
from mscsql.errors import MscSqlError
from mscsql.pipeline import TextToSQL
from mscsql.types import ExecutionResult, ExecutionStatus, Schema

__version__ = "0.1.0"

__all__ = ["Answer", "Database", "ExecutionResult", "ExecutionStatus", "MscSqlError", "Schema", "TextToSQL",
           "__version__", "connect", "execute_many"]
