"""What mscsql keeps between requests: answers (later feedback and verified examples), in a SQLAlchemy
database (SQLite for one process, PostgreSQL for several replicas), with versioned schema migrations."""

from mscsql.store.answers import AnswerStore

__all__ = ["AnswerStore"]
