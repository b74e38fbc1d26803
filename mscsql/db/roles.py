"""Least privilege: who a login is, and the SQL for a role that can only read.

``mscsql db readonly-role URL --name NAME`` prints the statements of :func:`readonly_role_plan` and, with
``--apply``, runs exactly those statements, as the administrator the URL names, and nothing else: never a
generated query. It only creates: a role (PostgreSQL) or user (MySQL) that already exists is refused.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

from mscsql.errors import ConfigError, DatabaseError, MscSqlError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
#: MySQL global privileges that reach past reading the data (files, other sessions, the server, users)
_MYSQL_POWERFUL = frozenset({"SUPER", "FILE", "PROCESS", "SHUTDOWN", "RELOAD", "CREATE USER", "GRANT OPTION",
                             "REPLICATION SLAVE ADMIN", "SYSTEM_VARIABLES_ADMIN", "CONNECTION_ADMIN",
                             "BINLOG ADMIN", "READ_ONLY ADMIN", "SET USER"})
_PG_PRIVILEGE_QUERY = (
    "SELECT r.rolsuper, r.rolcreaterole, r.rolreplication, r.rolbypassrls, "
    "pg_has_role(current_user, 'pg_read_server_files', 'MEMBER'), "
    "pg_has_role(current_user, 'pg_write_server_files', 'MEMBER'), "
    "pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER'), current_user "
    "FROM pg_roles AS r WHERE r.rolname = current_user")
_PG_LABELS = ("a superuser", "allowed to create roles", "a replication role", "allowed to bypass row security",
              "allowed to read server files", "allowed to write server files", "allowed to run server programs")


def privilege_problem(engine: Any, dialect: str) -> str | None:
    """Why the login behind ``engine`` can do more than read, or None when it cannot (as far as the server's
    catalogue tells)."""
    import sqlalchemy

    with engine.connect() as conn:
        if dialect == "postgresql":
            row = conn.execute(sqlalchemy.text(_PG_PRIVILEGE_QUERY)).one()
            found = [label for label, flag in zip(_PG_LABELS, row[:7], strict=True) if flag]
            if row[0]:
                return f"the login {row[7]!r} is a superuser"
            return f"the login {row[7]!r} is {', '.join(found)}" if found else None
        user = conn.execute(sqlalchemy.text("SELECT CURRENT_USER()")).scalar_one()
        name, _, host = str(user).rpartition("@")
        grantee = f"'{name}'@'{host}'"
        rows = conn.execute(sqlalchemy.text("SELECT PRIVILEGE_TYPE, IS_GRANTABLE FROM "
                                            "information_schema.USER_PRIVILEGES WHERE GRANTEE = :grantee"),
                            {"grantee": grantee}).all()
        powers = sorted({p for p, _g in rows if p in _MYSQL_POWERFUL}
                        | {"GRANT OPTION" for _p, g in rows if g == "YES"})
        return f"the login {user!r} holds {', '.join(powers)}" if powers else None


@dataclass(frozen=True)
class RolePlan:
    """The statements that make a read-only role: as shown (passwords masked) and as run."""

    dialect: str
    name: str
    shown: list[str] = field(default_factory=list)
    run: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, shown: str, run: str | None = None) -> None:
        self.shown.append(shown)
        self.run.append(run if run is not None else shown)


def _pg_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _pg_literal(text: str) -> str:  # the admin session runs with standard_conforming_strings = on
    return "'" + text.replace("'", "''") + "'"


def _mysql_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _mysql_literal(text: str) -> str:  # the admin session runs without NO_BACKSLASH_ESCAPES
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def readonly_role_plan(dialect: str, *, name: str, database: str, schemas: list[str], timeout_s: float,
                       password: str | None = None, host: str = "%", mariadb: bool = True) -> RolePlan:
    """The statements for a login that can only ``SELECT`` (``schemas`` on PostgreSQL; ``database`` on MySQL),
    with a statement timeout the server enforces."""
    if not _NAME.match(name):
        raise ConfigError(f"role name {name!r} is not a plain identifier",
                          hint="use letters, digits and underscores, starting with a letter (e.g. mscsql_reader)")
    plan = RolePlan(dialect=dialect, name=name)
    ms = max(1, int(timeout_s * 1000))
    if dialect == "postgresql":
        role = _pg_ident(name)
        create = f"CREATE ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS " \
                 f"NOINHERIT CONNECTION LIMIT 32"
        if password:
            plan.add(create + " PASSWORD '********'", create + f" PASSWORD {_pg_literal(password)}")
        else:
            plan.add(create)
            plan.notes.append("the role has no password: give it one (\\password in psql, or --password-env) "
                              "unless the server authenticates it another way")
        plan.add(f"ALTER ROLE {role} SET default_transaction_read_only = on")
        plan.add(f"ALTER ROLE {role} SET statement_timeout = '{ms}ms'")
        plan.add(f"ALTER ROLE {role} SET idle_in_transaction_session_timeout = '{ms + 30_000}ms'")
        plan.add(f"GRANT CONNECT ON DATABASE {_pg_ident(database)} TO {role}")
        for schema in schemas:
            plan.add(f"GRANT USAGE ON SCHEMA {_pg_ident(schema)} TO {role}")
            plan.add(f"GRANT SELECT ON ALL TABLES IN SCHEMA {_pg_ident(schema)} TO {role}")
        plan.notes.append("tables created later need their own GRANT SELECT (run this command's GRANT lines again)")
        return plan
    if not password:
        raise ConfigError("a MySQL user needs a password", hint="pass --password-env VAR with the password in $VAR")
    user = f"{_mysql_literal(name)}@{_mysql_literal(host)}"
    limits = "WITH MAX_USER_CONNECTIONS 32" + (f" MAX_STATEMENT_TIME {timeout_s:g}" if mariadb else "")
    plan.add(f"CREATE USER {user} IDENTIFIED BY '********' {limits}",
             f"CREATE USER {user} IDENTIFIED BY {_mysql_literal(password)} {limits}")
    plan.add(f"GRANT SELECT ON {_mysql_ident(database)}.* TO {user}")
    if not mariadb:
        plan.notes.append("MySQL has no per-user statement timeout; mscsql sets max_execution_time on every "
                          "statement")
    return plan


def role_exists(conn: Any, dialect: str, name: str, host: str = "%") -> bool:
    with conn.cursor() as cursor:
        if dialect == "postgresql":
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
        else:
            cursor.execute("SELECT 1 FROM mysql.user WHERE User = %s AND Host = %s", (name, host))
        return cursor.fetchone() is not None


def apply_plan(conn: Any, plan: RolePlan, host: str = "%") -> None:
    """Run the plan's statements on the administrator's DBAPI connection ``conn`` (in one transaction on
    PostgreSQL), after checking that the role does not exist yet. The server's refusal (a login that may not
    create roles, a read-only session, an unknown schema) is one :class:`DatabaseError`."""
    ran: list[str] = []
    try:
        _apply(conn, plan, host, ran)
    except MscSqlError:
        raise
    except Exception as err:  # the driver's error: the server refused a statement
        with contextlib.suppress(Exception):  # the connection may be gone: the refusal is what to report
            conn.rollback()
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        kept = ""
        if plan.dialect != "postgresql" and ran:  # MySQL commits each CREATE USER and GRANT as it runs
            kept = f"; {len(ran)} statement(s) before it took effect (MySQL cannot undo them): " + "; ".join(ran)
        raise DatabaseError(f"the server refused to make the role {plan.name!r}: {reason}{kept}",
                            hint="run it as a login that may create roles and grant rights (an administrator or "
                                 "the database's owner), or run the printed statements yourself") from None


def _apply(conn: Any, plan: RolePlan, host: str, ran: list[str]) -> None:
    if role_exists(conn, plan.dialect, plan.name, host):
        raise DatabaseError(f"a role named {plan.name!r} already exists; mscsql only creates new roles",
                            hint="choose another --name, or drop the existing role yourself")
    with conn.cursor() as cursor:
        if plan.dialect == "postgresql":
            cursor.execute("SET standard_conforming_strings = on")
            for statement in plan.run:
                cursor.execute(statement)
            conn.commit()
        else:
            from mscsql.db.mysql import pinned_sql_mode

            cursor.execute("SELECT @@SESSION.sql_mode")
            cursor.execute(f"SET SESSION sql_mode = '{pinned_sql_mode(cursor.fetchone()[0] or '')}'")
            for statement, shown in zip(plan.run, plan.shown, strict=True):
                cursor.execute(statement)
                ran.append(shown)
