"""Contender ``raw`` on local disk and S3: each workload done by hand with the best plain client.

Every raw operation has the signature ``op(store, data, scratch, out)``: ``data`` holds
the local inputs (``tree``, ``listing``, ``big``: the big file of this workload) and
``big_dir``, the store directory of the big download input; ``scratch`` is a fresh local
directory for downloads and ``out`` the store-relative directory uploads write to.

Local: ``shutil.copytree`` / ``shutil.copyfile`` / ``os.scandir``. S3: s3fs batched
``put``/``get`` over explicit path lists for many small files (all concurrent, 64
pooled connections), boto3's TransferManager (16 threads, 8 MiB parts) for the big
file, and boto3 ``list_objects_v2`` for listings (one recursive listing for the walk).
Every function creates its client inside the measurement, as the repositories do
on first use.
"""

from __future__ import annotations

import os
import shutil

from . import datasets
from .config import BIG_FILE_NAME, LIST_CALLS

S3_CONNECTIONS = 64
TRANSFER_CONCURRENCY = 16
TRANSFER_CHUNK = 8 * 2**20


def scan(path: str) -> list[tuple[str, bool, int | None]]:
    """``(name, is_dir, size)`` of a local directory's entries, sorted."""
    out = []
    with os.scandir(path) as entries:
        for entry in entries:
            is_dir = entry.is_dir()
            out.append((entry.name, is_dir, None if is_dir else entry.stat().st_size))
    return sorted(out)


def walk_count(list_dir, top: str) -> int:
    """Entries below ``top`` through ``list_dir(path) -> [(name, is_dir, size)]``, one call per directory."""
    count, pending = 0, [top]
    while pending:
        path = pending.pop()
        for name, is_dir, _size in list_dir(path):
            count += 1
            if is_dir:
                pending.append(f"{path.rstrip('/')}/{name.rsplit('/', 1)[-1]}")
    return count


# --- local ---------------------------------------------------------------------------


def local_w1(store, data, scratch, out):
    """W1: copy the tree into the store."""
    return shutil.copytree(data["tree"], store.local_path(out), dirs_exist_ok=True)


def local_w2(store, data, scratch, out):
    """W2: copy the stored tree into a fresh directory."""
    return shutil.copytree(store.local_path(datasets.TREE), scratch, dirs_exist_ok=True)


def local_w3(store, data, scratch, out):
    """W3: copy the big file into the store."""
    target = store.local_path(out)
    os.makedirs(target, exist_ok=True)
    return shutil.copyfile(data["big"], os.path.join(target, BIG_FILE_NAME))


def local_w4(store, data, scratch, out):
    """W4: copy the stored big file into a fresh directory."""
    source = os.path.join(store.local_path(data["big_dir"]), BIG_FILE_NAME)
    return shutil.copyfile(source, os.path.join(scratch, BIG_FILE_NAME))


def local_w5a(store, data, scratch, out):
    """W5a: scan the big directory (name, is_dir, size) ``LIST_CALLS`` times."""
    return sum(len(scan(store.local_path(datasets.LISTING))) for _ in range(LIST_CALLS))


def local_w5b(store, data, scratch, out):
    """W5b: scan every directory of the stored tree."""
    return walk_count(scan, store.local_path(datasets.TREE))


LOCAL = {"W1": local_w1, "W2": local_w2, "W3": local_w3, "W4": local_w4, "W5a": local_w5a, "W5b": local_w5b}


# --- s3 ------------------------------------------------------------------------------


def s3_storage_options(env=None) -> dict:
    """s3fs keyword arguments from the same variables MLflow reads (no listing cache)."""
    env = os.environ if env is None else env
    return {
        "endpoint_url": env["MLFLOW_S3_ENDPOINT_URL"],
        "key": env["AWS_ACCESS_KEY_ID"],
        "secret": env["AWS_SECRET_ACCESS_KEY"],
        "client_kwargs": {"region_name": env.get("AWS_DEFAULT_REGION", "us-east-1")},
        "config_kwargs": {"max_pool_connections": S3_CONNECTIONS},
        "use_listings_cache": False,
        "skip_instance_cache": True,
    }


