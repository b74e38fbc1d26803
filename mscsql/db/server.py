"""Databases behind a server (PostgreSQL, MySQL / MariaDB), through SQLAlchemy.

SQLAlchemy gives the URL handling, the connection pool and introspection; statements run on the
driver's own connection so that each engine's read-only transaction, statement timeout and
cancellation can be set exactly (see ``postgres.py`` and ``mysql.py``).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from mscsql.db.base import GuardedDatabase, result_failed
from mscsql.errors import DatabaseConnectionError, DatabaseError, MscSqlError
from mscsql.types import Column, ExecutionResult, ExecutionStatus, ForeignKey, ResultBudget, Schema, Table

log = logging.getLogger(__name__)

_UNKNOWN = object()

#: schemas that hold the engine's own catalogue, never the user's data
_SYSTEM_SCHEMAS = frozenset({"information_schema", "pg_catalog", "pg_toast", "mysql", "performance_schema",
                             "sys"})


class EngineDriver(Protocol):
    """What differs between server engines: session set-up, the read-only run and the cancel."""

    dialect: str

    def connect_args(self) -> dict[str, Any]: ...

    def bind(self, engine: Any) -> None: ...

    def verify(self, driver_conn: Any) -> None:
        """Check that a new session takes the pinned settings (raises SessionPinError)."""
        ...

    def run(self, driver_conn: Any, sql: str, timeout_s: float, max_rows: int,
            budget: ResultBudget) -> tuple[ExecutionResult, bool]:
        ...


class ServerDatabase(GuardedDatabase):
    def __init__(self, url: Any, driver: EngineDriver, **kwargs: Any) -> None:
        import sqlalchemy

        super().__init__(**kwargs)
        self.dialect = driver.dialect
        self._driver = driver
        self.url = url
        workers = self.execution.workers
        self.engine = sqlalchemy.create_engine(url, pool_size=workers, max_overflow=workers,
                                               pool_pre_ping=True, connect_args=driver.connect_args())
        driver.bind(self.engine)
        self._privileged: object = _UNKNOWN
        self._check_reachable()

    @property
    def display_url(self) -> str:
        """The URL as people write it (``postgresql://``, ``mysql://``: not the driver mscsql picked), without
        the password."""
        return self.url.set(drivername=self.url.get_backend_name()).render_as_string(hide_password=True)

    def _check_reachable(self) -> None:
        """Connect once: the server must be reachable and take the pinned session settings."""
        try:
            conn = self.engine.raw_connection()
        except Exception as err:  # the drivers raise many types; all mean the same thing here
            first = str(getattr(err, "orig", err)).strip().splitlines()
            detail = first[0] if first else type(err).__name__
            raise DatabaseConnectionError(
                f"cannot connect to {self.display_url}: {detail}",
                hint="check that the server is running, the host, port, user and database name, "
                     "and the password") from None
        try:
            self._driver.verify(conn.driver_connection)
        except MscSqlError:
            conn.invalidate()
            self.engine.dispose()
            raise
        except Exception as err:
            conn.invalidate()
            self.engine.dispose()
            raise DatabaseConnectionError(f"cannot prepare a read-only session on {self.display_url}: {err}") from None
        conn.close()

    @property
    def privileged(self) -> str | None:
        """Why the login can do more than read (a superuser, root, file or administration privileges), or None
        for a least-privilege login (see ``mscsql db readonly-role``)."""
        from mscsql.db.roles import privilege_problem

        if self._privileged is _UNKNOWN:
            self._privileged = privilege_problem(self.engine, self.dialect)
        return self._privileged  # type: ignore[return-value]

    def _run_readonly(self, sql: str, timeout_s: float, max_rows: int,
                      budget: ResultBudget | None = None) -> ExecutionResult:
        if "\x00" in sql:  # C client libraries would cut the text at the NUL and run only its start
            return result_failed(sql, ExecutionStatus.ERROR, "the statement contains a NUL character", 0.0)
        try:
            pooled = self.engine.raw_connection()
        except Exception as err:  # the drivers raise many types; all mean the server is out of reach
            raise DatabaseConnectionError(f"no connection to {self.display_url}: {err}") from err
        try:
            result, reusable = self._driver.run(pooled.driver_connection, sql, timeout_s, max_rows,
                                                budget or self.execution.budget)
        except MscSqlError:
            pooled.invalidate()
            raise
        except Exception as err:
            pooled.invalidate()  # a connection in an unknown state never goes back to the pool
            raise DatabaseConnectionError(f"lost the connection to {self.display_url}: {err}") from err
        except BaseException:  # interrupted (Ctrl+C) mid-statement: nor does this one
            pooled.invalidate()
            raise
        if reusable:
            pooled.close()
        else:
            pooled.invalidate()
        return result

    def quote(self, identifier: str) -> str:
        return self.engine.dialect.identifier_preparer.quote_identifier(identifier)

    def _introspect(self) -> Schema:
        import sqlalchemy

        try:
            inspector = sqlalchemy.inspect(self.engine)
            default = inspector.default_schema_name
            schemas = [default] if self.dialect == "mysql" else [
                s for s in inspector.get_schema_names()
                if s not in _SYSTEM_SCHEMAS and not s.startswith("pg_")]
            tables: list[Table] = []
            for schema in schemas:
                qualifier = None if schema == default else schema
                names = [(n, "table") for n in sorted(inspector.get_table_names(schema=schema))]
                names += [(n, "view") for n in sorted(inspector.get_view_names(schema=schema))]
                for name, kind in names:
                    tables.append(self._describe(inspector, name, schema, qualifier, kind, default))
        except sqlalchemy.exc.SQLAlchemyError as err:
            raise DatabaseError(f"cannot introspect {self.display_url}: {err}") from None
        return Schema(dialect=self.dialect, tables=tuple(tables))

    def _describe(self, inspector: Any, name: str, schema: str, qualifier: str | None, kind: str,
                  default: str) -> Table:
        pk = tuple(inspector.get_pk_constraint(name, schema=schema).get("constrained_columns") or ())
        columns = tuple(
            Column(name=c["name"], type=self._type_name(c["type"]), nullable=bool(c.get("nullable", True)),
                   primary_key=c["name"] in pk, description=(c.get("comment") or "").strip() or None)
            for c in inspector.get_columns(name, schema=schema))
        fks = []
        if kind == "table":
            for fk in inspector.get_foreign_keys(name, schema=schema):
                ref_schema = fk.get("referred_schema")
                ref = fk["referred_table"]
                if ref_schema and ref_schema != default:
                    ref = f"{ref_schema}.{ref}"
                fks.append(ForeignKey(columns=tuple(fk["constrained_columns"]), ref_table=ref,
                                      ref_columns=tuple(fk["referred_columns"])))
        return Table(name=name, schema=qualifier, columns=columns, kind=kind, primary_key=pk,
                     foreign_keys=tuple(fks), description=self._table_comment(inspector, name, schema))

    def _table_comment(self, inspector: Any, name: str, schema: str) -> str | None:
        """The table's own comment (PostgreSQL ``COMMENT ON TABLE``, MySQL's table comment), if any."""
        import sqlalchemy

        try:
            text = (inspector.get_table_comment(name, schema=schema) or {}).get("text")
        except (NotImplementedError, sqlalchemy.exc.SQLAlchemyError):
            return None
        return (text.strip() or None) if isinstance(text, str) else None

    def _type_name(self, type_: Any) -> str:
        try:
            return str(type_.compile(dialect=self.engine.dialect))
        except Exception:  # NullType and unknown types cannot be compiled
            return ""

    def close(self) -> None:
        self.engine.dispose()
