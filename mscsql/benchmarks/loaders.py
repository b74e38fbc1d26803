"""Benchmark loaders: Spider, BIRD and BIRD mini-dev, in the folder layouts their authors distribute.

Each loader returns a :class:`Benchmark`: the questions in file order with their gold SQL, database
and difficulty. A question whose database file is missing is an error naming the database, unless
``allow_missing_db`` is set: then the question is kept with ``database=None`` and reported as skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mscsql.errors import DatasetError
from mscsql.fileio import read_text_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchmarkItem:
    index: int  # 0-based position in the benchmark file
    db_id: str
    question: str
    gold_sql: str
    question_id: int | str | None = None
    evidence: str | None = None
    difficulty: str | None = None  # BIRD: simple/moderate/challenging; Spider: easy/medium/hard/extra
    #: a SQLite file or a database URL; None when the database is missing
    database: str | None = None
    #: Spider test-suite: every database variant for this db_id (empty when not available)
    variants: tuple[str, ...] = ()


@dataclass(frozen=True)
class Benchmark:
    name: str
    dialect: str
    items: tuple[BenchmarkItem, ...]
    difficulty_levels: tuple[str, ...]
    #: dataset files and their sha256, for provenance
    files: dict[str, str] = field(default_factory=dict)
    missing_databases: tuple[str, ...] = ()
    #: the number of questions in the benchmark file, when ``items`` is a subset of them (see
    #: :mod:`mscsql.benchmarks.subsets`); prediction files are aligned with the whole file
    subset_of: int | None = None

    def __len__(self) -> int:
        return len(self.items)

    @property
    def file_size(self) -> int:
        """How many questions the benchmark file has (prediction files have one line per question)."""
        return self.subset_of if self.subset_of is not None else len(self.items)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: the benchmark folders' layouts, as an error's hint says them
LAYOUTS = ("the layouts: Spider: dev.json, tables.json, database/<db_id>/<db_id>.sqlite; BIRD: dev.json, "
           "dev_tables.json, dev_databases/<db_id>/<db_id>.sqlite (every layout: data/README.md in the repository)")


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise DatasetError(f"benchmark file {path} does not exist",
                           hint=f"check --data-dir; {LAYOUTS}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path} is not valid JSON: {err}") from None


def _read_gold_file(path: Path, expected: int) -> list[str] | None:
    """``SQL<TAB>db_id`` lines, when the file exists; it must have one line per question."""
    if not path.is_file():
        return None
    lines = [line for line in read_text_file(path, "gold file", DatasetError).splitlines() if line.strip()]
    if len(lines) != expected:
        raise DatasetError(f"{path} has {len(lines)} gold queries but the questions file has {expected}")
    return [line.split("\t")[0].strip() for line in lines]


def _find_database(roots: list[Path], db_id: str) -> Path | None:
    for root in roots:
        path = root / db_id / f"{db_id}.sqlite"
        if path.is_file():
            return path
    return None


def _resolve_databases(items: list[BenchmarkItem], roots: list[Path], allow_missing_db: bool | str,
                       variants_root: Path | None, name: str) -> tuple[list[BenchmarkItem], tuple[str, ...]]:
    found: dict[str, Path | None] = {}
    for item in items:
        if item.db_id not in found:
            found[item.db_id] = _find_database(roots, item.db_id)
    missing = tuple(sorted(db for db, path in found.items() if path is None))
    if missing and not allow_missing_db:
        where = " or ".join(str(r) for r in roots)
        count = sum(1 for i in items if i.db_id in missing)
        raise DatasetError(f"{name}: {count} questions need databases that are missing under {where}: "
                           f"{', '.join(missing)}",
                           hint="add the databases, or pass --allow-missing-db to skip those questions")
    variants: dict[str, tuple[str, ...]] = {}
    if variants_root is not None:
        for db_id in found:
            folder = variants_root / db_id
            # the official evaluator runs on every file of the folder whose name contains ".sqlite"
            variants[db_id] = tuple(sorted(str(p) for p in folder.iterdir() if ".sqlite" in p.name)
                                    ) if folder.is_dir() else ()
    resolved = [BenchmarkItem(**{**item.__dict__, "database": str(found[item.db_id]) if found[item.db_id] else None,
                                 "variants": variants.get(item.db_id, ())}) for item in items]
    if missing and allow_missing_db != SCHEMA_ONLY:
        log.warning("%s: skipping %d questions whose databases are missing: %s", name,
                    sum(1 for i in items if i.db_id in missing), ", ".join(missing))
    return resolved, missing


def load_spider(data_dir: str | Path, split: str = "dev", *, allow_missing_db: bool | str = False,
                cache_dir: Path | None = None, use_cache: bool = True) -> Benchmark:
    """Spider 1.0: ``dev.json`` (or ``test.json``, or the training files), the gold file beside it when there is
    one, ``database/`` (``test_database/`` for the test split, whose schemas are in ``test_tables.json``) and
    ``test_suite_database/`` (dev). The gold queries' hardness levels are kept in ``cache_dir`` (default:
    mscsql's cache folder; ``use_cache=False``: not kept)."""
    from mscsql.benchmarks.hardness import spider_hardness_levels

    root = Path(data_dir)
    if split in ("dev", "test"):
        questions_path = root / f"{split}.json"
    else:
        candidates = [root / "train_spider.json", root / "train" / "train_spider_stripped.json",
                      root / "train_spider_stripped.json"]
        questions_path = next((p for p in candidates if p.is_file()), candidates[0])
    entries = _read_json(questions_path)
    _check_layout(entries, f"spider-{split}", questions_path)
    gold_path = root / f"{split}_gold.sql"
    gold = _read_gold_file(gold_path, len(entries)) or [e["query"] for e in entries]
    levels = spider_hardness_levels(gold, cache_dir, keep=use_cache)
    items = [BenchmarkItem(index=i, db_id=e["db_id"], question=e.get("question", ""), gold_sql=sql,
                           difficulty=level)
             for i, (e, sql, level) in enumerate(zip(entries, gold, levels, strict=True))]
    suite = root / "test_suite_database"
    databases = [root / "test_database", root / "database"] if split == "test" else [root / "database"]
    items, missing = _resolve_databases(items, databases, allow_missing_db,
                                        suite if suite.is_dir() and split != "test" else None, f"spider-{split}")
    tables = root / ("test_tables.json" if split == "test" and (root / "test_tables.json").is_file() else "tables.json")
    files = {p.name: sha256_file(p) for p in (questions_path, gold_path, tables) if p.is_file()}
    return Benchmark(name=f"spider-{split}", dialect="sqlite", items=tuple(items),
                     difficulty_levels=("easy", "medium", "hard", "extra"), files=files, missing_databases=missing)


