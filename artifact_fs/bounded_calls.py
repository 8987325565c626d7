"""A filesystem wrapper whose listed methods give up after a timeout (clients with none)."""

from __future__ import annotations

import functools
import threading
from typing import Any


class BoundedCalls:
    """A filesystem whose listed methods give up with ``TimeoutError`` after ``timeout`` seconds.

    For clients with no request timeout of their own (hdfs-native waits forever for a
    stopped NameNode): each such call runs in a daemon thread, abandoned when the time is
    up (it ends by itself once the server answers or drops the connection). Every other
    attribute is the wrapped filesystem's.
    """

    def __init__(self, fs, methods: tuple[str, ...], timeout: float):
        self._fs, self._methods, self._timeout = fs, frozenset(methods), timeout

    def __repr__(self) -> str:
        return f"BoundedCalls({self._fs!r}, timeout={self._timeout})"

    def __getattr__(self, name: str):
        if name in ("_fs", "_methods", "_timeout"):  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        attr = getattr(self._fs, name)
        return functools.partial(self._call, name, attr) if name in self._methods else attr

    def _call(self, name: str, method, *args, **kwargs):
        outcome: dict[str, Any] = {}

        def run():
            try:
                outcome["value"] = method(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                outcome["error"] = exc

        worker = threading.Thread(target=run, name=f"artifact_fs-{name}", daemon=True)
        worker.start()
        worker.join(self._timeout)
        if worker.is_alive():
            raise TimeoutError(f"{name}() got no answer within {self._timeout} s (the artifact transfer timeout)")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]
