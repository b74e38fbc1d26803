"""Layer 1 of the read-only guarantee: a sqlglot allowlist applied before any SQL reaches an engine.

A statement passes only if it is exactly one query whose root is a SELECT, a set operation
(UNION / INTERSECT / EXCEPT), a parenthesised query or a VALUES list, and nothing anywhere in its tree
writes, locks, exports, loads, or calls a function with side effects. Whatever sqlglot cannot parse is
refused too. The guard is deliberately conservative: the engines' own read-only modes (layer 2) and
real cancellation (layer 3) stand behind it, so a refusal here never needs to be second-guessed.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from functools import lru_cache

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from mscsql.errors import UnsafeSQLError

#: Node types whose presence anywhere in the tree means the statement is not a plain read.
_FORBIDDEN_NODES: dict[type[exp.Expression], str] = {
    exp.Insert: "INSERT",
    exp.Update: "UPDATE",
    exp.Delete: "DELETE",
    exp.Merge: "MERGE",
    exp.Create: "CREATE",
    exp.Drop: "DROP",
    exp.Alter: "ALTER",
    exp.TruncateTable: "TRUNCATE",
    exp.Into: "SELECT ... INTO",
    exp.Lock: "a locking clause (FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE)",
    exp.Command: "a statement sqlglot only knows as a raw command",
    exp.Pragma: "PRAGMA",
    exp.Attach: "ATTACH",
    exp.Detach: "DETACH",
    exp.Copy: "COPY",
    exp.Set: "SET",
    exp.Transaction: "a transaction statement",
    exp.Commit: "COMMIT",
    exp.Rollback: "ROLLBACK",
    exp.Grant: "GRANT",
    exp.Use: "USE",
    exp.PropertyEQ: "assigning a variable (:=)",
}
# Some node types exist only in some sqlglot versions; add them when present.
for _name, _label in (("Revoke", "REVOKE"), ("LoadData", "LOAD DATA"), ("Analyze", "ANALYZE"),
                      ("Cache", "CACHE"), ("Uncache", "UNCACHE"), ("Refresh", "REFRESH"),
                      ("Comment", "COMMENT ON"), ("Install", "INSTALL")):
    if hasattr(exp, _name):
        _FORBIDDEN_NODES[getattr(exp, _name)] = _label

#: Parsed "statements" that hold nothing but a semicolon and its comments.
_EMPTY_STATEMENTS: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name) for name in ("Semicolon",) if hasattr(exp, name))

#: Root node types a read-only statement may have.
_ALLOWED_ROOTS: tuple[type[exp.Expression], ...] = (exp.Select, exp.SetOperation, exp.Subquery, exp.Values)

#: Functions with side effects or access outside the database (lower-case names).
FORBIDDEN_FUNCTIONS: frozenset[str] = frozenset(
    {
        # SQLite
        "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "sqlite_dbpage",
        # PostgreSQL
        "lo_import", "lo_export", "lo_create", "lo_creat", "lo_unlink", "lo_put", "lo_from_bytea",
        "lo_open", "lo_write", "lo_truncate", "lo_truncate64", "lowrite",
        "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "pg_file_write",
        "pg_file_rename", "pg_file_unlink", "pg_logdir_ls", "pg_terminate_backend", "pg_cancel_backend",
        "pg_reload_conf", "pg_rotate_logfile", "pg_promote", "pg_switch_wal", "pg_notify",
        "pg_import_system_collations", "set_config", "setval", "nextval",
        "query_to_xml", "query_to_xml_and_xmlschema", "query_to_xmlschema", "cursor_to_xml",
        "cursor_to_xmlschema", "txid_current", "ts_stat", "ts_rewrite",  # the last two run SQL given as text
        # MySQL / MariaDB
        "load_file", "sys_exec", "sys_eval", "get_lock", "release_lock", "release_all_locks",
        "master_pos_wait", "source_pos_wait", "last_insert_id",
    }
)
#: Name prefixes of forbidden function families. PostgreSQL's ``pg_*`` administration functions are refused
#: as a family (reading files, signalling backends, resetting statistics, locks, replication, ...), except
#: the side-effect-free ones in ``ALLOWED_PG_FUNCTIONS``.
FORBIDDEN_FUNCTION_PREFIXES: tuple[str, ...] = ("dblink", "lo_", "pg_", "query_to_", "cursor_to_")
ALLOWED_PG_FUNCTIONS: frozenset[str] = frozenset({
    "pg_sleep", "pg_sleep_for", "pg_typeof", "pg_column_size", "pg_size_pretty", "pg_size_bytes",
    "pg_relation_size", "pg_total_relation_size", "pg_table_size", "pg_indexes_size", "pg_database_size",
    "pg_backend_pid", "pg_postmaster_start_time", "pg_encoding_to_char", "pg_char_to_encoding",
    "pg_get_viewdef", "pg_get_constraintdef", "pg_get_indexdef", "pg_get_expr", "pg_get_userbyid",
    "pg_get_serial_sequence", "pg_table_is_visible", "pg_type_is_visible", "pg_function_is_visible",
    "pg_input_is_valid", "pg_client_encoding", "pg_is_in_recovery", "pg_trigger_depth",
    "pg_column_compression", "pg_collation_for",
})

# MySQL executes the text inside /*! ... */ and /*M! ... */ comments, and /*+ ... */ optimizer hints can
# change session variables; sqlglot sees them as comments, so they are refused outright. MySQL also starts
# a "--" comment only when an ASCII space or control character follows, while sqlglot accepts any Unicode
# space there: "--" followed by a non-ASCII character would hide code from the guard that MySQL runs.
MYSQL_HIDDEN_CODE = re.compile(r"/\*\s*(?:M?!|\+)|--[^\x00-\x7f]")

#: the refusal reason for text without any statement (blank, or only comments and semicolons)
NO_STATEMENT = "the text contains no SQL statement"


class _QuietWhileGuarding(logging.Filter):
    """Drops sqlglot's parser warnings raised inside ``check_sql`` (in this thread only)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_GUARDING, "active", False)


