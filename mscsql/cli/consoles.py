"""The command line's two consoles and its log handler, which import rich only when something needs it.

Most commands end with a few plain lines; rich (about 25 ms of start-up) is loaded for tables, styled text and
log records. A plain line is written as it is: rich would also read ``:name:`` in it as an emoji code.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

#: the control characters rich removes from every text it prints
_RICH_STRIPPED = dict.fromkeys(map(ord, "\x07\x08\x0b\x0c\r"))


class LazyConsole:
    """A rich ``Console`` (soft-wrapped, on stdout or stderr) made on first use; :meth:`print` writes plain
    text itself."""

    def __init__(self, *, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr, soft_wrap=True)
        return self._console

    def print(self, *objects: Any, sep: str = " ", end: str = "\n", highlight: bool | None = None,
              markup: bool | None = None, **options: Any) -> None:
        """As ``Console.print``; text printed without highlighting, and without markup or with none in it, is
        written to the stream at once."""
        if not options and highlight is False and all(type(o) is str for o in objects) \
                and (markup is False or not any("[" in o for o in objects)):
            stream = sys.stderr if self._stderr else sys.stdout  # looked up now: tests and runners swap them
            stream.write(sep.join(objects).translate(_RICH_STRIPPED) + end)
            stream.flush()
            return
        self.console.print(*objects, sep=sep, end=end, highlight=highlight, markup=markup, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


class LazyRichHandler(logging.Handler):
    """Log records through rich's handler on ``console``, made when the first record arrives."""

    def __init__(self, console: LazyConsole) -> None:
        super().__init__()
        self._lazy_console = console
        self._handler: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._handler is None:
            from rich.logging import RichHandler

            self._handler = RichHandler(console=self._lazy_console.console, show_path=False)
            self._handler.setFormatter(self.formatter)
        self._handler.emit(record)  # this handler's filters have already passed the record