def _check_layout(entries: list[dict[str, Any]], name: str, path: Path) -> None:
    """One clear error when ``path`` holds the other benchmark's questions (Spider writes ``query``, BIRD ``SQL``
    with ``evidence``)."""
    sample = [e for e in entries[:50] if isinstance(e, dict)]
    spider_like = bool(sample) and all("query" in e and "SQL" not in e for e in sample)
    bird_like = bool(sample) and all("SQL" in e and "query" not in e for e in sample)
    if name.startswith("bird") and spider_like:
        raise DatasetError(f"{path} holds Spider questions (a 'query' field, no 'SQL'), not {name}'s",
                           hint="use --benchmark spider-dev, or point --data-dir at BIRD's dev folder")
    if name.startswith("spider") and bird_like:
        raise DatasetError(f"{path} holds BIRD questions (an 'SQL' field, no 'query'), not {name}'s",
                           hint="use --benchmark bird-dev, or point --data-dir at Spider's folder")


def _bird_items(entries: list[dict[str, Any]], gold: list[str] | None) -> list[BenchmarkItem]:
    items = []
    for i, entry in enumerate(entries):
        sql = gold[i] if gold is not None else entry.get("SQL")
        if not isinstance(sql, str):
            raise DatasetError(f"question {i} has no gold SQL")
        items.append(BenchmarkItem(index=i, db_id=entry["db_id"], question=entry.get("question", ""), gold_sql=sql,
                                   question_id=entry.get("question_id", i), evidence=entry.get("evidence") or None,
                                   difficulty=entry.get("difficulty")))
    return items


