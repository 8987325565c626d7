"""``resolve`` remembered for the repository factory, keyed by everything it reads.

``mlflow server`` and MLflow's client build a repository for every request or call
(``get_artifact_repository(uri)``), and ``resolve`` reads ~50 variables, fsspec's config
and the profiles file each time. :func:`resolve_for_repository` answers from a small LRU
when the URI, the whole process environment, fsspec's configuration and the profiles
file's stat are what they were: a changed variable, an edited profiles file or a new
``fsspec.config`` entry is a different key, so the result is always what ``resolve``
would say now. A profile that reads a ``file:`` reference (a secret file that may be
rotated in place) is never remembered.

The public :func:`artifact_fs.resolve` stays uncached: its result is the caller's to
change. Repositories only read theirs.
"""

from __future__ import annotations

import os

from .lru import LRU
from .profiles import profiles_path, stat_stamp
from .resolver import Resolved, resolve

_MEMO = LRU(128)  # key -> (result, profiles path, its stamp)


def resolve_for_repository(uri: str) -> Resolved:
    """``resolve(uri)`` against ``os.environ``, from the memo when nothing it reads changed."""
    key = _key(uri)
    hit = _MEMO.get(key)
    if hit is not None and _stamp(hit[1]) == hit[2]:  # the path follows from the environment (in the key)
        return hit[0]
    path = profiles_path(os.environ)
    stamp = _stamp(path)
    resolved = resolve(uri)
    if resolved.profile is None or not resolved.profile.reads_files:
        _MEMO.put(key, (resolved, path, stamp))
    return resolved


def clear() -> None:
    """Forget every remembered result (tests; a process that changed the world behind our back)."""
    _MEMO.clear()


def _key(uri: str) -> tuple:
    import fsspec.config

    raw = getattr(os.environ, "_data", None)  # CPython: the undecoded bytes, no per-key decode
    environment = frozenset((raw if isinstance(raw, dict) else os.environ).items())
    return uri, environment, repr(fsspec.config.conf)


def _stamp(path: str | None) -> tuple | None:
    if not path:
        return None
    try:
        return stat_stamp(os.stat(path))
    except OSError:
        return ()
