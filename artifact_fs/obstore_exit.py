"""A clean exit on the obstore engine: no SIGABRT after the last call of a program.

obstore answers an awaited call from one of its Rust (tokio) threads: that thread calls the
event loop's ``call_soon_threadsafe``, which queues the result and then writes a byte to wake
the loop, letting the GIL go for that write. The caller can resume meanwhile; when that was
the program's last call, the interpreter starts to shut down, and the tokio thread, back from
its write, asks for the GIL while the interpreter finalizes. CPython before 3.14 ends such a
thread with ``pthread_exit``, and that unwinding through Rust frames aborts the whole process
(seen in gdb: ``pyo3_async_runtimes::generic::set_result`` → ``sock_send`` → ``take_gil`` →
``PyThread_exit_thread`` → ``abort``), about once in 30 runs of a short script.

:func:`guard_loop` wraps a loop's ``call_soon_threadsafe`` to count the calls under way, and an
``atexit`` hook (which runs before finalization) waits for them to return, at most
:data:`EXIT_WAIT_SECONDS`, then lets the GIL go for a few milliseconds so that a thread just
past its count finishes returning before the interpreter finalizes.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import time

#: the longest an exiting process waits for obstore's threads to hand their last results over
EXIT_WAIT_SECONDS = 2.0
#: how long the exiting thread lets the GIL go once no hand-over is counted
HANDOFF_SECONDS = 0.005

_lock = threading.Lock()
_under_way = 0  # call_soon_threadsafe calls in progress
_hook_registered = False


def _count(delta: int) -> None:
    global _under_way
    with _lock:
        _under_way += delta


def guard_loop(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Count the ``call_soon_threadsafe`` calls under way on ``loop`` (default: the running
    one) and wait for them at exit; idempotent, cheap once done."""
    if loop is None:
        loop = asyncio._get_running_loop()
        if loop is None:
            return
    if "call_soon_threadsafe" in getattr(loop, "__dict__", {}):
        return
    original = loop.call_soon_threadsafe

    def call_soon_threadsafe(*args, **kwargs):
        _count(1)
        try:
            return original(*args, **kwargs)
        finally:
            _count(-1)

    try:
        loop.call_soon_threadsafe = call_soon_threadsafe
    except AttributeError:  # a loop without instance attributes (uvloop): nothing to count
        return
    _register_hook()


def _register_hook() -> None:
    global _hook_registered
    with _lock:
        if _hook_registered:
            return
        _hook_registered = True
    atexit.register(wait_for_handoffs)


def wait_for_handoffs(timeout: float = EXIT_WAIT_SECONDS) -> bool:
    """Wait until no obstore thread is handing a result to an event loop (True), or ``timeout``
    seconds (False); then let the GIL go for a moment: a thread past its count finishes."""
    deadline = time.monotonic() + timeout
    while _under_way > 0:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.001)
    time.sleep(HANDOFF_SECONDS)
    return True


__all__ = ["EXIT_WAIT_SECONDS", "guard_loop", "wait_for_handoffs"]
