"""Worker processes never outlive the process that started them, and Ctrl+C stops them at once.

A pool worker blocks on its task queue; when its parent is killed (SIGKILL leaves no time to shut the pool
down) nothing would ever wake it, and forked workers hold copies of the queue's pipes, so they would not see
it close either. Each worker therefore asks the kernel for SIGKILL when its parent dies (Linux's
``PR_SET_PDEATHSIG``) and, on every platform, watches its parent's process id from a daemon thread.

Ctrl+C in a terminal sends SIGINT to every process of the command, workers included. A worker interrupted while
it held its pool's queue lock left the others waiting for it forever, and the command hung instead of stopping.
Workers therefore ignore SIGINT: the parent alone is interrupted, and it stops them (:func:`stop_workers`)
instead of waiting for their chunks.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

T = TypeVar("T")

_PR_SET_PDEATHSIG = 1
#: how often the watcher looks at its parent, in seconds
POLL_S = 0.25


def _request_death_signal() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # this process's own symbols, libc's among them (no ldconfig run)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no libc to ask: the watcher thread alone does the job
        pass


def _watch(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)  # the parent is gone: no clean-up is owed to anyone
        time.sleep(POLL_S)


def die_with_parent(parent: int) -> None:
    """Pool initializer: end this worker as soon as the process ``parent`` is gone, and leave Ctrl+C to the
    parent (which stops the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _request_death_signal()
    if os.getppid() != parent:  # the parent died before the request above took effect
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="mscsql-parent-watch", daemon=True).start()


def fork_context() -> Any:
    """Forked workers on Linux (None elsewhere, where callers work in this process): they start at once, share
    what the parent already loaded, and never re-import the caller's main module (which spawned workers do,
    breaking scripts without a ``__main__`` guard)."""
    import multiprocessing

    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return None


def stop_workers(pool: Any) -> None:
    """Terminate the worker processes of the ``ProcessPoolExecutor`` ``pool`` now, when the parent is interrupted
    or fails, rather than wait for the chunks they are working on (a statement may run until its timeout)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError, ValueError):
            process.terminate()


def results_in_workers(function: Callable[..., T], jobs: Iterable[tuple[Any, ...]], workers: int,
                       context: Any) -> Iterator[T]:
    """``function(*job)`` for every job in ``workers`` forked processes (``context``: :func:`fork_context`), each
    result as soon as it is ready. The workers share this process's memory until they write to it (a garbage
    collection in a worker would write to every object's header, copying most of the parent's pages: frozen
    objects are not collected). On an interruption (Ctrl+C) or any error, here or in the caller that stops
    iterating, the workers stop at once and jobs not started are dropped."""
    gc.freeze()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=die_with_parent,
                               initargs=(os.getpid(),))
    try:
        futures = [pool.submit(function, *job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()
    except BaseException:
        stop_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        gc.unfreeze()