def load_bird(data_dir: str | Path, split: str = "dev", *, allow_missing_db: bool | str = False) -> Benchmark:
    """BIRD (``dev.json``/``train.json``, ``dev_databases/<db>/<db>.sqlite``, optional ``dev_gold.sql``)."""
    root = Path(data_dir)
    questions_path = root / f"{split}.json"
    entries = _read_json(questions_path)
    _check_layout(entries, f"bird-{split}", questions_path)
    gold_path = next((p for p in (root / f"{split}_gold.sql", root / f"{split}.sql") if p.is_file()),
                     root / f"{split}_gold.sql")
    items = _bird_items(entries, _read_gold_file(gold_path, len(entries)))
    roots = [root / f"{split}_databases", root / "databases", root / "database"]
    items, missing = _resolve_databases(items, roots, allow_missing_db, None, f"bird-{split}")
    files = {p.name: sha256_file(p) for p in (questions_path, gold_path) if p.is_file()}
    return Benchmark(name=f"bird-{split}", dialect="sqlite", items=tuple(items),
                     difficulty_levels=("simple", "moderate", "challenging"), files=files, missing_databases=missing)


def load_bird_minidev(data_dir: str | Path, dialect: str = "sqlite", *, allow_missing_db: bool | str = False,
                      db_url: str | None = None) -> Benchmark:
    """BIRD mini-dev (``mini_dev_<dialect>.json`` and ``mini_dev_<dialect>_gold.sql``).

    SQLite databases are looked up under ``dev_databases/``; for MySQL and PostgreSQL the gold SQL runs
    on ``db_url``, one server database that holds the mini-dev tables (as the official tool expects), or
    a URL template containing ``{db_id}``.
    """
    root = Path(data_dir)
    questions_path = root / f"mini_dev_{dialect}.json"
    entries = _read_json(questions_path)
    _check_layout(entries, "bird-minidev", questions_path)
    gold_path = root / f"mini_dev_{dialect}_gold.sql"
    items = _bird_items(entries, _read_gold_file(gold_path, len(entries)))
    missing: tuple[str, ...] = ()
    if dialect == "sqlite":
        items, missing = _resolve_databases(items, [root / "dev_databases", root / "databases"], allow_missing_db,
                                            None, "bird-minidev")
    elif db_url is not None:
        items = [BenchmarkItem(**{**i.__dict__, "database": db_url.replace("{db_id}", i.db_id)}) for i in items]
    elif not allow_missing_db:
        raise DatasetError(f"bird-minidev-{dialect} needs the server database that holds the mini-dev tables",
                           hint="pass --db-url, e.g. postgresql://user@localhost/bird or mysql://user@localhost/BIRD")
    else:
        missing = tuple(sorted({i.db_id for i in items}))
    files = {p.name: sha256_file(p) for p in (questions_path, gold_path) if p.is_file()}
    name = "bird-minidev" if dialect == "sqlite" else f"bird-minidev-{dialect}"
    return Benchmark(name=name, dialect=dialect, items=tuple(items),
                     difficulty_levels=("simple", "moderate", "challenging"), files=files, missing_databases=missing)


_LOADERS: dict[str, Callable[..., Benchmark]] = {
    "spider-dev": lambda d, **kw: load_spider(d, "dev", **kw),
    "spider-train": lambda d, **kw: load_spider(d, "train", **kw),
    "spider-test": lambda d, **kw: load_spider(d, "test", **kw),
    "bird-dev": lambda d, **kw: load_bird(d, "dev", **kw),
    "bird-train": lambda d, **kw: load_bird(d, "train", **kw),
    "bird-minidev": lambda d, **kw: load_bird_minidev(d, "sqlite", **kw),
    "bird-minidev-mysql": lambda d, **kw: load_bird_minidev(d, "mysql", **kw),
    "bird-minidev-postgresql": lambda d, **kw: load_bird_minidev(d, "postgresql", **kw),
}
BENCHMARKS = tuple(_LOADERS)


#: ``allow_missing_db`` for a run that reads only the schemas (tables.json): databases are not needed, so a
#: missing one skips nothing and is not reported
SCHEMA_ONLY = "schema-only"


