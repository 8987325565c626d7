"""Deletes, copies and moves on the obstore engine: the changing methods of
:class:`~artifact_fs.obstore_fs.ObstoreFileSystem` (a mixin). Deletes go in bulk requests of
1,000 keys; a ``d/`` marker object, which object_store cannot address, is deleted by the store
class itself (:meth:`ObstoreChanges.delete_markers`; S3 sends a signed request)."""

from __future__ import annotations

import asyncio
from typing import Any

from .obstore_files import as_builtin_error, translated


class ObstoreChanges:
    """The changing methods (a mixin of :class:`~artifact_fs.obstore_fs.ObstoreFileSystem`)."""

    @translated
    async def _rm_file(self, path: str, **_kwargs: Any) -> None:
        """Delete one object; ``d/`` names a directory marker, which object_store cannot
        address (it drops the slash): the store class deletes it (:meth:`delete_markers`)."""
        store, bucket, key = self._store_and_key(path)
        if str(path).endswith("/") and key:
            await asyncio.to_thread(self.delete_markers, bucket, [key.rstrip("/") + "/"])
        else:
            await store.delete_async(key)
        self.invalidate_cache(self._parent(self._strip_protocol(path)))

    async def _rm(self, path, recursive: bool = False, batch_size=None, **_kwargs: Any) -> None:
        """Delete objects (a directory with ``recursive``) in bulk requests."""
        paths = path if isinstance(path, list) else [path]
        keys_by_bucket: dict[str, list[str]] = {}
        for one in paths:
            one = self._strip_protocol(one)
            names = await self._find(one) if recursive else [one]
            for name in names or [one]:
                bucket, key = self._split_path(name)
                keys_by_bucket.setdefault(bucket, []).append(key)
        for bucket, keys in keys_by_bucket.items():
            store = self._construct_store(bucket)
            for start in range(0, len(keys), 1000):
                try:
                    await store.delete_async(keys[start : start + 1000])
                except Exception as exc:  # noqa: BLE001 - re-raised as its builtin class
                    raise as_builtin_error(exc, bucket) from exc
        self.invalidate_cache()

    def delete_markers(self, bucket: str, keys: list[str]) -> None:
        """Delete ``dir/`` marker objects: nothing here, where object_store cannot address
        them; a store class that can send the request itself does (S3)."""

    async def _cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Server-side copy within one bucket."""
        try:
            await super()._cp_file(self._strip_protocol(path1), self._strip_protocol(path2), **kwargs)
        except Exception as exc:  # noqa: BLE001 - re-raised as its builtin class
            raise as_builtin_error(exc, path1) from exc

    async def _mv_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        await self._cp_file(path1, path2)
        await self._rm_file(path1)

    async def _makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Object stores have no directories: nothing to make."""

    async def _mkdir(self, path: str, create_parents: bool = True, **_kwargs: Any) -> None:
        """Object stores have no directories: nothing to make."""

    async def _rmdir(self, path: str) -> None:
        """Object stores have no directories: nothing to remove."""


__all__ = ["ObstoreChanges"]
