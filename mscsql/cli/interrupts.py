"""Ctrl+C stops the SQLite statement a command is waiting on, not only the command once the statement returns.

Python acts on SIGINT in the main thread between two bytecodes; a thread waiting inside SQLite's C code (a
long statement, up to its timeout) runs none, so Ctrl+C alone would wait for the statement to end. The signal's
number is therefore also written to a pipe (``signal.set_wakeup_fd``) that a daemon thread reads: on SIGINT it
interrupts every running SQLite statement (:func:`mscsql.db.sqlite.interrupt_running`), the main thread gets
back to Python and Python raises KeyboardInterrupt there as usual. PostgreSQL's and MySQL's drivers already
wait in ways a signal interrupts (psycopg also cancels the query on the server).

Once the interrupted command has unwound (its files closed, its worker processes stopped), it exits at once if
threads the interpreter would wait for are still running (:func:`exit_if_interrupted`): an executor's threads
waiting on a generator server's answer would otherwise keep it alive until the server replied.

Not installed for ``serve`` and ``mcp``, whose servers handle their own signals (a graceful shutdown lets
requests in flight finish).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Any

#: commands whose servers handle signals themselves
SERVERS = frozenset({"serve", "mcp"})
#: set once Ctrl+C was pressed
_INTERRUPTED = threading.Event()
#: whether the fork hook is registered (once per process: hooks cannot be removed)
_fork_hook_registered = False


def stop_statements_on_ctrl_c(argv: list[str]) -> None:
    """Install the watcher (in the main thread of a POSIX process whose SIGINT is Python's default)."""
    if (os.name != "posix" or threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
            or any(arg in SERVERS for arg in argv[:1])):
        return
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # a full pipe drops a byte rather than block the signal handler
    try:
        signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    except ValueError:  # not possible here: Ctrl+C keeps Python's own behaviour
        os.close(read_end)
        os.close(write_end)
        return
    signal.signal(signal.SIGINT, _on_ctrl_c)
    _INTERRUPTED.clear()
    threading.Thread(target=_watch, args=(read_end,), name="mscsql-ctrl-c", daemon=True).start()
    global _fork_hook_registered
    if not _fork_hook_registered:
        os.register_at_fork(after_in_child=_in_forked_child)
        _fork_hook_registered = True


def _on_ctrl_c(signum: int, frame: Any) -> None:
    """Python's own Ctrl+C (KeyboardInterrupt), remembered first: in the main thread, before anything unwinds."""
    _INTERRUPTED.set()
    signal.default_int_handler(signum, frame)


def _watch(read_end: int) -> None:
    while True:
        try:
            received = os.read(read_end, 64)
        except OSError:
            return
        if not received:
            return
        if signal.SIGINT in received:
            _INTERRUPTED.set()
            # only a module that is loaded can be running statements (importing here could wait on the import
            # lock the interrupted main thread holds)
            sqlite = sys.modules.get("mscsql.db.sqlite")
            if sqlite is not None:
                with contextlib.suppress(Exception):
                    sqlite.interrupt_running()


def exit_if_interrupted(code: object) -> None:
    """After Ctrl+C, when threads that the interpreter would wait for at exit are still running (an executor's
    threads waiting on a generator server), end the process now: logging shut down, output flushed, with the
    command's exit status, those threads' work abandoned (nothing of it is written). Otherwise the usual exit
    runs (atexit handlers included)."""
    if not _INTERRUPTED.is_set():
        return
    waiting = [t for t in threading.enumerate()
               if t is not threading.current_thread() and not t.daemon and t.is_alive()]
    if not waiting:
        return
    import logging

    logging.shutdown()
    if isinstance(code, str):
        with contextlib.suppress(Exception):
            print(code, file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0 if code is None else code if isinstance(code, int) else 1)


def _in_forked_child() -> None:
    """A forked child has its own Ctrl+C: it must not write to this process's pipe (a pool worker ignores SIGINT;
    any other child gets Python's own handler back)."""
    with contextlib.suppress(ValueError, OSError):
        signal.set_wakeup_fd(-1)
    with contextlib.suppress(ValueError, OSError):
        if signal.getsignal(signal.SIGINT) is _on_ctrl_c:
            signal.signal(signal.SIGINT, signal.default_int_handler)
