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
    "CopyResult": "artifact_fs.api",
    "FsspecArtifactRepository": "artifact_fs.repository",
    "InvalidArtifactPathError": "artifact_fs.errors",
    "InvalidSettingError": "artifact_fs.errors",
    "InvalidURIError": "artifact_fs.errors",
    "Resolved": "artifact_fs.resolver",
    "ReadCache": "artifact_fs.read_cache",
    "cp": "artifact_fs.api",
    "filesystem": "artifact_fs.api",
    "locate": "artifact_fs.api",
    "ls": "artifact_fs.api",
    "open": "artifact_fs.api",
    "resolve": "artifact_fs.resolver",
    "rm": "artifact_fs.api",
    "spark_conf": "artifact_fs.spark",
    "storage_options": "artifact_fs.api",
}

__all__ = [
    "BackendNotInstalledError", "CopyResult", "FsspecArtifactRepository", "InvalidArtifactPathError",
    "InvalidSettingError", "InvalidURIError", "ReadCache", "Resolved", "cp", "filesystem", "locate", "ls", "open",
    "resolve", "rm", "spark_conf", "storage_options",
]  # fmt: skip
assert sorted(__all__) == sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from .api import CopyResult, cp, filesystem, locate, ls, open, rm, storage_options
    from .errors import BackendNotInstalledError, InvalidArtifactPathError, InvalidSettingError, InvalidURIError
    from .read_cache import ReadCache
    from .repository import FsspecArtifactRepository
    from .resolver import Resolved, resolve
    from .spark import spark_conf


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'artifact_fs' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
