"""Opening the fsspec filesystem for a :class:`~artifact_fs.resolver.Resolved` location.

Every option is passed explicitly, so fsspec's instance cache (keyed on the keyword
arguments) hands back the same filesystem only for the same settings: a changed
environment never reuses a stale client.
"""

from __future__ import annotations

import importlib

from .errors import BackendNotInstalledError
from .resolver import Resolved, resolve


def filesystem_class(resolved: Resolved):
    """Import the implementation class for ``resolved``, with an install hint if missing."""
    row = resolved.row
    module_name, _, class_name = row.impl.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendNotInstalledError(
            f"{row.name or 'local'}:// artifacts need {module_name.split('.')[0]} "
            f"({exc.name or exc}): {row.install_hint}"
        ) from exc
    return getattr(module, class_name)


def open_filesystem(resolved: Resolved):
    """An fsspec filesystem instance for ``resolved`` (no network I/O happens here)."""
    cls = filesystem_class(resolved)
    return cls(**resolved.storage_options)


def filesystem(uri: str, env=None, **overrides):
    """``(fs, path)`` for any MLflow artifact URI, like ``fsspec.url_to_fs``.

    >>> fs, path = filesystem("memory://demo")
    >>> path
    '/demo'
    """
    resolved = resolve(uri, env, **overrides)
    return open_filesystem(resolved), resolved.root
