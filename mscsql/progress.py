"""Progress bars that appear only once work has run for a while: a command that is done in a moment shows no
bar and never imports the progress-bar library (whose import alone is a noticeable part of a short command)."""

from __future__ import annotations

import threading
import time
from typing import IO, Any

#: seconds of work before a bar is drawn
DEFAULT_DELAY_S = 1.0


class DeferredBar:
    """A tqdm bar over ``total`` steps, drawn from the first :meth:`update` that comes ``delay_s`` seconds or more
    after the bar was made (it starts at the steps counted so far). ``enabled=False`` never draws one. Threads may
    share one."""

    def __init__(self, total: int, desc: str, unit: str, *, enabled: bool = True,
                 delay_s: float = DEFAULT_DELAY_S, file: IO[str] | None = None) -> None:
        self.total = total
        self.count = 0
        self._options: dict[str, Any] = {"total": total, "desc": desc, "unit": unit, "file": file}
        self._enabled = enabled
        self._due = time.monotonic() + delay_s
        self._bar: Any = None
        self._lock = threading.Lock()

    @property
    def shown(self) -> bool:
        return self._bar is not None

    def update(self, n: int = 1) -> None:
        with self._lock:  # threads of one run share a bar
            self.count += n
            if self._bar is not None:
                self._bar.update(n)
            elif self._enabled and time.monotonic() >= self._due:
                from tqdm.auto import tqdm

                self._bar = tqdm(initial=self.count, **self._options)

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()

    def __enter__(self) -> DeferredBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
