"""A verified local read cache (opt-in): repeated reads of an unchanged artifact cost no transfer.

Turn it on with ``ARTIFACT_FS_CACHE_DIR=/path`` (read when a repository or filesystem
is built) or the ``cache_dir`` storage option of ``runs://`` / ``models://``.

An entry is keyed by the store's identity (protocol and non-secret options such as the
endpoint), the file's path, and the version fields the store's ``info()`` reports for
it: size plus every one of ETag, checksums, generation and modification time that the
store gives. Every read asks the store for ``info()`` first, so a changed artifact has a
new key and is fetched again; a store that reports no version field at all (only a
size) is never cached, since a rewrite of the same size could not be told apart.

Entries are written under a temporary name in the cache directory, checked, and published
with ``os.replace``, so concurrent processes never see a partial entry and need no locks.
The check is the size the store announced and, when the caller passes the scheme row
(``row=``), the digest it lists (:func:`artifact_fs.integrity.mismatch`: MD5 ETag,
multipart ETag, GCS ``md5Hash``, Azure ``Content-MD5``): a copy corrupted on its way is
never published, so a bad first read is not served again once the network is healthy.
With a ``policy`` too, a corrupted fill is fetched again within its retry budget.
Nothing is ever evicted automatically: delete the directory to reclaim the space.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from .redaction import looks_secret

CACHE_DIR_VAR = "ARTIFACT_FS_CACHE_DIR"

#: info() fields that change when an object's content does (any that the store reports)
VERSION_FIELDS = (
    "ETag",
    "e_tag",
    "etag",
    "md5Hash",
    "crc32c",
    "content_md5",
    "checksum",
    "generation",
    "VersionId",
    "version_id",
    "LastModified",
    "last_modified",
    "mtime",
    "modification_time",
    "updated",
    "modified",
)


class ReadCache:
    """Cached copies of remote files under ``directory``, verified against ``info()``."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = os.path.abspath(os.fspath(directory))
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"ReadCache({self.directory!r}, hits={self.hits}, misses={self.misses})"

    def key(self, fs, path: str, info: Mapping[str, Any]) -> str | None:
        """The entry name for ``path`` as ``info`` describes it; ``None`` when it has no version field."""
        versions = {name: str(info[name]) for name in VERSION_FIELDS if info.get(name) not in (None, "")}
        if not versions or info.get("size") is None:
            return None
        identity = {
            "protocol": fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0],
            "options": {k: v for k, v in getattr(fs, "storage_options", {}).items() if not looks_secret(k)},
            "path": fs._strip_protocol(path),
            "size": int(info["size"]),
            "versions": versions,
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()

    def entry(self, key: str) -> str:
        """The cache file for ``key``."""
        return os.path.join(self.directory, key[:2], key)

    def fetch(
        self,
        fs,
        path: str,
        info: Mapping[str, Any] | None = None,
        download: Callable[[str, str], None] | None = None,
        *,
        row=None,
        policy=None,
    ) -> str | None:
        """A local file holding ``path``'s current bytes, fetched into the cache on a miss.

        Returns ``None`` when the store reports nothing to verify a copy against (the caller
        then reads from the store). ``download(remote, local)`` defaults to ``fs.get_file``.
        A fetched copy is published only once its size and, with the scheme ``row``, its
        digest match ``info``; with a ``policy``, a mismatch is fetched again within the
        policy's retry budget (:func:`artifact_fs.integrity.with_retries`), else it raises
        :class:`~artifact_fs.errors.IntegrityError`.
        """
        info = fs.info(path) if info is None else info
        key = self.key(fs, path, info)
        if key is None:
            return None
        final = self.entry(key)
        if os.path.isfile(final) and os.path.getsize(final) == int(info["size"]):
            self.hits += 1
            return final
        self.misses += 1
        os.makedirs(os.path.dirname(final), exist_ok=True)
        temp = _temp_entry(final)

        def attempt(_number: int) -> None:
            (download or fs.get_file)(path, temp)
            _check_fill(fs, path, temp, info, row, policy)

        try:
            if row is not None and policy is not None:
                from .integrity import with_retries

                with_retries(policy, row, attempt, f"caching {path!r}")
            else:
                attempt(0)
            os.replace(temp, final)
        finally:
            if os.path.exists(temp):
                os.remove(temp)
        return final

    def copy_to(
        self,
        fs,
        path: str,
        info: Mapping[str, Any],
        local: str,
        download: Callable[[str, str], None] | None = None,
        *,
        row=None,
        policy=None,
    ) -> bool:
        """Place ``path``'s bytes at ``local`` through the cache; ``False`` if it cannot be cached."""
        cached = self.fetch(fs, path, info, download, row=row, policy=policy)
        if cached is None:
            return False
        _copy_into_place(cached, local)
        return True


