"""What mscsql keeps between requests: answers and feedback, verified examples, conversations and notes about
databases, in a SQLAlchemy database (SQLite for one process, PostgreSQL for several replicas), with versioned
schema migrations."""

from mscsql.store.examples import promoted_example, verify_sql
from mscsql.store.store import Store

__all__ = ["Store", "promoted_example", "verify_sql"]
