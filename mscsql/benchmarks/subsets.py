"""Subsets of a benchmark by database: ``--dbs a,b,c``, ``--dbs @file`` (one name per line), or a split of
the databases sorted by name (``even`` / ``odd`` positions), so training and evaluation can use disjoint
databases of one benchmark."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from mscsql.benchmarks.loaders import SCHEMA_ONLY, Benchmark, load_benchmark
from mscsql.errors import ConfigError, DatasetError
from mscsql.fileio import read_text_file

log = logging.getLogger(__name__)

#: the named splits: databases (sorted by name) at even positions, at odd positions
SPLITS = ("even", "odd")


def executable_databases(benchmark: Benchmark) -> list[str]:
    """The names of the benchmark's databases that are present, sorted; all of them when none is (schema-only
    work, e.g. Spider's training questions)."""
    present = sorted({item.db_id for item in benchmark.items if item.database})
    return present or sorted({item.db_id for item in benchmark.items})


def parse_db_filter(text: str | None, benchmark: Benchmark) -> list[str] | None:
    """The database names ``text`` selects (None: all). ``even``/``odd``: the present databases sorted by name,
    at even (0, 2, 4, ...) or odd positions; ``@path``: the names in a file, one per line (``#`` comments);
    otherwise a comma-separated list. Unknown names are one error listing them."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    if text in SPLITS:
        names = executable_databases(benchmark)
        return names[0::2] if text == "even" else names[1::2]
    if text.startswith("@"):
        path = Path(text[1:]).expanduser()
        if not path.is_file():
            raise ConfigError(f"database list {str(path)!r} does not exist", hint="one database name per line")
        lines = [line.split("#", 1)[0].strip() for line in read_text_file(path, "database list").splitlines()]
        wanted = [line for line in lines if line]
    else:
        wanted = [name.strip() for name in text.split(",") if name.strip()]
    known = {item.db_id for item in benchmark.items}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        import difflib

        near = [m for name in unknown
                for m in difflib.get_close_matches(name, [*sorted(known), "even", "odd"], n=1, cutoff=0.6)]
        listed = ", ".join(sorted(known)[:12]) + (", ..." if len(known) > 12 else "")
        raise ConfigError(f"{benchmark.name} has no database named {', '.join(map(repr, unknown))}"
                          + (f" (did you mean {', '.join(map(repr, near))}?)" if near else ""),
                          hint=f"names are db_id values of the benchmark ({listed}); 'even' and 'odd' split "
                               "the databases")
    return list(dict.fromkeys(wanted))


def filter_databases(benchmark: Benchmark, names: list[str] | None) -> Benchmark:
    """The benchmark with only the questions on ``names`` (all when None); question indexes are kept."""
    if names is None:
        return benchmark
    chosen = set(names)
    items = tuple(item for item in benchmark.items if item.db_id in chosen)
    if not items:
        raise DatasetError(f"no question of {benchmark.name} is on the databases {', '.join(sorted(chosen))}")
    missing = tuple(db for db in benchmark.missing_databases if db in chosen)
    return replace(benchmark, items=items, missing_databases=missing, subset_of=benchmark.file_size)


def present_only(benchmark: Benchmark) -> Benchmark:
    """The benchmark without the questions whose database is missing (a warning names those databases)."""
    missing = sorted({item.db_id for item in benchmark.items if not item.database})
    if not missing:
        return benchmark
    log.warning("%s: leaving out the questions of %d missing databases: %s", benchmark.name, len(missing),
                ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else ""))
    items = tuple(item for item in benchmark.items if item.database)
    if not items:
        raise DatasetError(f"none of the selected databases of {benchmark.name} is present")
    return replace(benchmark, items=items, missing_databases=(), subset_of=benchmark.file_size)


def load_selected(name: str, data_dir: str | Path, dbs: str | None, *, allow_missing_db: bool = False,
                  **options: Any) -> Benchmark:
    """The benchmark ``name`` on the databases ``dbs`` selects (all when None): a missing database is an error
    (or, with ``allow_missing_db``, a warning) only when a selected question needs it."""
    if dbs is None:
        return load_benchmark(name, data_dir, allow_missing_db=allow_missing_db, **options)
    bench = load_benchmark(name, data_dir, allow_missing_db=SCHEMA_ONLY, **options)
    bench = filter_databases(bench, parse_db_filter(dbs, bench))
    missing = sorted({item.db_id for item in bench.items if not item.database})
    if missing and not allow_missing_db:
        count = sum(1 for item in bench.items if item.db_id in missing)
        raise DatasetError(f"{bench.name}: {count} of the selected questions need databases that are missing: "
                           f"{', '.join(missing)}", hint="add the databases under --data-dir, or pass "
                                                         "--allow-missing-db to skip those questions")
    if missing:
        log.warning("%s: skipping %d selected questions whose databases are missing: %s", bench.name,
                    sum(1 for item in bench.items if item.db_id in missing), ", ".join(missing))
    return bench
