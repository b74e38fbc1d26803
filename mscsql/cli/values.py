"""``mscsql index`` and ``mscsql link``: the value index and schema linking."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mscsql.cli.app import err, index_app, link_app, out
from mscsql.cli.options import AllowMissingDbOpt, BenchmarkOpt, DataDirOpt, TargetArg
from mscsql.cli.render import cells, open_database, print_json, say


def _retrieval_settings(encoder: str | None, max_values: int | None, no_embed: bool) -> Any:
    from mscsql.config import RetrievalSettings

    options: dict[str, Any] = {"embed_values": not no_embed}
    if encoder:
        options["encoder"] = encoder
    if max_values:
        options["max_values_per_column"] = max_values
    return RetrievalSettings(**options)


EncoderOpt = Annotated[str | None, typer.Option(help="sentence-transformers model id or local path "
                                                     "(default: the offline all-MiniLM-L6-v2)")]
MaxValuesOpt = Annotated[int | None, typer.Option(min=1, help="distinct values indexed per column (default 5000)")]
NoEmbedOpt = Annotated[bool, typer.Option("--no-embed", help="lexical matching only (no encoder)")]
IndexDirOpt = Annotated[Path | None, typer.Option("--out", "--index", help="index folder "
                                                  "(default: ~/.cache/mscsql/index/<db>-<hash>)")]
TablesJsonOpt = Annotated[Path | None, typer.Option(help="Spider/BIRD tables.json with natural-language names")]


@index_app.command("build")
def index_build(target: TargetArg, out_dir: IndexDirOpt = None, encoder: EncoderOpt = None,
                max_values: MaxValuesOpt = None, no_embed: NoEmbedOpt = False,
                rebuild: Annotated[bool, typer.Option(help="rebuild even when the stored index is fresh")] = False,
                ) -> None:
    """Index the distinct values of every text column (rebuilt only when the database or settings changed)."""
    import time

    from mscsql.retrieval import ValueIndex, default_index_dir

    settings = _retrieval_settings(encoder, max_values, no_embed)
    with open_database(target) as db:
        folder = out_dir or default_index_dir(db)
        started = time.perf_counter()
        index = ValueIndex.open(db, folder, settings, progress=True, rebuild=rebuild)
        elapsed = time.perf_counter() - started
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    out.print(f"{len(index)} values from {len(index.columns)} columns in {folder} ({size / 1e6:.1f} MB, "
              f"{elapsed:.1f}s)", highlight=False)


@index_app.command("search")
def index_search(target: TargetArg, text: Annotated[str, typer.Argument(help="a question or a phrase",
                                                                        show_default=False)],
                 index_dir: IndexDirOpt = None, encoder: EncoderOpt = None, no_embed: NoEmbedOpt = False,
                 top_k: Annotated[int, typer.Option(min=1, help="values to show")] = 20,
                 as_json: Annotated[bool, typer.Option("--json", help="print the matches as JSON")] = False) -> None:
    """Values of the database that the text mentions or means (builds the index first if needed)."""
    from dataclasses import asdict

    with open_database(target) as db:
        index = _open_index(db, index_dir, encoder, no_embed)
    matches = index.search(text, top_k=top_k)
    if as_json:
        print_json([asdict(m) for m in matches])
        return
    from rich.table import Table as RichTable

    grid = RichTable()
    for header in ("table", "column", "value", "score", "match"):
        grid.add_column(header, overflow="fold")
    for m in matches:
        grid.add_row(*cells(m.table, m.column, m.value, f"{m.score:.3f}", m.source))
    out.print(grid)


def _open_index(db: Any, folder: Path | None, encoder: str | None, no_embed: bool) -> Any:
    """The database's value index; an existing one is searched with the settings it was built with (an
    index built with ``--max-values`` or ``--no-embed`` is not silently rebuilt with the defaults)."""
    from mscsql.retrieval import ValueIndex, default_index_dir
    from mscsql.retrieval.index import stored_settings

    folder = folder or default_index_dir(db)
    settings = stored_settings(folder) if not (encoder or no_embed) else None
    return ValueIndex.open(db, folder, settings or _retrieval_settings(encoder, None, no_embed), progress=True)


LinkerOpt = Annotated[list[str], typer.Option("--linker", "-l", help="keep-all, embedding or llm-tables; "
                                                                      "repeat for the union of several")]
GeneratorOpt = Annotated[str | None, typer.Option(help="llm-tables: a causal LM (local path or hub id) with a "
                                                       "chat template")]
SamplesOpt = Annotated[int, typer.Option(min=1, help="llm-tables: samples per question (their union is kept)")]
TableMissOpt = Annotated[float | None, typer.Option(min=0, max=1, help="embedding: accepted chance of dropping a "
                                                                       "needed table (lower keeps more)")]
ColumnMissOpt = Annotated[float | None, typer.Option(min=0, max=1, help="embedding: the same for columns")]


def _linker(names: list[str], generator_model: str | None, samples: int, table_miss: float | None = None,
            column_miss: float | None = None) -> Any:
    from mscsql.linking import build_linker

    generator = None
    if "llm-tables" in names and generator_model:
        from mscsql.generation.hf import HFGenerator

        generator = HFGenerator(generator_model)
    embedding = {k: v for k, v in (("table_miss", table_miss), ("column_miss", column_miss)) if v is not None}
    return build_linker(names, generator=generator, samples=samples, embedding=embedding)


@link_app.command("show")
def link_show(
    target: TargetArg,
    question: Annotated[str, typer.Argument(help="the question", show_default=False)],
    evidence: Annotated[str | None, typer.Option(help="hint or evidence (BIRD)")] = None,
    linker: LinkerOpt = ["embedding"],  # noqa: B006 (typer reads the default)
    budget: Annotated[int | None, typer.Option(min=16, help="token budget of the rendered schema")] = None,
    tables_json: TablesJsonOpt = None,
    db_id: Annotated[str | None, typer.Option(help="database id in tables.json (default: file name)")] = None,
    index_dir: IndexDirOpt = None,
    no_values: Annotated[bool, typer.Option("--no-values", help="do not retrieve values")] = False,
    generator_model: GeneratorOpt = None,
    samples: SamplesOpt = 3,
    table_miss: TableMissOpt = None,
    column_miss: ColumnMissOpt = None,
) -> None:
    """Print the schema text a generator would see for this question, and the linker's decisions."""
    from mscsql.linking import LinkRequest, RenderOptions, render_schema
    from mscsql.retrieval.text import question_text
    from mscsql.types import Question

    with open_database(target, db_id=db_id, tables_json=tables_json) as db:
        schema = db.schema()
        values: tuple = ()
        if not no_values:
            values = tuple(_open_index(db, index_dir, None, False).search(question_text(question, evidence)))
    link = _linker(linker, generator_model, samples, table_miss, column_miss).link(
        [LinkRequest(Question(question, db_id=schema.db_id, evidence=evidence), schema, values)])[0]
    rendered = render_schema(link, RenderOptions(budget_tokens=budget))
    say(rendered.text)
    kept_columns = sum(len(t.columns) for t in link.schema.tables)
    total_columns = sum(len(t.columns) for t in schema.tables)
    err.print(f"{link.linker}: kept {len(link.schema.tables)}/{len(schema.tables)} tables, "
              f"{kept_columns}/{total_columns} columns; about {rendered.tokens} tokens", highlight=False)
    for line in (*link.trace, *rendered.trace):
        say(line, to_err=True)