_GUARDING = threading.local()
logging.getLogger("sqlglot").addFilter(_QuietWhileGuarding())

_SQLGLOT_DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres", "postgres": "postgres",
                     "mysql": "mysql", "mariadb": "mysql"}


def sqlglot_dialect(dialect: str) -> str:
    """The sqlglot dialect name for an mscsql / SQLAlchemy dialect name."""
    try:
        return _SQLGLOT_DIALECTS[dialect.lower()]
    except KeyError:
        raise UnsafeSQLError(f"unknown SQL dialect {dialect!r}; expected one of "
                             f"{sorted(_SQLGLOT_DIALECTS)}") from None


@dataclass(frozen=True)
class CheckedStatement:
    """A statement the guard accepted."""

    sql: str
    #: ``sql`` without trailing semicolons and comments: the text the engines receive
    executable: str
    #: the statement from its first to its last token: equal for statements that differ only in surrounding
    #: whitespace, comments and trailing semicolons (anything else, even keyword case, can change a result's
    #: column names, so it is kept)
    normalized: str
    dialect: str


def _forbidden_label(node_type: type[exp.Expression]) -> str | None:
    """The label of the forbidden node type ``node_type`` is (or derives from), else None; cached per type."""
    try:
        return _LABEL_BY_TYPE[node_type]
    except KeyError:
        label = next((lbl for kind, lbl in _FORBIDDEN_NODES.items() if issubclass(node_type, kind)), None)
        _LABEL_BY_TYPE[node_type] = label
        return label


_LABEL_BY_TYPE: dict[type[exp.Expression], str | None] = {}

def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    return node.sql_name().lower()


def forbidden_function(name: str) -> bool:
    """True for a function (lower-case name) the guard refuses; the SQLite authorizer uses it too."""
    if name in FORBIDDEN_FUNCTIONS:
        return True
    return name.startswith(FORBIDDEN_FUNCTION_PREFIXES) and name not in ALLOWED_PG_FUNCTIONS


def _refuse(reason: str, sql: str) -> UnsafeSQLError:
    return UnsafeSQLError(reason, sql=sql)


@lru_cache(maxsize=65536)
def check_sql(sql: str, dialect: str) -> CheckedStatement:
    """Accept ``sql`` as one read-only query in ``dialect`` or raise :class:`UnsafeSQLError` saying why."""
    if not isinstance(sql, str):
        raise _refuse(f"expected SQL text, got {type(sql).__name__}", str(sql))
    read = sqlglot_dialect(dialect)
    if "\x00" in sql:
        raise _refuse("the statement contains a NUL character", sql)
    if read == "mysql" and MYSQL_HIDDEN_CODE.search(sql):
        raise _refuse("MySQL executable comments (/*! ... */), optimizer hints (/*+ ... */) and '--' followed by "
                      "a non-ASCII character are not allowed", sql)
    _GUARDING.active = True  # sqlglot warns when it falls back to a raw Command; those are refused anyway
    try:
        engine_dialect = Dialect.get_or_raise(read)
        tokens = engine_dialect.tokenize(sql)
        statements = [s for s in engine_dialect.parser().parse(tokens, sql)
                      if s is not None and not isinstance(s, _EMPTY_STATEMENTS)]
    except SqlglotError as err:
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise _refuse(f"the statement cannot be parsed as {read} SQL ({first_line})", sql) from None
    except (RecursionError, ValueError, TypeError) as err:  # pathological input
        raise _refuse(f"the statement cannot be parsed ({type(err).__name__})", sql) from None
    finally:
        _GUARDING.active = False
    if not statements:
        raise _refuse(NO_STATEMENT, sql)
    if len(statements) > 1:
        raise _refuse(f"exactly one statement is allowed, found {len(statements)}", sql)
    tree = statements[0]
    if not isinstance(tree, _ALLOWED_ROOTS):
        first_word = sql.split(None, 1)[0].upper() if sql.split() else tree.key.upper()
        raise _refuse(f"only SELECT queries are allowed; this statement is {first_word}", sql)
    for node in tree.walk():
        label = _forbidden_label(type(node))
        if label is not None:
            raise _refuse(f"{label} is not allowed in a read-only query", sql)
        if isinstance(node, exp.Func):
            if isinstance(node, exp.Anonymous) and isinstance(node.this, exp.Identifier) and node.this.quoted:
                raise _refuse(f"quoted function names are not allowed ({node.this.sql(dialect=read)})", sql)
            name = _function_name(node)
            if forbidden_function(name):
                raise _refuse(f"function {name}() has side effects or reads outside the database", sql)
    # what the engine runs: the text up to its last token, without trailing semicolons or comments
    last = max(t.end for t in tokens if t.token_type is not TokenType.SEMICOLON)
    first = min(t.start for t in tokens)
    return CheckedStatement(sql=sql, executable=sql[: last + 1], normalized=sql[first : last + 1], dialect=read)


def is_read_only(sql: str, dialect: str) -> bool:
    """True when the guard accepts ``sql``."""
    try:
        check_sql(sql, dialect)
    except UnsafeSQLError:
        return False
    return True
