"""Concurrent asks on one database gathered into one batch: a worker thread per database waits up to the
window for more asks (at most ``max_batch``), then runs the stages once for all of them, so each in-process
generator gets one call for the batch, as in an evaluation run. An ask cancelled before its batch starts is
left out; one cancelled later is dropped between stages (its entry comes back None)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from mscsql.stages import BatchControl, Limits, StageEvent
from mscsql.types import Question

log = logging.getLogger(__name__)


@dataclass
class PendingAsk:
    """One ask waiting for, or inside, a batch."""

    question: Question
    limits: Limits
    #: receives this ask's stage events (called on the batch's thread)
    on_event: Callable[[StageEvent], None] | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    result: Future[Any] = field(default_factory=Future)


class Batcher:
    """Runs ``run_batch`` (``TextToSQL.run_batch``) over gathered asks on one thread."""

    def __init__(self, run_batch: Callable[..., list[Any]], *, window_s: float, max_batch: int, name: str) -> None:
        self._run_batch = run_batch
        self.window_s = window_s
        self.max_batch = max_batch
        self._queue: queue.Queue[PendingAsk | None] = queue.Queue()
        #: receives every event of every batch once (metrics)
        self.observer: Callable[[StageEvent], None] | None = None
        self._thread = threading.Thread(target=self._loop, name=f"mscsql-batch-{name}", daemon=True)
        self._thread.start()

    def submit(self, ask: PendingAsk) -> PendingAsk:
        self._queue.put(ask)
        return ask

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _gather(self, first: PendingAsk) -> list[PendingAsk] | None:
        batch = [first]
        if self.window_s <= 0:  # batching off: every ask is its own batch
            return [a for a in batch if not a.cancelled.is_set() or _drop(a)]
        deadline = time.monotonic() + self.window_s
        while len(batch) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=max(remaining, 0)) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)
                break
            batch.append(item)
        return [a for a in batch if not a.cancelled.is_set() or _drop(a)]

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = self._gather(first) or []
            if not batch:
                continue
            try:
                answers = self._run_batch([a.question for a in batch], limits=[a.limits for a in batch],
                                          control=BatchControl(on_event=lambda e, b=batch: self._dispatch(b, e),
                                                               cancelled=lambda i, b=batch: b[i].cancelled.is_set()))
            except Exception as err:  # an infrastructure failure fails the whole batch, each ask with its error
                for ask in batch:
                    if not ask.result.done():
                        ask.result.set_exception(err)
                continue
            for ask, answer in zip(batch, answers, strict=True):
                if not ask.result.done():
                    ask.result.set_result(answer)

    def _dispatch(self, batch: list[PendingAsk], event: StageEvent) -> None:
        if self.observer is not None:
            self.observer(event)
        for position in event.questions:
            listener = batch[position].on_event
            if listener is not None:
                listener(event)


def _drop(ask: PendingAsk) -> bool:
    """A cancelled ask leaves the batch before it starts."""
    if not ask.result.done():
        ask.result.cancel()
    return False