def cache_from_environment(env: Mapping[str, str] | None = None) -> ReadCache | None:
    """The cache named by ``ARTIFACT_FS_CACHE_DIR`` (``None``: caching is off)."""
    directory = (os.environ if env is None else env).get(CACHE_DIR_VAR)
    return ReadCache(directory) if directory else None


def download_through_cache(
    cache: ReadCache,
    fs,
    pairs,
    infos: Mapping[str, Mapping[str, Any]],
    download: Callable[[list], None],
    *,
    row=None,
    policy=None,
) -> None:
    """Place ``(remote, local)`` pairs, served from the cache where ``infos`` allows.

    One batched ``download`` fetches the misses into temporary names in the cache (and any
    pair that cannot be verified straight to its destination); each fetched copy is published
    as an entry only once its size and, with the scheme ``row``, its digest match ``infos``
    (an :class:`~artifact_fs.errors.IntegrityError` otherwise: nothing is published, the
    ``download`` callable's own retries are the place for another attempt); then every
    cached entry is copied into place.
    """
    uncached, misses, placed = [], {}, []
    for remote, local in pairs:
        info = infos.get(remote) or infos.get(fs._strip_protocol(remote))
        key = cache.key(fs, remote, info) if info is not None else None
        if key is None:
            uncached.append((remote, local))
            continue
        entry, size = cache.entry(key), int(info["size"])
        if os.path.isfile(entry) and os.path.getsize(entry) == size:
            cache.hits += 1
        elif entry not in misses:
            cache.misses += 1
            misses[entry] = (remote, info, _temp_entry(entry))
            os.makedirs(os.path.dirname(entry), exist_ok=True)
        placed.append((entry, local))
    batch = uncached + [(remote, temp) for _entry, (remote, _info, temp) in misses.items()]
    try:
        if batch:
            download(batch)
        for entry, (remote, info, temp) in misses.items():
            _check_fill(fs, remote, temp, info, row, policy)
            os.replace(temp, entry)
    finally:
        for _remote, _info, temp in misses.values():
            if os.path.exists(temp):
                os.remove(temp)
    for entry, local in placed:
        _copy_into_place(entry, local)


def _temp_entry(final: str) -> str:
    return f"{final}.{uuid.uuid4().hex[:12]}.partial"


def _check_fill(fs, remote: str, temp: str, info: Mapping[str, Any], row, policy) -> None:
    """Raise unless the fetched ``temp`` has the size (and, with a ``row``, the digest) the
    store announced for ``remote``."""
    got = os.path.getsize(temp)
    if got != int(info["size"]):
        from .errors import CorruptedInTransit

        raise CorruptedInTransit(f"{remote}: fetched {got} bytes, the store announced {info['size']}")
    if row is None:
        return
    from .errors import CorruptedInTransit
    from .integrity import mismatch, transfer_policy

    why = mismatch(fs, row, temp, remote, info, policy or transfer_policy())
    if why is not None:
        raise CorruptedInTransit(f"cache fill of {remote!r} not verified: {why}")


def _copy_into_place(source: str, local: str) -> None:
    os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
    temp = f"{local}.{uuid.uuid4().hex[:12]}.partial"
    try:
        shutil.copyfile(source, temp)
        os.replace(temp, local)
    finally:
        if os.path.exists(temp):
            os.remove(temp)
