"""One entity's artifact root, opened (:class:`ArtifactRoot`), and verified reads from it
(:func:`open_verified`): what ``runs://`` / ``models://`` (:mod:`artifact_fs.tracked`) open."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

#: files up to this size are fetched whole and verified when opened for reading, when the
#: store's filesystem names no block size of its own
_WHOLE_READ_BYTES = 5 * 2**20


class _ReadFile(io.BytesIO):
    """A file's verified bytes, held in memory, with the name and store entry of the file."""

    def __init__(self, data: bytes, name: str, details: dict):
        super().__init__(data)
        self.path, self.details, self.size = name, details, len(data)

    @property
    def name(self) -> str:
        return self.path

    def info(self) -> dict:
        return self.details


@dataclass(frozen=True)
class ArtifactRoot:
    """The artifact root of one run (or model version), opened: its filesystem and root path.

    Of the three "where" types, :class:`artifact_fs.Resolved` is a URI resolved to a protocol
    and options (nothing opened), this is one entity's root opened, and
    :class:`artifact_fs.api.OpenedPath` is any URI opened down to one path.
    """

    artifact_uri: str  #: as MLflow reports it
    fs: Any  #: the underlying fsspec filesystem
    root: str  #: the artifact root as a path of ``fs``
    resolved: Any = None  #: :class:`artifact_fs.Resolved`

    def path(self, relative: str) -> str:
        """The underlying path of a root-relative artifact path, which must pass the path
        policy (``runs://<id>/../x`` never reaches outside the run's root)."""
        from .paths import clean_artifact_path, under_root

        return under_root(self.root, clean_artifact_path(relative) if relative else "")

    def relative(self, name: str) -> str | None:
        """The root-relative path of an underlying name (``None``: outside the root)."""
        name = self.fs._strip_protocol(name).rstrip("/")
        root = self.root.rstrip("/")
        if name == root:
            return ""
        if root and not name.startswith(root + "/"):
            return None
        return name[len(root) + 1 :] if root else name.lstrip("/")


def open_verified(tracked, target: ArtifactRoot, inner: str, row, policy, block_size, cache_options, kwargs):
    """``target``'s file ``inner`` opened for verified reading (``tracked.open``'s rules): whole
    and checked when no bigger than a read block, else hashed as it is read."""
    from . import verified_reads

    fs = target.fs
    entry = fs.info(inner)
    options = {name: value for name, value in kwargs.items() if name not in ("encoding", "errors", "newline")}
    if entry.get("type") == "directory":  # the store's own answer to opening one
        return fs.open(inner, "rb", block_size=block_size, cache_options=cache_options, **options)
    whole = block_size or getattr(fs, "default_block_size", None) or getattr(fs, "blocksize", None) or _WHOLE_READ_BYTES
    size = entry.get("size")
    if size is not None and int(size) <= whole:
        # pyarrow opens a Parquet file twice (schema, then data): the next open of the
        # unchanged object (same entry) takes the bytes the last one verified, once
        key = (id(fs), inner, json.dumps(entry, sort_keys=True, default=str))
        recent, tracked._recent = tracked._recent, None
        if recent is not None and recent[0] == key:
            data = recent[1]
        else:
            data = verified_reads.read_verified(fs, row, inner, entry, policy)
            tracked._recent = (key, data)
        return _ReadFile(data, name=inner, details=entry)
    raw = fs.open(inner, "rb", block_size=block_size, cache_options=cache_options, **options)
    return verified_reads.verified_reader(raw, fs, row, inner, entry, policy)


__all__ = ["ArtifactRoot", "open_verified"]
