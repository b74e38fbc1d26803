"""Progress events and cancellation for a batch going through the stages.

Every stage reports :class:`StageEvent` s through the batch's :class:`BatchControl` (a callback the caller
gives: a progress bar, a server streaming events to a client); the sample stage reports one pair per
generator. Between stages the batch drops the questions whose caller has cancelled them (``cancelled(i)``
True for the batch position ``i``), so their remaining work is not done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

#: the stages, in the order a batch goes through them
STAGES = ("linking", "generation", "execution", "selection")


@dataclass(frozen=True)
class StageEvent:
    """A stage started or finished for some questions of a batch."""

    stage: str
    #: "started" or "finished"
    status: str
    #: the batch positions of the questions concerned
    questions: tuple[int, ...]
    #: the generator, for events of the sample stage
    generator: str | None = None
    #: seconds the stage took (finished events)
    elapsed_s: float | None = None
    #: what the stage found, e.g. the number of samples or candidates
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchControl:
    """What the caller of a batch can watch and stop: ``on_event`` receives every :class:`StageEvent`;
    ``cancelled(i)`` says whether the question at batch position ``i`` is no longer wanted."""

    on_event: Callable[[StageEvent], None] | None = None
    cancelled: Callable[[int], bool] | None = None

    def emit(self, event: StageEvent) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # a listener's failure never stops the batch
            log.exception("a progress listener failed on %s/%s", event.stage, event.status)

    def live(self, positions: Sequence[int]) -> list[int]:
        """The positions whose questions are still wanted."""
        if self.cancelled is None:
            return list(positions)
        return [i for i in positions if not self.cancelled(i)]

    @contextmanager
    def stage(self, name: str, positions: Sequence[int], generator: str | None = None) -> Iterator[dict[str, Any]]:
        """Report ``name`` started, then finished with its time and the details the body put in the dict."""
        detail: dict[str, Any] = {}
        self.emit(StageEvent(name, "started", tuple(positions), generator))
        started = time.perf_counter()
        yield detail
        self.emit(StageEvent(name, "finished", tuple(positions), generator, time.perf_counter() - started, detail))


#: a batch nobody watches or cancels
UNWATCHED = BatchControl()
