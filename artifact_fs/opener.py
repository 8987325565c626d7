"""Opening the fsspec filesystem for a :class:`~artifact_fs.resolver.Resolved` location.

Every option is passed explicitly, so fsspec's instance cache (keyed on the keyword
arguments) hands back the same filesystem only for the same settings: a changed
environment never reuses a stale client.
"""

from __future__ import annotations

import functools
import importlib
import os
import threading
from typing import Any, Mapping

from ._compat import require_declared_versions
from ._lru import LRU
from .errors import BackendNotInstalledError
from .resolver import Resolved, resolve


def filesystem_class(resolved: Resolved):
    """Import the implementation class for ``resolved``, with an install hint if missing
    or older than the minimum ``pyproject.toml`` declares."""
    row = resolved.row
    module_name, _, class_name = row.impl.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendNotInstalledError(
            f"{row.name or 'local'}:// artifacts need {module_name.split('.')[0]} "
            f"({exc.name or exc}): {row.install_hint}"
        ) from exc
    needed_by = f"{row.name or 'local'}:// artifacts"
    require_declared_versions(None, ("fsspec",), needed_by)
    if row.extra:
        require_declared_versions(row.extra, (), needed_by)
    return getattr(module, class_name)


def open_filesystem(resolved: Resolved):
    """An fsspec filesystem instance for ``resolved`` (no network I/O happens here).

    When the row sets instance attributes or environment variables, the instance is
    private (not taken from or put into fsspec's instance cache), so the attributes never
    leak to other users and a changed variable never reuses a client built without it;
    such instances are reused only for the very same options, attributes and variables
    (a small LRU of :data:`PRIVATE_CACHE_SIZE`, per process and thread).
    Variables of the ``env:`` channel are exported to this process first (clients such as
    hdfs-native read them only there). With ``bounded_calls`` and an ``attr:call_timeout``,
    the instance is wrapped in :class:`BoundedCalls`.
    """
    fs = _instantiate(resolved)
    if resolved.row.prepare is not None:
        resolved.row.prepare(fs)
    return fs


#: Private instances (rows that set attributes or variables) reused for the same options, per
#: process and thread as fsspec's own cache does; the oldest is dropped past this many.
PRIVATE_CACHE_SIZE = 32
_private = LRU(PRIVATE_CACHE_SIZE)


def _instantiate(resolved: Resolved):
    cls = filesystem_class(resolved)
    kwargs = keyword_arguments(resolved)
    os.environ.update(resolved.fs_environment)
    if not resolved.fs_attributes and not resolved.fs_environment:
        return cls(**kwargs)
    key = _private_key(cls, kwargs, resolved)
    reused = _private.get(key) if key is not None else None
    if reused is not None:
        return reused
    fs = cls(**{**kwargs, "skip_instance_cache": True})
    for name, value in resolved.fs_attributes.items():
        setattr(fs, name, value)
    timeout = resolved.fs_attributes.get("call_timeout")
    if resolved.row.bounded_calls and timeout:
        fs = BoundedCalls(fs, resolved.row.bounded_calls, timeout)
    if key is not None:
        _private.put(key, fs)
    return fs


def _private_key(cls, kwargs: Mapping[str, Any], resolved: Resolved) -> str | None:
    """The cache key of a private instance (``None``: never reuse one, for rows whose clients
    drop their connection and must be reopened, or options that cannot be tokenized)."""
    if resolved.row.connection_probe is not None or kwargs.get("skip_instance_cache"):
        return None
    from fsspec.utils import tokenize

    try:
        return tokenize(cls, os.getpid(), threading.get_ident(), kwargs, resolved.fs_attributes, resolved.fs_environment)
    except Exception:  # noqa: BLE001 - an option tokenize cannot hash: no reuse
        return None


def keyword_arguments(resolved: Resolved) -> dict[str, Any]:
    """The storage options as the implementation's keyword arguments.

    For a row with a ``conf_option`` (Hadoop-style configuration keys, which contain
    dots), that option's keys become top-level arguments and every nested dict becomes
    dotted names: ``{"config": {"dfs": {"replication": "1"}}}`` → ``dfs.replication="1"``.
    """
    options = dict(resolved.storage_options)
    if not resolved.row.conf_option:
        return options
    conf = options.pop(resolved.row.conf_option, None) or {}
    return _dotted({**options, **conf})


def _dotted(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(_dotted(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


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


def filesystem(uri: str, env=None, **overrides):
    """``(fs, path)`` for any MLflow artifact URI, like ``fsspec.url_to_fs``.

    >>> fs, path = filesystem("memory://demo")
    >>> path
    '/demo'
    """
    resolved = resolve(uri, env, **overrides)
    return open_filesystem(resolved), resolved.root
