"""Contender ``raw`` on Azure Blob (azure-storage-blob, async), GCS (google-cloud-storage)
and HDFS (hdfs-native's own client), each tuned by hand.

Azure: the SDK's asyncio client, ``BLOB_FILES_IN_FLIGHT`` small blobs at once, the big blob
in 8 MiB blocks with 8 in flight, delimiter listings. GCS: google-cloud-storage's
``transfer_manager`` (32 threads) for the trees, a resumable upload and a parallel ranged
download (8 × 32 MiB) for the big file, delimiter listings. HDFS: ``hdfs_native.Client``
with 16 threads for the trees, 8 MiB writes/reads for the big file, ``list_status``.
Same signature as :mod:`benchmarks.raw`: ``op(store, data, scratch, out)``.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from . import datasets
from .config import BIG_FILE_NAME, LIST_CALLS

BLOB_FILES_IN_FLIGHT = 64
BLOCK = 8 * 2**20
BLOCKS_IN_FLIGHT = 8
GCS_WORKERS = 32
GCS_RANGE = 32 * 2**20
HDFS_THREADS = 16

# --- azure ---------------------------------------------------------------------------


def _azure(body):
    from azure.storage.blob.aio import BlobServiceClient

    async def main():
        service = BlobServiceClient.from_connection_string(
            os.environ["AZURE_STORAGE_CONNECTION_STRING"], max_single_put_size=BLOCK, max_block_size=BLOCK,
            max_single_get_size=BLOCK, max_chunk_get_size=BLOCK,
        )  # fmt: skip
        async with service:
            return await body(service)

    return asyncio.run(main())


async def _bounded(coros, limit=BLOB_FILES_IN_FLIGHT):
    gate = asyncio.Semaphore(limit)

    async def one(coro):
        async with gate:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


async def _azure_put(container, local, name):
    with open(local, "rb") as handle:
        await container.upload_blob(name, handle, overwrite=True, max_concurrency=BLOCKS_IN_FLIGHT)


async def _azure_get(container, name, local):
    downloader = await container.download_blob(name, max_concurrency=BLOCKS_IN_FLIGHT)
    with open(local, "wb") as handle:
        await downloader.readinto(handle)


def azure_w1(store, data, scratch, out):
    """W1: every small blob uploaded concurrently."""
    files = datasets.local_files(data["tree"])

    async def body(service):
        container = service.get_container_client(store.bucket)
        await _bounded(_azure_put(container, full, f"{out}/{rel}") for full, rel in files)

    _azure(body)


def azure_w2(store, data, scratch, out):
    """W2: one flat listing, then every blob downloaded concurrently."""

    async def body(service):
        container = service.get_container_client(store.bucket)
        prefix = datasets.TREE + "/"
        names = [b.name async for b in container.list_blobs(name_starts_with=prefix)]
        local = [os.path.join(scratch, *n[len(prefix) :].split("/")) for n in names]
        for parent in {os.path.dirname(p) for p in local}:
            os.makedirs(parent, exist_ok=True)
        await _bounded(_azure_get(container, n, p) for n, p in zip(names, local))

    _azure(body)


def azure_w3(store, data, scratch, out):
    """W3: block upload, 8 MiB blocks, 8 in flight."""
    _azure(lambda s: _azure_put(s.get_container_client(store.bucket), data["big"], f"{out}/{BIG_FILE_NAME}"))


def azure_w4(store, data, scratch, out):
    """W4: ranged download, 8 MiB ranges, 8 in flight."""
    name = f"{data['big_dir']}/{BIG_FILE_NAME}"
    _azure(lambda s: _azure_get(s.get_container_client(store.bucket), name, os.path.join(scratch, BIG_FILE_NAME)))


async def _azure_ls(container, prefix, delimiter=True):
    if delimiter:
        return [b.name async for b in container.walk_blobs(name_starts_with=prefix + "/", delimiter="/")]
    return [b.name async for b in container.list_blobs(name_starts_with=prefix + "/")]


def azure_w5a(store, data, scratch, out):
    """W5a: delimiter listing of the big directory ``LIST_CALLS`` times."""

    async def body(service):
        container = service.get_container_client(store.bucket)
        return sum([len(await _azure_ls(container, datasets.LISTING)) for _ in range(LIST_CALLS)])

    return _azure(body)


def azure_w5b(store, data, scratch, out):
    """W5b: one flat listing of the tree, counted as directories + files."""

    async def body(service):
        names = await _azure_ls(service.get_container_client(store.bucket), datasets.TREE, delimiter=False)
        return len({n.rsplit("/", 1)[0] for n in names} - {datasets.TREE}) + len(names)

    return _azure(body)


AZURE = {"W1": azure_w1, "W2": azure_w2, "W3": azure_w3, "W4": azure_w4, "W5a": azure_w5a, "W5b": azure_w5b}

# --- gcs -----------------------------------------------------------------------------


def _bucket(store):
    from google.cloud import storage

    return storage.Client().bucket(store.bucket)  # STORAGE_EMULATOR_HOST: the emulator, anonymous


def gcs_w1(store, data, scratch, out):
    """W1: transfer_manager.upload_many_from_filenames, 32 threads."""
    from google.cloud.storage import transfer_manager

    names = [rel for _, rel in datasets.local_files(data["tree"])]
    results = transfer_manager.upload_many_from_filenames(
        _bucket(store), names, source_directory=data["tree"], blob_name_prefix=f"{out}/", max_workers=GCS_WORKERS,
        worker_type=transfer_manager.THREAD,
    )  # fmt: skip
    errors = [r for r in results if isinstance(r, Exception)]
    if errors:
        raise errors[0]


def gcs_w2(store, data, scratch, out):
    """W2: one flat listing, then transfer_manager.download_many_to_path, 32 threads."""
    from google.cloud.storage import transfer_manager

    bucket, prefix = _bucket(store), datasets.TREE + "/"
    names = [b.name[len(prefix) :] for b in bucket.list_blobs(prefix=prefix)]
    results = transfer_manager.download_many_to_path(
        bucket, names, destination_directory=scratch, blob_name_prefix=prefix, max_workers=GCS_WORKERS,
        worker_type=transfer_manager.THREAD, create_directories=True,
    )  # fmt: skip
    errors = [r for r in results if isinstance(r, Exception)]
    if errors:
        raise errors[0]


def gcs_w3(store, data, scratch, out):
    """W3: one resumable upload (google-cloud-storage's default chunking)."""
    _bucket(store).blob(f"{out}/{BIG_FILE_NAME}").upload_from_filename(data["big"])


def gcs_w4(store, data, scratch, out):
    """W4: parallel ranged download, 8 threads × 32 MiB ranges."""
    from google.cloud.storage import transfer_manager

    blob = _bucket(store).get_blob(f"{data['big_dir']}/{BIG_FILE_NAME}")
    transfer_manager.download_chunks_concurrently(
        blob, os.path.join(scratch, BIG_FILE_NAME), chunk_size=GCS_RANGE, max_workers=8,
        worker_type=transfer_manager.THREAD, crc32c_checksum=False,
    )  # fmt: skip


def _gcs_ls(bucket, prefix, delimiter="/"):
    blobs = bucket.list_blobs(prefix=prefix + "/", delimiter=delimiter)
    names = [b.name for b in blobs]
    return names + sorted(blobs.prefixes)


def gcs_w5a(store, data, scratch, out):
    """W5a: delimiter listing of the big directory ``LIST_CALLS`` times."""
    bucket = _bucket(store)
    return sum(len(_gcs_ls(bucket, datasets.LISTING)) for _ in range(LIST_CALLS))


def gcs_w5b(store, data, scratch, out):
    """W5b: one flat listing of the tree, counted as directories + files."""
    names = _gcs_ls(_bucket(store), datasets.TREE, delimiter=None)
    return len({n.rsplit("/", 1)[0] for n in names} - {datasets.TREE}) + len(names)


GCS = {"W1": gcs_w1, "W2": gcs_w2, "W3": gcs_w3, "W4": gcs_w4, "W5a": gcs_w5a, "W5b": gcs_w5b}

# --- hdfs ----------------------------------------------------------------------------


def _hdfs(store):
    import hdfs_native

    return hdfs_native.Client(f"hdfs://{store.client['host']}:{store.client['port']}")


def _hdfs_put(client, local, remote):
    with open(local, "rb") as source, client.create(remote) as sink:
        while chunk := source.read(BLOCK):
            sink.write(chunk)


def _hdfs_get(client, remote, local):
    with client.read(remote) as source, open(local, "wb") as sink:
        while chunk := source.read(BLOCK):
            sink.write(chunk)


def _threads(call, jobs):
    with ThreadPoolExecutor(HDFS_THREADS) as pool:
        for future in [pool.submit(call, *job) for job in jobs]:
            future.result()


def hdfs_w1(store, data, scratch, out):
    """W1: mkdirs, then every file written by 16 threads on one client."""
    client, files = _hdfs(store), datasets.local_files(data["tree"])
    for directory in sorted({os.path.dirname(store.path(f"{out}/{rel}")) for _, rel in files}):
        client.mkdirs(directory, create_parent=True)
    _threads(lambda local, remote: _hdfs_put(client, local, remote), [(f, store.path(f"{out}/{r}")) for f, r in files])


def hdfs_w2(store, data, scratch, out):
    """W2: one recursive list_status, then every file read by 16 threads."""
    client, top = _hdfs(store), store.path(datasets.TREE)
    files = [s.path for s in client.list_status(top, recursive=True) if not s.isdir]
    local = [os.path.join(scratch, *p[len(top) + 1 :].split("/")) for p in files]
    for parent in {os.path.dirname(p) for p in local}:
        os.makedirs(parent, exist_ok=True)
    _threads(lambda remote, dst: _hdfs_get(client, remote, dst), list(zip(files, local)))


def hdfs_w3(store, data, scratch, out):
    """W3: one create, 8 MiB writes."""
    client = _hdfs(store)
    client.mkdirs(store.path(out), create_parent=True)
    _hdfs_put(client, data["big"], store.path(f"{out}/{BIG_FILE_NAME}"))


def hdfs_w4(store, data, scratch, out):
    """W4: one read, 8 MiB reads."""
    _hdfs_get(_hdfs(store), store.path(f"{data['big_dir']}/{BIG_FILE_NAME}"), os.path.join(scratch, BIG_FILE_NAME))


def hdfs_w5a(store, data, scratch, out):
    """W5a: list_status of the big directory ``LIST_CALLS`` times."""
    client = _hdfs(store)
    return sum(len(list(client.list_status(store.path(datasets.LISTING)))) for _ in range(LIST_CALLS))


def hdfs_w5b(store, data, scratch, out):
    """W5b: one recursive list_status of the tree."""
    return len(list(_hdfs(store).list_status(store.path(datasets.TREE), recursive=True)))


HDFS = {"W1": hdfs_w1, "W2": hdfs_w2, "W3": hdfs_w3, "W4": hdfs_w4, "W5a": hdfs_w5a, "W5b": hdfs_w5b}
