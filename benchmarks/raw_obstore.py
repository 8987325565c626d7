"""The ``obstore`` contender: each workload done with obstore's own native calls (Rust
``object_store``), no fsspec, no artifact_fs: the floor the obstore engine is held to.

Files in flight: all of them at once (obstore's client pools connections itself); big files
go through obstore's multipart ``put`` (8 MiB parts, 8 in flight) and a streamed ``get``
written as it arrives; listings are obstore's ``list_with_delimiter`` / flat ``list``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from . import datasets
from .config import BIG_FILE_NAME, LIST_CALLS

PART = 8 * 2**20
PARTS_IN_FLIGHT = 8
FILES_IN_FLIGHT = 64


def s3_store(store, env=None):
    """An obstore ``S3Store`` on the benchmark's bucket (endpoint and keys from the environment)."""
    from obstore.store import S3Store

    env = os.environ if env is None else env
    endpoint = env["MLFLOW_S3_ENDPOINT_URL"]
    return S3Store(
        store.bucket,
        endpoint=endpoint,
        access_key_id=env["AWS_ACCESS_KEY_ID"],
        secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region=env.get("AWS_DEFAULT_REGION", "us-east-1"),
        client_options={"allow_http": endpoint.startswith("http://")},
    )


def _key(store, relative: str) -> str:
    """The object key of ``relative`` below the store root (the root minus its bucket)."""
    below = store.root.strip("/").partition("/")[2]
    return f"{below}/{relative}" if below else relative


async def _bounded(coros, limit: int = FILES_IN_FLIGHT):
    gate = asyncio.Semaphore(limit)

    async def one(coro):
        async with gate:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


async def _get_to(obj_store, key: str, local: str) -> None:
    import obstore

    response = await obstore.get_async(obj_store, key)
    with open(local, "wb") as target:
        async for chunk in response.stream(min_chunk_size=2**20):
            target.write(chunk)


def make_ops(open_store):
    """``{workload: op}`` for a store opened by ``open_store(store)``."""
    import obstore

    def w1(store, data, scratch, out):
        files = datasets.local_files(data["tree"])
        obj = open_store(store)
        asyncio.run(_bounded(obstore.put_async(obj, _key(store, f"{out}/{rel}"), Path(full)) for full, rel in files))

    def w2(store, data, scratch, out):
        obj = open_store(store)
        prefix = _key(store, datasets.TREE) + "/"
        keys = [meta["path"] for page in obstore.list(obj, prefix, chunk_size=1000) for meta in page]
        local = [os.path.join(scratch, *key[len(prefix) :].split("/")) for key in keys]
        for parent in {os.path.dirname(path) for path in local}:
            os.makedirs(parent, exist_ok=True)
        asyncio.run(_bounded(_get_to(obj, key, path) for key, path in zip(keys, local)))

    def w3(store, data, scratch, out):
        obstore.put(
            open_store(store),
            _key(store, f"{out}/{BIG_FILE_NAME}"),
            Path(data["big"]),
            chunk_size=PART,
            max_concurrency=PARTS_IN_FLIGHT,
        )

    def w4(store, data, scratch, out):
        key = _key(store, f"{data['big_dir']}/{BIG_FILE_NAME}")
        asyncio.run(_get_to(open_store(store), key, os.path.join(scratch, BIG_FILE_NAME)))

    def w5a(store, data, scratch, out):
        obj, prefix = open_store(store), _key(store, datasets.LISTING) + "/"
        total = 0
        for _ in range(LIST_CALLS):
            listed = obstore.list_with_delimiter(obj, prefix)
            total += len(listed["objects"]) + len(listed["common_prefixes"])
        return total

    def w5b(store, data, scratch, out):
        obj, prefix = open_store(store), _key(store, datasets.TREE) + "/"
        keys = [meta["path"] for page in obstore.list(obj, prefix, chunk_size=1000) for meta in page]
        dirs = {key.rsplit("/", 1)[0] for key in keys} - {prefix.rstrip("/")}
        return len(dirs) + len(keys)

    return {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5a": w5a, "W5b": w5b}


class _Lazy(dict):
    """The ops, built on first use (obstore is imported in the worker, not by the harness)."""

    def __init__(self, open_store):
        super().__init__()
        self._open_store = open_store

    def __getitem__(self, workload):
        if not dict.__len__(self):
            self.update(make_ops(self._open_store))
        return dict.__getitem__(self, workload)


S3 = _Lazy(s3_store)
