"""The ``mscsql`` command's groups, consoles and entry point. The CLI is the only part of mscsql that reads
argv or configures logging."""

from __future__ import annotations

import gc
import logging
import sys
from typing import Annotated

import typer

from mscsql.cli.consoles import LazyConsole, LazyRichHandler
from mscsql.errors import MscSqlError, RedactCredentials, redact

app = typer.Typer(help="mscsql: text-to-SQL with multi-sample critiquing.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
db_app = typer.Typer(help="Inspect and query a database (read-only); make a least-privilege role.",
                     no_args_is_help=True)
app.add_typer(db_app, name="db")
eval_app = typer.Typer(help="Evaluate on BIRD and Spider with scorers that agree with the official tools.",
                       no_args_is_help=True)
app.add_typer(eval_app, name="eval")
demo_app = typer.Typer(help="The demo business database.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")
index_app = typer.Typer(help="Build and search a database's value index.", no_args_is_help=True)
app.add_typer(index_app, name="index")
link_app = typer.Typer(help="Schema linking: show what a linker keeps for a question, measure its recall.",
                       no_args_is_help=True)
app.add_typer(link_app, name="link")
train_app = typer.Typer(help="Fine-tune the linker, the generators and the critic: build datasets, train, merge.",
                        invoke_without_command=True)
app.add_typer(train_app, name="train")
train_data_app = typer.Typer(help="Build a training dataset (a Hugging Face datasets folder with a card).",
                             no_args_is_help=True)
train_app.add_typer(train_data_app, name="data")

out = LazyConsole()
err = LazyConsole(stderr=True)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log debugging detail")] = False) -> None:
    handler = LazyRichHandler(err)
    handler.addFilter(RedactCredentials())
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(message)s", handlers=[handler])


def _fail(message: str) -> None:
    from mscsql.display import terminal_text

    # a generator's or database's URL in the message keeps its host, not its credentials (stderr ends up in logs)
    err.print(f"error: {terminal_text(redact(message), one_line=False)}", highlight=False, markup=False)
    sys.exit(2)


def run() -> None:
    """Console-script entry point: user errors become one message and exit status 2, never a traceback."""
    try:
        app()
    except MscSqlError as error:
        _fail(str(error))
    except ValueError as error:
        # settings built from options that pydantic refuses (looked up only then: most commands never load it)
        pydantic_core = sys.modules.get("pydantic_core")
        if pydantic_core is None or not isinstance(error, pydantic_core.ValidationError):
            raise
        problems = "; ".join(f"{'.'.join(map(str, p['loc'])) or 'value'}: {p['msg']}" for p in error.errors())
        _fail(f"invalid settings: {problems}")
    except OSError as error:  # a file or folder the command was pointed at
        where = f" ({error.filename})" if error.filename else ""
        _fail(f"{error.strerror or error}{where}")
    except KeyboardInterrupt:
        err.print("interrupted", highlight=False)
        sys.exit(130)
    finally:
        # the command's files are written and closed: leave its objects to the operating system (Python's last
        # garbage collection over every imported module's objects took longer than a short command's work)
        gc.freeze()