@link_app.command("eval")
def link_eval(
    benchmark: BenchmarkOpt,
    data_dir: DataDirOpt,
    output: Annotated[Path, typer.Option(help="folder for questions.jsonl and summary.json")],
    linker: LinkerOpt = ["embedding"],  # noqa: B006
    allow_missing_db: AllowMissingDbOpt = False,
    schema_only: Annotated[bool, typer.Option(help="use tables.json only (no database, no values)")] = False,
    index_dir: Annotated[Path | None, typer.Option(help="folder of value indexes, one sub-folder per database "
                                                        "(default: the cache)")] = None,
    generator_model: GeneratorOpt = None,
    samples: SamplesOpt = 3,
    table_miss: TableMissOpt = None,
    column_miss: ColumnMissOpt = None,
) -> None:
    """Recall of a linker against the tables, columns and values of the gold queries (resumable)."""
    from mscsql.benchmarks.loaders import SCHEMA_ONLY, load_benchmark
    from mscsql.config import default_cache_dir
    from mscsql.evaluation.linking import LinkEvaluation
    from mscsql.retrieval.encoder import keep_embeddings_in

    keep_embeddings_in(default_cache_dir())  # a run repeated with other settings embeds each question once
    bench = load_benchmark(benchmark, data_dir, allow_missing_db=SCHEMA_ONLY if schema_only else allow_missing_db)
    chosen = _linker(linker, generator_model, samples, table_miss, column_miss)
    identity = {"linkers": linker, "generator_model": generator_model, "samples": samples,
                "table_miss": table_miss, "column_miss": column_miss}
    summary = LinkEvaluation(bench, Path(data_dir), chosen, output, schema_only=schema_only,
                             index_root=index_dir, identity=identity).run()
    for key in ("questions", "table_recall_strict", "column_recall_strict", "tables_kept_fraction",
                "columns_kept_fraction", "value_hit_rate"):
        out.print(f"{key}: {summary[key]}", highlight=False)
    err.print(f"details in {output}/ (questions.jsonl, summary.json)", highlight=False)


