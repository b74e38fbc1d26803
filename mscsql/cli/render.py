"""How the CLI shows schemas, results, JSON and warnings. Every text that comes from a database or a model is
shown through :mod:`mscsql.display`, so it can never act on the terminal."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from mscsql.cli.app import err, out
from mscsql.display import cell_text, terminal_json, terminal_text
from mscsql.types import ExecutionResult, Schema

if TYPE_CHECKING:
    from rich.text import Text


def cells(*values: Any) -> list[Text]:
    """Table cells shown as plain text: escaped, cut for display, never read as rich markup."""
    from rich.text import Text

    return [Text(cell_text(v)) for v in values]


def say(text: str, *, to_err: bool = False) -> None:
    """Print untrusted text (SQL, messages) as it is, escaped, without markup."""
    (err if to_err else out).print(terminal_text(text, one_line=False), highlight=False, markup=False)


def print_json(data: Any) -> None:
    """JSON on stdout: every value whole, valid JSON, nothing that acts on a terminal."""
    sys.stdout.write(terminal_json(data) + "\n")
    sys.stdout.flush()


def print_schema(schema: Schema) -> None:
    from rich.table import Table as RichTable
    from rich.text import Text

    for table in schema.tables:
        title = f"{table.qualified_name} ({table.kind}, {table.row_count if table.row_count is not None else '?'} rows)"
        if table.nl_name and table.nl_name.lower() != table.name.lower().replace("_", " "):
            title += f" - {table.nl_name}"
        grid = RichTable(title=Text(terminal_text(title)), title_justify="left", show_lines=False)
        for header in ("column", "type", "key", "null", "examples", "description"):
            grid.add_column(header, overflow="fold")
        fks = {c: fk for fk in table.foreign_keys for c in fk.columns}
        for col in table.columns:
            key = "PK" if col.primary_key else ""
            if col.name in fks:
                fk = fks[col.name]
                key = (key + " " if key else "") + f"FK -> {fk.ref_table}({', '.join(fk.ref_columns)})"
            description = "; ".join(x for x in (col.nl_name, col.description, col.value_description) if x)
            grid.add_row(*cells(col.name, col.type, key, "yes" if col.nullable else "no",
                                ", ".join(cell_text(v) for v in col.examples), description))
        out.print(grid)


def print_result(result: ExecutionResult) -> None:
    from rich.table import Table as RichTable
    from rich.text import Text

    grid = RichTable(show_lines=False)
    for name in result.columns:
        grid.add_column(Text(cell_text(name)), overflow="fold")
    for row in result.rows:
        grid.add_row(*cells(*row))
    out.print(grid)
    more = " (truncated: more rows exist)" if result.truncated else ""
    err.print(f"{result.row_count} row{'s' if result.row_count != 1 else ''}{more} in {result.elapsed_s:.3f}s",
              highlight=False)


def print_failure(result: ExecutionResult) -> None:
    from rich.text import Text

    message = Text(": " + terminal_text(result.error or "", one_line=False))
    err.print(Text(result.status.value, style="bold red"), message, sep="", highlight=False)


def warn_if_privileged(db: Any) -> None:
    """A warning on stderr when a server login can do more than read (mscsql never writes, but a
    least-privilege role is the layer that holds when everything else fails)."""
    problem = getattr(db, "privileged", None)
    if problem:
        err.print(f"warning: {terminal_text(problem)}; mscsql only reads, but a read-only role is safer: "
                  f"mscsql db readonly-role URL --name mscsql_reader", highlight=False, markup=False)


def open_database(target: str, **options: Any) -> Any:
    """``mscsql.db.connect(target, **options)``, with the privilege warning for server logins."""
    from mscsql.db import connect

    db = connect(target, **options)
    warn_if_privileged(db)
    return db


def print_selection(summary: dict[str, Any]) -> None:
    """What ``mscsql select`` found: each selector's accuracy, the best single file, the oracle, each selector
    against the vote (difference, interval, McNemar), and how well each confidence tells right from wrong."""
    out.print(f"{summary['questions']} questions ({summary['scorer']})", highlight=False)
    for name, accuracy in summary["selectors"].items():
        out.print(f"{name}: {100 * (accuracy or 0):.2f}%", highlight=False)
    best = summary["best_single"]
    out.print(f"best_single ({best['name']}): {100 * (best['accuracy'] or 0):.2f}%", highlight=False)
    out.print(f"oracle: {100 * (summary['oracle'] or 0):.2f}%", highlight=False)
    for name, against in summary["against_vote"].items():
        found = against["overall"]
        low, high = found["interval_95"]
        out.print(f"{name} against vote: {100 * found['difference']:+.2f} points [{100 * low:+.2f}, "
                  f"{100 * high:+.2f}], McNemar p = {found['mcnemar_p']:.4g} ({found['only_b']} right only with "
                  f"{name}, {found['only_a']} only with vote)", highlight=False)
    for name, judged in summary["confidence"].items():
        print_confidence(name, judged)
    print_reliability(summary.get("reliability"))


def print_reliability(reliability: dict[str, Any] | None) -> None:
    """How often each generator agreed with the others' vote (no label read), one line."""
    if not reliability:
        return
    found = ", ".join(f"{name} {100 * g['reliability']:.1f}%" for name, g in reliability["generators"].items())
    out.print(f"agreement of each generator with the others' vote: {found} ({reliability['questions']} questions"
              f"{'' if reliability['enough_questions'] else ', too few for the confidence to weigh them'})",
              highlight=False)


def print_confidence(name: str, judged: dict[str, Any]) -> None:
    """How well ``name``'s confidence (``model``) and the plain share of samples (``share``) tell right answers
    from wrong, one line each."""
    for kind in ("model", "share"):
        if kind not in judged:
            continue
        report = judged[kind]
        at = report["accuracy_at_coverage"]
        out.print(f"{name} confidence ({'calibrated' if kind == 'model' else 'share of samples'}): AUROC "
                  f"{report['auroc'] if report['auroc'] is not None else '-'}, accuracy at 50/80/90% coverage "
                  f"{100 * at['0.5']:.2f} / {100 * at['0.8']:.2f} / {100 * at['0.9']:.2f}%, ECE {report['ece']}",
                  highlight=False)
