"""What MLflow's ``ArtifactRepository.__init__`` builds for every repository, built on first use.

The base ``__init__`` makes a thread pool (asking ``os.cpu_count()``, a file read on Linux)
and an async-logging queue (a queue, a lock, an event) for every repository: about half of
an artifact_fs construction, although a repository ``mlflow server`` builds per request
rarely touches either. :class:`DeferredBase` keeps the URIs at once and runs MLflow's own
base ``__init__`` when ``thread_pool`` or ``_async_logging_queue`` is first read, on the
repository itself (so the queue's handler is MLflow's, bound to it).

Only when the installed MLflow's base ``__init__`` sets nothing but the attributes named in
:data:`KNOWN` (checked once per class, on a blank instance): any other MLflow release runs
it in ``__init__`` as always.
"""

from __future__ import annotations

import functools
import threading

#: what MLflow's base ``__init__`` sets (2.22: no tracking or registry URI), and which of it waits
KNOWN = frozenset({"artifact_uri", "tracking_uri", "registry_uri", "thread_pool", "_async_logging_queue"})
LATER = ("thread_pool", "_async_logging_queue")
_ARGS = "_artifact_fs_base_args"
_LOCK = threading.RLock()


class BuiltOnFirstUse:
    """An attribute the base ``__init__`` sets: read from the instance, which runs the base
    ``__init__`` first when the repository deferred it (:meth:`DeferredBase.run_base_init`)."""

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, repo, owner=None):
        if repo is None:
            return self
        try:
            return repo.__dict__[self.name]
        except KeyError:
            repo.run_base_init()
        try:
            return repo.__dict__[self.name]
        except KeyError:
            raise AttributeError(self.name) from None

    def __set__(self, repo, value) -> None:
        repo.__dict__[self.name] = value

    def __delete__(self, repo) -> None:
        repo.__dict__.pop(self.name, None)


class DeferredBase:
    """Mixed in before MLflow's ``ArtifactRepository``: :meth:`start_base` instead of ``super().__init__``."""

    thread_pool = BuiltOnFirstUse()
    _async_logging_queue = BuiltOnFirstUse()

    def start_base(self, artifact_uri: str, uris: dict) -> None:
        """The base ``__init__`` with ``uris`` (the keyword arguments it accepts): its URIs now,
        the rest on first use when :func:`deferrable` says this MLflow allows it."""
        if not deferrable(type(self)):
            super().__init__(artifact_uri, **uris)
            return
        fields = self.__dict__
        fields["artifact_uri"] = artifact_uri
        fields.update(uris)
        fields[_ARGS] = (artifact_uri, uris)

    def run_base_init(self) -> None:
        """Run the deferred base ``__init__`` now (once); what was set on the repository since wins."""
        with _LOCK:
            args = self.__dict__.pop(_ARGS, None)
            if args is None:
                return
            kept = dict(self.__dict__)
            super().__init__(args[0], **args[1])
            self.__dict__.update(kept)


@functools.cache
def deferrable(cls: type) -> bool:
    """Whether the base ``__init__`` of ``cls`` (past :class:`DeferredBase`) sets only :data:`KNOWN`."""
    blank = object.__new__(cls)
    try:
        super(DeferredBase, blank).__init__("file:///artifact_fs-probe")
    except Exception:  # noqa: BLE001 - a base class that wants more: never deferred
        return False
    return set(blank.__dict__) <= KNOWN and set(LATER) <= set(blank.__dict__)