def s3fs_client(env=None):
    """A fresh, tuned ``s3fs.S3FileSystem``."""
    import s3fs

    return s3fs.S3FileSystem(**s3_storage_options(env))


def boto3_client(env=None):
    """A fresh boto3 S3 client with a connection pool sized for the transfer manager."""
    import boto3
    from botocore.config import Config

    env = os.environ if env is None else env
    return boto3.client(
        "s3", endpoint_url=env["MLFLOW_S3_ENDPOINT_URL"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env.get("AWS_DEFAULT_REGION", "us-east-1"),
        config=Config(max_pool_connections=S3_CONNECTIONS),
    )  # fmt: skip


def transfer_config():
    """boto3 TransferConfig with high concurrency (multipart above 8 MiB, 8 MiB parts)."""
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=TRANSFER_CHUNK, multipart_chunksize=TRANSFER_CHUNK,
        max_concurrency=TRANSFER_CONCURRENCY, use_threads=True,
    )  # fmt: skip


def _list_s3(client, bucket: str, prefix: str, delimiter: str | None) -> list[tuple[str, bool, int | None]]:
    kwargs = {"Bucket": bucket, "Prefix": prefix.rstrip("/") + "/"}
    if delimiter:
        kwargs["Delimiter"] = delimiter
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(**kwargs):
        out.extend((p["Prefix"].rstrip("/"), True, None) for p in page.get("CommonPrefixes", ()))
        out.extend((o["Key"], False, o["Size"]) for o in page.get("Contents", ()) if not o["Key"].endswith("/"))
    return sorted(out)


def s3_w1(store, data, scratch, out):
    """W1: one batched s3fs ``put`` of every file (all concurrent)."""
    files = datasets.local_files(data["tree"])
    s3fs_client().put([full for full, _ in files], [store.path(f"{out}/{rel}") for _, rel in files])


def s3_w2(store, data, scratch, out):
    """W2: one recursive s3fs listing, then one batched ``get`` into a fresh directory."""
    fs = s3fs_client()
    prefix = store.path(datasets.TREE) + "/"
    remote = sorted(name for name, e in fs.find(prefix, detail=True).items() if e.get("type") != "directory")
    local = [os.path.join(scratch, *name[len(prefix) :].split("/")) for name in remote]
    for parent in {os.path.dirname(path) for path in local}:
        os.makedirs(parent, exist_ok=True)
    fs.get(remote, local)


def s3_w3(store, data, scratch, out):
    """W3: boto3 TransferManager multipart upload."""
    boto3_client().upload_file(data["big"], store.bucket, f"{out}/{BIG_FILE_NAME}", Config=transfer_config())


def s3_w4(store, data, scratch, out):
    """W4: boto3 TransferManager ranged, concurrent download."""
    key = f"{data['big_dir']}/{BIG_FILE_NAME}"
    boto3_client().download_file(store.bucket, key, os.path.join(scratch, BIG_FILE_NAME), Config=transfer_config())


def s3_w5a(store, data, scratch, out):
    """W5a: delimiter listing of the big directory ``LIST_CALLS`` times."""
    client = boto3_client()
    return sum(len(_list_s3(client, store.bucket, datasets.LISTING, "/")) for _ in range(LIST_CALLS))


def s3_w5b(store, data, scratch, out):
    """W5b: one recursive listing of the tree, counted as directories + files."""
    entries = _list_s3(boto3_client(), store.bucket, datasets.TREE, None)
    dirs = {key.rsplit("/", 1)[0] for key, _, _ in entries} - {datasets.TREE}
    return len(dirs) + len(entries)


S3 = {"W1": s3_w1, "W2": s3_w2, "W3": s3_w3, "W4": s3_w4, "W5a": s3_w5a, "W5b": s3_w5b}
