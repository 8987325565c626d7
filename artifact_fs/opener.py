"""Opening the fsspec filesystem for a :class:`~artifact_fs.resolver.Resolved` location.

Every option is passed explicitly, so fsspec's instance cache (keyed on the keyword
arguments) hands back the same filesystem only for the same settings: a changed
environment never reuses a stale client.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Mapping
from typing import Any

from ._compat import require_declared_versions
from .bounded_calls import BoundedCalls
from .errors import BackendNotInstalledError
from .lru import LRU
from .portable import Recipe
from .resolver import Resolved, resolve


def filesystem_class(resolved: Resolved):
    """Import the implementation class for ``resolved``, with an install hint if missing
    or older than the minimum ``pyproject.toml`` declares."""
    row = resolved.row
    module_name, _, class_name = row.client.impl.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = (exc.name or module_name).split(".")[0]  # the package, also when our own module imports it
        raise BackendNotInstalledError(
            f"{row.name or 'local'}:// artifacts need {missing} ({exc.name or exc}): {row.client.install_hint}"
        ) from exc
    needed_by = f"{row.name or 'local'}:// artifacts"
    require_declared_versions(None, ("fsspec",), needed_by)
    if row.client.extra:
        require_declared_versions(row.client.extra, (), needed_by)
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
    if resolved.row.client.prepare is not None:
        resolved.row.client.prepare(fs)
    if resolved.recipe is not None:
        _pickle_as(fs, resolved.recipe)
    return fs


def reopen_filesystem(recipe: Recipe):
    """The filesystem a pickle describes, opened where it is unpickled: the URI resolved again
    with this process's environment over the carried settings (:mod:`artifact_fs.portable`)."""
    return open_filesystem(resolve(recipe.uri, recipe.environment(), **recipe.options))


def _pickle_as(fs, recipe: Recipe) -> None:
    """Make ``fs`` pickle as ``recipe`` (no credential) instead of its constructor's arguments.

    ``pickle`` and ``cloudpickle`` look ``__reduce_ex__`` up on the instance, so this
    applies to this instance only; an instance fsspec's cache shares was made with the
    same options, which the recipe resolves to again."""
    try:
        fs.__reduce_ex__ = lambda _protocol: (reopen_filesystem, (recipe,))
    except (AttributeError, TypeError):  # an implementation with __slots__: it pickles its own way
        pass


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
    if resolved.row.client.bounded_calls and timeout:
        fs = BoundedCalls(fs, resolved.row.client.bounded_calls, timeout)
    if key is not None:
        _private.put(key, fs)
    return fs


def _private_key(cls, kwargs: Mapping[str, Any], resolved: Resolved) -> str | None:
    """The cache key of a private instance (``None``: never reuse one, for rows whose clients
    drop their connection and must be reopened, or options that cannot be tokenized)."""
    if resolved.row.client.connection_probe is not None or kwargs.get("skip_instance_cache"):
        return None
    from fsspec.utils import tokenize

    try:
        return tokenize(
            cls, os.getpid(), threading.get_ident(), kwargs, resolved.fs_attributes, resolved.fs_environment
        )
    except Exception:  # noqa: BLE001 - an option tokenize cannot hash: no reuse
        return None


def keyword_arguments(resolved: Resolved) -> dict[str, Any]:
    """The storage options as the implementation's keyword arguments.

    For a row with a ``conf_option`` (Hadoop-style configuration keys, which contain
    dots), that option's keys become top-level arguments and every nested dict becomes
    dotted names: ``{"config": {"dfs": {"replication": "1"}}}`` → ``dfs.replication="1"``.
    """
    options = dict(resolved.storage_options)
    if not resolved.row.client.conf_option:
        return options
    conf = options.pop(resolved.row.client.conf_option, None) or {}
    return _dotted({**options, **conf})


def _dotted(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(_dotted(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
