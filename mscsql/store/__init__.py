"""What mscsql keeps between requests: answers and feedback, verified examples, conversations and notes about
databases, in a SQLAlchemy database (SQLite for one process, PostgreSQL for several replicas), with versioned
schema migrations."""

from mscsql.store.examples import promotion, verify_sql
from mscsql.store.store import Store

__all__ = ["Store", "promotion", "verify_sql"]
