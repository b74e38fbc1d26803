"""``connect(target)``: a SQLAlchemy URL or a path to a SQLite file -> a read-only :class:`Database`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mscsql.db.base import Database
from mscsql.db.descriptions import annotator
from mscsql.errors import BackendUnavailable, DatabaseError, DatabaseNotFound

if TYPE_CHECKING:
    from mscsql.config import SchemaSettings
    from mscsql.defaults import ExecutionView

#: URL scheme (before any "+driver") -> (SQLAlchemy scheme with driver, driver module, pip extra)
_SERVER_SCHEMES = {
    "postgresql": ("postgresql+psycopg", "psycopg", "postgres"),
    "postgres": ("postgresql+psycopg", "psycopg", "postgres"),
    "mysql": ("mysql+pymysql", "pymysql", "mysql"),
    "mariadb": ("mariadb+pymysql", "pymysql", "mysql"),
}
_URL_EXAMPLES = "use e.g. sqlite:///path/to/db.sqlite, postgresql://user@host:5432/db or mysql://user@host:3306/db"


def _require(module: str, extra: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise BackendUnavailable(f"the {module} driver is not installed",
                                 hint=f"install it with: pip install 'mscsql[{extra}]'")


def _parse_url(target: str) -> Any:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(target)
        url.port  # noqa: B018 (a malformed port or host raises only when it is read)
    except (ArgumentError, ValueError) as err:
        raise DatabaseError(f"{_redacted(target)!r} is not a valid database URL: {_redacted(str(err))}",
                            hint=_URL_EXAMPLES) from None
    return url


def _redacted(text: str) -> str:
    """``text`` with the password of any ``scheme://user:password@`` in it replaced by ``***``."""
    import re

    return re.sub(r"(://[^:/@\s]*:)[^/\s]*@", r"\1***@", text)  # up to the last @: a password may hold one


def _check_driver(url: Any, backend: str, module: str) -> None:
    """A URL may name the driver mscsql uses for its engine (``postgresql+psycopg``), or none."""
    driver = url.get_driver_name() if "+" in url.drivername else None
    if driver is not None and driver != module:
        raise DatabaseError(f"mscsql connects to {backend} through {module}, not {driver!r}",
                            hint=f"write the URL as {backend}://... or {backend}+{module}://...")


def parse_server_url(target: str, command: str) -> tuple[Any, str]:
    """``(url, dialect)`` for a PostgreSQL or MySQL URL (its driver installed), for the admin commands."""
    url = _parse_url(str(target)) if "://" in str(target) else None
    backend = url.get_backend_name() if url is not None else "sqlite"
    if backend not in _SERVER_SCHEMES:
        hint = ("for the demo as a SQLite file, give --out PATH instead of --db" if command.startswith("mscsql demo")
                else "a SQLite file is opened read-only by mscsql itself; give e.g. postgresql://user@host/db")
        raise DatabaseError(f"{command} needs a PostgreSQL or MySQL URL, not {_redacted(str(target))!r}", hint=hint)
    _scheme, module, extra = _SERVER_SCHEMES[backend]
    _check_driver(url, backend, module)
    _require(module, extra)
    if not url.database:
        raise DatabaseError(f"the URL {url.render_as_string(hide_password=True)} names no database",
                            hint="end it with /database_name")
    return url, "postgresql" if module == "psycopg" else "mysql"


def connect(target: str | Path | Database, *, db_id: str | None = None, tables_json: str | Path | None = None,
            descriptions_dir: str | Path | None = None, execution: ExecutionView | None = None,
            schema_settings: SchemaSettings | None = None, text_decoding: str = "replace") -> Database:
    """Open a database read-only.

    ``target`` is a SQLAlchemy URL (``sqlite:///…``, ``postgresql[+psycopg]://…``,
    ``mysql[+pymysql]://…``, ``mariadb://…``) or the path of an existing SQLite file. Optional
    ``tables_json`` (Spider/BIRD) and ``descriptions_dir`` (BIRD ``database_description/``) add
    natural-language names and descriptions to :meth:`Database.schema`; for a SQLite file a
    ``database_description`` folder beside it is used automatically. ``text_decoding`` ("replace",
    "ignore" or "strict") says how SQLite text that is not valid UTF-8 is decoded.
    """
    if isinstance(target, Database) and not isinstance(target, (str, Path)):
        return target
    text = str(target)
    options: dict[str, Any] = {"execution": execution, "schema_settings": schema_settings}
    if "://" not in text:
        path = Path(text).expanduser()
        if not path.is_file():
            raise DatabaseNotFound(f"no SQLite database at {path}",
                                   hint="give the path of an existing .sqlite file or a database URL such as "
                                        "postgresql://user@localhost/dbname")
        return _sqlite(path, db_id, tables_json, descriptions_dir, {**options, "text_decoding": text_decoding})
    url = _parse_url(text)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if "+" in url.drivername and url.get_driver_name() != "pysqlite":
            raise DatabaseError(f"mscsql opens SQLite files itself, not through {url.get_driver_name()!r}",
                                hint="write the URL as sqlite:///path/to/db.sqlite")
        if not url.database or url.database == ":memory:":
            raise DatabaseError("an in-memory SQLite database has nothing to query",
                                hint="give the path of an existing .sqlite file")
        return _sqlite(Path(url.database).expanduser(), db_id, tables_json, descriptions_dir,
                       {**options, "text_decoding": text_decoding})
    if backend not in _SERVER_SCHEMES:
        raise DatabaseError(f"unsupported database {backend!r} in {url.render_as_string(hide_password=True)}",
                            hint="mscsql supports sqlite, postgresql and mysql/mariadb URLs")
    scheme, module, extra = _SERVER_SCHEMES[backend]
    _check_driver(url, backend, module)
    _require(module, extra)
    url = url.set(drivername=scheme)
    annotate = annotator(db_id=db_id or url.database, tables_json=tables_json, descriptions_dir=descriptions_dir)
    from mscsql.db.server import ServerDatabase

    if module == "psycopg":
        from mscsql.db.postgres import PostgresDriver

        driver: Any = PostgresDriver()
    else:
        from mscsql.db.mysql import MySQLDriver

        driver = MySQLDriver()
    return ServerDatabase(url, driver, annotate=annotate, db_id=db_id or url.database, **options)


def _sqlite(path: Path, db_id: str | None, tables_json: Any, descriptions_dir: Any,
            options: dict[str, Any]) -> Database:
    from mscsql.db.sqlite import SQLiteDatabase

    if not path.is_file():
        raise DatabaseNotFound(f"SQLite database {path} does not exist",
                               hint="check the path; mscsql never creates an empty database in its place")
    db_id = db_id or path.stem
    if descriptions_dir is None and (path.parent / "database_description").is_dir():
        descriptions_dir = path.parent / "database_description"
    annotate = annotator(db_id=db_id, tables_json=tables_json, descriptions_dir=descriptions_dir)
    return SQLiteDatabase(path, annotate=annotate, db_id=db_id, **options)