def load_benchmark(name: str, data_dir: str | Path, *, allow_missing_db: bool | str = False,
                   db_url: str | None = None, cache_dir: Path | None = None, use_cache: bool = True) -> Benchmark:
    """Load a benchmark by name (see ``BENCHMARKS``); what loading computes once and keeps (Spider's hardness
    levels) goes to ``cache_dir`` (default: mscsql's cache folder), or nowhere with ``use_cache=False``."""
    if name not in _LOADERS:
        raise DatasetError(f"unknown benchmark {name!r}", hint=f"choose one of: {', '.join(BENCHMARKS)}")
    if not Path(data_dir).is_dir():
        raise DatasetError(f"data directory {data_dir} does not exist", hint=f"check --data-dir; {LAYOUTS}")
    kwargs: dict[str, Any] = {"allow_missing_db": allow_missing_db}
    if name.startswith("spider"):
        kwargs.update(cache_dir=cache_dir, use_cache=use_cache)
    if name.startswith("bird-minidev"):
        kwargs["db_url"] = db_url
        return _LOADERS[name](data_dir, **kwargs)
    if db_url is None:
        return _LOADERS[name](data_dir, **kwargs)
    return on_server(_LOADERS[name](data_dir, **{**kwargs, "allow_missing_db": True}), db_url,
                     allow_missing_db=allow_missing_db)


def on_server(benchmark: Benchmark, db_url: str, *, allow_missing_db: bool | str = False) -> Benchmark:
    """``benchmark`` with every question's database on a server: ``db_url``, in which ``{db_id}`` stands for the
    question's database (each copied there with ``mscsql db copy``); the benchmark's dialect becomes the
    server's. A database the server does not have is missing (an error unless ``allow_missing_db``)."""
    import sqlalchemy

    from mscsql.db import connect
    from mscsql.errors import DatabaseError

    try:
        backend = sqlalchemy.engine.make_url(db_url.replace("{db_id}", "db")).get_backend_name()
    except sqlalchemy.exc.ArgumentError:
        raise DatasetError(f"--db-url {db_url!r} is not a database URL",
                           hint="e.g. postgresql://user@localhost/spider_{db_id}") from None
    dialect = {"postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql"}.get(backend)
    if dialect is None:
        raise DatasetError(f"--db-url must name a PostgreSQL or MySQL server, not {backend}",
                           hint="SQLite databases are found under --data-dir")
    present: dict[str, bool] = {}
    for db_id in dict.fromkeys(i.db_id for i in benchmark.items):
        try:
            connect(db_url.replace("{db_id}", db_id)).close()
            present[db_id] = True
        except DatabaseError:  # not there (or not reachable): the question is missing, as a missing file is
            present[db_id] = False
    missing = tuple(sorted(d for d, ok in present.items() if not ok))
    if missing and not allow_missing_db:
        raise DatasetError(f"{benchmark.name}: the server has no database for {', '.join(missing)} at "
                           f"{db_url.split('@')[-1]}", hint="copy them there with mscsql db copy, or pass "
                                                            "--allow-missing-db to skip those questions")
    items = tuple(BenchmarkItem(**{**i.__dict__, "database": db_url.replace("{db_id}", i.db_id) if present[i.db_id]
                                   else None, "variants": ()}) for i in benchmark.items)
    if missing and allow_missing_db != SCHEMA_ONLY:
        log.warning("%s: skipping %d questions whose databases the server does not have: %s", benchmark.name,
                    sum(1 for i in benchmark.items if i.db_id in missing), ", ".join(missing))
    return Benchmark(name=benchmark.name, dialect=dialect, items=items, difficulty_levels=benchmark.difficulty_levels,
                     files=benchmark.files, missing_databases=missing)


def tables_file(benchmark: Benchmark, data_dir: Path) -> Path | None:
    """The ``tables.json`` describing a benchmark's databases."""
    names = ["dev_tables.json", "tables.json"] if benchmark.name.startswith("bird") else ["tables.json"]
    if benchmark.name.endswith("train"):
        names = ["train_tables.json", *names]
    if benchmark.name == "spider-test":
        names = ["test_tables.json", *names]
    return next((data_dir / n for n in names if (data_dir / n).is_file()), None)
