"""artifact_fs: MLflow artifact storage on fsspec — one repository, every store.

>>> import artifact_fs
>>> artifact_fs.resolve("s3://bucket/runs", env={}).url
's3://bucket/runs'

Public names are imported lazily, so ``import artifact_fs`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "BackendNotInstalledError": "artifact_fs.errors",
    "FsspecArtifactRepository": "artifact_fs.repository",
    "InvalidArtifactPathError": "artifact_fs.errors",
    "InvalidSettingError": "artifact_fs.errors",
    "InvalidURIError": "artifact_fs.errors",
    "Resolved": "artifact_fs.resolver",
    "filesystem": "artifact_fs.opener",
    "resolve": "artifact_fs.resolver",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from .errors import BackendNotInstalledError, InvalidArtifactPathError, InvalidSettingError, InvalidURIError
    from .opener import filesystem
    from .repository import FsspecArtifactRepository
    from .resolver import Resolved, resolve


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'artifact_fs' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
