"""The database layer: connect, describe and query SQLite, PostgreSQL and MySQL without ever writing.

Importing this package imports no database driver; drivers load when a URL needs them.
"""

from mscsql.db.base import Database
from mscsql.db.connect import connect
from mscsql.db.execute_many import execute_many
from mscsql.db.guard import check_sql, is_read_only

__all__ = ["Database", "check_sql", "connect", "execute_many", "is_read_only"]
