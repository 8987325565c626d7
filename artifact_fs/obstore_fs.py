"""The obstore engine (``ARTIFACT_FS_ENGINE=obstore``): an fsspec filesystem on obstore, the
Python bindings of Rust's ``object_store``, for the S3, GCS and Azure rows.

obstore ships ``obstore.fsspec.FsspecStore``; :class:`ObstoreFileSystem` is that class with
what the transfer core needs of a filesystem and FsspecStore leaves out:

* **downloads streamed to disk** (FsspecStore reads a whole object into memory first), with
  the progress callback;
* **uploads with their headers**: the core's ``ContentType``/``ContentEncoding`` keyword
  arguments and the row's upload attributes (``MLFLOW_S3_UPLOAD_EXTRA_ARGS``) become
  obstore attributes and tags; parts of ``chunksize`` bytes, ``max_concurrency`` in flight;
* **one flat listing** for ``find`` (FsspecStore walks directory by directory), bulk
  deletes for ``rm``;
* **builtin errors**: obstore's permission and authentication errors become
  :class:`PermissionError`, its transport errors :class:`ConnectionError` (or
  :class:`TimeoutError`), as s3fs, gcsfs and adlfs do, so :mod:`artifact_fs.errors` maps
  every engine the same way;
* **entries with the store's digest**: every listing and ``info`` entry carries ``e_tag``.

Each store class (:class:`ObstoreS3FileSystem`...) only says how its options become
obstore's configuration (:meth:`ObstoreFileSystem._store_config`).
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fsspec.asyn import sync
from fsspec.callbacks import DEFAULT_CALLBACK
from obstore.fsspec import FsspecStore

from .obstore_changes import ObstoreChanges
from .obstore_config import (
    HEADER_ATTRIBUTES,
    NO_TIMEOUT,
    ONE_ATTEMPT,
    PART_BYTES,
    PART_SIZE_METADATA,
    PARTS_IN_FLIGHT,
    STREAM_CHUNK,
    durations,
    refused_on_obstore,
)
from .obstore_digests import ETagHasher, Published, Received, file_etag
from .obstore_exit import guard_loop
from .obstore_files import ObstoreWriter, as_builtin_error, translated
from .obstore_listings import ObstoreListings

#: how many uploads' published ETags each filesystem remembers
PUBLISHED_REMEMBERED = 10_000


def _int(value: Any) -> int | None:
    try:
        return int(value) if value else None
    except (TypeError, ValueError):
        return None


def _md5_shaped(etag: str) -> bool:
    """An MD5 (32 hex digits), or a multipart one (``<md5>-<parts>``)."""
    digest, _, parts = etag.partition("-")
    return len(digest) == 32 and all(c in "0123456789abcdef" for c in digest) and (not parts or parts.isdigit())


class ObstoreFileSystem(ObstoreChanges, ObstoreListings, FsspecStore):
    """FsspecStore with streamed downloads, headers on uploads, flat listings and builtin errors.

    ``config``, ``client_options`` and ``retry_config`` go to obstore as they are; a store
    class turns its other keyword arguments into them (:meth:`_store_config`)."""

    protocol: Any = "s3"
    cachable = True
    #: multipart uploads record their part size in the object's metadata (:data:`PART_SIZE_METADATA`)
    records_part_size = True
    #: reads up to this size are fetched whole and checked at once (``runs://`` opens), as on s3fs
    default_block_size = blocksize = 50 * 2**20
    #: part size and parts in flight of streamed writes
    part_bytes = PART_BYTES
    parts_in_flight = PARTS_IN_FLIGHT

    def __init__(self, *args: Any, upload_attributes: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        self.upload_attributes = dict(upload_attributes or {})
        self.upload_tags: dict[str, str] = {}
        options = self._store_config(kwargs)
        super().__init__(self.protocol_name, *args, **options)
        cached_store = self._construct_store  # FsspecStore's cache of one store per bucket

        def construct_store(bucket: str):
            guard_loop()  # obstore answers on the running loop: exit waits for it (obstore_exit)
            return cached_store(bucket)

        self._construct_store = construct_store

    @property
    def protocol_name(self) -> str:
        """The first of the class's protocols (obstore builds stores from ``<protocol>://<bucket>``)."""
        return self.protocol if isinstance(self.protocol, str) else self.protocol[0]

    def _store_config(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The store class's own keyword arguments folded into obstore's ``config``/``client_options``."""
        return kwargs

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = str(path)
        for protocol in (cls.protocol,) if isinstance(cls.protocol, str) else cls.protocol:
            if path.startswith(f"{protocol}://"):
                path = path[len(protocol) + 3 :]
                break
        return path.rstrip("/")

    def _store_and_key(self, path: str):
        bucket, key = self._split_path(self._strip_protocol(path))
        return self._construct_store(bucket), bucket, key

    # --- transfers ------------------------------------------------------------------------

    @translated
    async def _put_file(
        self, lpath: str, rpath: str, callback=DEFAULT_CALLBACK, chunksize: int | None = None,
        max_concurrency: int | None = None, mode: str = "overwrite", **headers: Any,
    ) -> None:  # fmt: skip
        """Upload one local file: one PUT up to ``chunksize`` bytes, else a multipart upload
        of ``chunksize`` parts, ``max_concurrency`` in flight; headers become attributes."""
        store, _bucket, key = self._store_and_key(rpath)
        size = os.path.getsize(lpath)
        callback.set_size(size)
        part = int(chunksize or PART_BYTES)
        attributes = {**self.upload_attributes}
        for name, value in headers.items():
            if name in HEADER_ATTRIBUTES and value is not None:
                attributes.setdefault(HEADER_ATTRIBUTES[name], str(value))
        if size > part and self.records_part_size:
            attributes[PART_SIZE_METADATA] = str(part)
        layout = part if size > part else None  # the ETag the store must answer, hashed meanwhile
        small = size < STREAM_CHUNK
        hashing = None if small else asyncio.get_running_loop().run_in_executor(None, file_etag, lpath, layout)
        expected = file_etag(lpath, layout) if small else None
        result = await store.put_async(
            key,
            Path(lpath),
            attributes=attributes or None,
            tags=self.upload_tags or None,
            use_multipart=size > part,
            chunk_size=part,
            max_concurrency=int(max_concurrency or PARTS_IN_FLIGHT),
            mode="create" if mode == "create" else "overwrite",
        )
        callback.relative_update(size)
        self.remember_published(rpath, result, expected if hashing is None else await hashing)
        self.invalidate_cache(self._parent(self._strip_protocol(rpath)))

    def remember_published(self, rpath: str, result: Mapping[str, Any], expected: str | None = None) -> None:
        """Keep the ETag the store answered our upload of ``rpath`` with (:meth:`published`);
        ``expected`` is the ETag the bytes sent must have (their MD5, or multipart MD5)."""
        published = self.__dict__.setdefault("_published", OrderedDict())
        etag = str(result.get("e_tag") or "").strip('"').lower()
        if etag:
            intact = None
            if expected is not None and getattr(self, "etag_is_md5", True) and _md5_shaped(etag):
                intact = etag == expected
            published[self._strip_protocol(rpath)] = Published(etag, intact)
            while len(published) > PUBLISHED_REMEMBERED:
                published.popitem(last=False)

    def put_options(self, multipart_part: int | None = None) -> dict[str, Any]:
        """``put_async`` keyword arguments: the upload attributes and tags, and for a multipart
        upload of ``multipart_part`` bytes per part the part size recorded in its metadata."""
        attributes = dict(self.upload_attributes)
        options: dict[str, Any] = {}
        if multipart_part:
            if self.records_part_size:
                attributes[PART_SIZE_METADATA] = str(multipart_part)
            options.update(chunk_size=multipart_part, max_concurrency=self.parts_in_flight)
        return {"attributes": attributes or None, "tags": self.upload_tags or None, **options}

    def _run(self, coro):
        """Run ``coro`` on this filesystem's event loop from a synchronous caller."""
        return sync(self.loop, lambda: coro)

    def _open(self, path: str, mode: str = "rb", block_size: int | None = None, **kwargs: Any):
        """``rb``: obstore's reader, ``block_size`` bytes per request; ``wb``: an
        :class:`~artifact_fs.obstore_files.ObstoreWriter`, ``block_size`` bytes per part."""
        path = self._strip_protocol(path)
        if mode == "wb":
            return ObstoreWriter(self, path, block_size)
        kwargs.pop("cache_type", None)
        kwargs.pop("cache_options", None)
        return super()._open(path, mode, buffer_size=block_size, **kwargs)

    def published(self, path: str) -> Published | None:
        """What this filesystem's own last upload of ``path`` published, if remembered."""
        return self.__dict__.get("_published", {}).get(self._strip_protocol(path))

    @translated
    async def _get_file(
        self, rpath: str, lpath: str, callback=DEFAULT_CALLBACK, chunksize: int | None = None, **_kwargs: Any
    ) -> None:
        """Stream one object into ``lpath`` (never the whole object in memory)."""
        if os.path.isdir(lpath):
            return
        store, _bucket, key = self._store_and_key(rpath)
        response = await store.get_async(key)
        callback.set_size(int(response.meta["size"]))
        etag = str(response.meta.get("e_tag") or "").strip('"').lower()
        hasher = ETagHasher.for_etag(etag, _int(dict(response.attributes or {}).get(PART_SIZE_METADATA)))
        loop = asyncio.get_running_loop()

        def keep(target, view: memoryview) -> None:
            target.write(view)
            hasher.update(view)

        with open(lpath, "wb") as target:
            async for chunk in response.stream(min_chunk_size=STREAM_CHUNK):
                view = memoryview(chunk)
                if len(view) >= STREAM_CHUNK:  # big writes (and hashing) off the event loop, small ones inline
                    await loop.run_in_executor(None, keep, target, view)
                else:
                    keep(target, view)
                callback.relative_update(len(view))
        self.remember_received(lpath, hasher.received())

    def remember_received(self, lpath: str, received: Received) -> None:
        """Keep what this filesystem's download into ``lpath`` received (:meth:`received`)."""
        kept = self.__dict__.setdefault("_received", OrderedDict())
        kept[os.path.abspath(lpath)] = received
        while len(kept) > PUBLISHED_REMEMBERED:
            kept.popitem(last=False)

    def received(self, lpath: str) -> Received | None:
        """What this filesystem's own last download into ``lpath`` received, if remembered."""
        return self.__dict__.get("_received", {}).get(os.path.abspath(lpath))

    @translated
    async def _pipe_file(self, path: str, value: Any, mode: str = "overwrite", **_kwargs: Any) -> Any:
        """Write ``value`` to ``path`` in one PUT."""
        store, _bucket, key = self._store_and_key(path)
        result = await store.put_async(key, value, attributes=self.upload_attributes or None)
        self.remember_published(path, result)
        self.invalidate_cache(self._parent(self._strip_protocol(path)))
        return result

    @translated
    async def _cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        """The object's bytes (or the range ``[start, end)``; negative offsets count from its end)."""
        if (start is not None and start < 0) or (end is not None and end < 0) or (start is None) != (end is None):
            size = (await self._info(path))["size"]
            start = 0 if start is None else (size + start if start < 0 else start)
            end = size if end is None else (size + end if end < 0 else end)
        if start is not None and end is not None and end <= start:
            return b""
        return await super()._cat_file(self._strip_protocol(path), start, end, **kwargs)

    @translated
    async def _attributes(self, path: str) -> dict[str, str]:
        """The object's attributes and user metadata (one HEAD)."""
        store, _bucket, key = self._store_and_key(path)
        return dict((await store.get_async(key, options={"head": True})).attributes)

    def recorded_part_size(self, path: str) -> int | None:
        """The part size this engine's multipart upload recorded in the object's metadata, or None."""
        return _int(sync(self.loop, self._attributes, path).get(PART_SIZE_METADATA))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} protocol={self.protocol_name!r}>"


__all__ = [
    "HEADER_ATTRIBUTES",
    "NO_TIMEOUT",
    "ONE_ATTEMPT",
    "PART_SIZE_METADATA",
    "ObstoreFileSystem",
    "Published",
    "as_builtin_error",
    "durations",
    "refused_on_obstore",
]
