"""Listings on the obstore engine: ``info``, ``ls`` and ``find`` of
:class:`~artifact_fs.obstore_fs.ObstoreFileSystem`, with the store's digest (``e_tag``) in
every entry. ``find`` is one flat, paged listing (FsspecStore walks directory by directory);
zero-byte ``dir/`` marker objects other tools leave are not listed as files, as on s3fs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .obstore_files import translated


class ObstoreListings:
    """The listing methods (a mixin of :class:`~artifact_fs.obstore_fs.ObstoreFileSystem`)."""

    @staticmethod
    def _entry(bucket: str, meta: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "name": f"{bucket}/{meta['path']}" if bucket else meta["path"],
            "size": meta["size"],
            "type": "file",
            "e_tag": meta.get("e_tag"),
            "last_modified": meta.get("last_modified"),
        }

    @translated
    async def _info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """The entry of a file (one HEAD) or a directory (a prefix with objects below it)."""
        path = self._strip_protocol(path)
        store, bucket, key = self._store_and_key(path)
        if not key:  # the bucket: there when it can be listed
            async for _page in store.list(None, chunk_size=1):
                break
            return {"name": bucket, "size": 0, "type": "directory"}
        try:
            return self._entry(bucket, await store.head_async(key))
        except FileNotFoundError:
            pass
        listed = await store.list_with_delimiter_async(key.rstrip("/") + "/")
        if listed["objects"] or listed["common_prefixes"]:
            return {"name": path, "size": 0, "type": "directory"}
        raise FileNotFoundError(path)

    @translated
    async def _ls(self, path: str, detail: bool = True, **_kwargs: Any):
        """One level below ``path``: files and the prefixes beneath it."""
        path = self._strip_protocol(path)
        store, bucket, key = self._store_and_key(path)
        listed = await store.list_with_delimiter_async(key.rstrip("/") + "/" if key else None)
        own = key.rstrip("/")  # the directory's own "d/" marker, listed (without its slash) inside it
        entries = [self._entry(bucket, m) for m in listed["objects"] if not _is_marker(m) and m["path"] != own]
        entries += [
            {"name": f"{bucket}/{prefix.rstrip('/')}", "size": 0, "type": "directory"}
            for prefix in listed["common_prefixes"]
        ]
        if not entries:
            info = await self._info(path)  # a file lists as itself; nothing there raises
            entries = [info] if info["type"] == "file" else []
        return entries if detail else sorted(entry["name"] for entry in entries)

    @translated
    async def _find(self, path: str, maxdepth=None, withdirs: bool = False, detail: bool = False, **_kwargs):
        """Every file below ``path`` from one flat, paged listing (``path`` itself if a file)."""
        path = self._strip_protocol(path)
        store, bucket, key = self._store_and_key(path)
        prefix = key.rstrip("/") + "/" if key else None
        found: dict[str, dict[str, Any]] = {}
        async for page in store.list(prefix, chunk_size=1000):
            for meta in page:
                if _is_marker(meta) or (key and meta["path"] == key.rstrip("/")):  # its own "d/" marker
                    continue
                entry = self._entry(bucket, meta)
                if maxdepth is None or entry["name"][len(path) :].count("/") <= maxdepth:
                    found[entry["name"]] = entry
        for name in _markers_of_directories(found):  # object_store lists "d/" markers as "d"
            del found[name]
        for name in await _markers_of_empty_directories(store, bucket, found):
            del found[name]
        if not found and key:
            try:
                info = self._entry(bucket, await store.head_async(key))
                found[info["name"]] = info
            except FileNotFoundError:
                pass
        if withdirs:
            for name in list(found):
                parent = self._parent(name)
                while len(parent) > len(path):
                    found.setdefault(parent, {"name": parent, "size": 0, "type": "directory"})
                    parent = self._parent(parent)
        names = sorted(found)
        return {name: found[name] for name in names} if detail else names


def _markers_of_directories(found: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Empty objects named like a directory that holds other entries: ``d/`` markers, which
    object_store lists without their slash. They are never files (a store cannot hold a file
    ``d`` and a file ``d/f`` as artifacts of one run)."""
    names = sorted(found)
    return [
        name
        for index, name in enumerate(names)
        if not found[name].get("size") and index + 1 < len(names) and names[index + 1].startswith(name + "/")
    ]


async def _markers_of_empty_directories(store, bucket: str, found: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Empty objects that a HEAD of their listed name does not find: ``empty/`` markers of
    empty directories (object_store drops the slash). One HEAD per empty object, 32 at a time."""
    import asyncio

    empty = [name for name, entry in found.items() if not entry.get("size")]
    gate = asyncio.Semaphore(32)

    async def missing(name: str) -> bool:
        async with gate:
            try:
                await store.head_async(name[len(bucket) + 1 :] if bucket else name)
            except FileNotFoundError:
                return True
            return False

    answers = await asyncio.gather(*(missing(name) for name in empty))
    return [name for name, gone in zip(empty, answers) if gone]


def _is_marker(meta: Mapping[str, Any]) -> bool:
    """A ``dir/`` marker object (a zero-byte key ending in a slash), not a file."""
    return str(meta["path"]).endswith("/")


__all__ = ["ObstoreListings"]
