"""Contender ``raw``: each workload done by hand with the best plain client.

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
from .store import Store, boto3_client, s3fs_client, transfer_config


def _scan(path: str) -> list[tuple[str, bool, int | None]]:
    out = []
    with os.scandir(path) as entries:
        for entry in entries:
            is_dir = entry.is_dir()
            out.append((entry.name, is_dir, None if is_dir else entry.stat().st_size))
    return sorted(out)


def _list_s3(client, bucket: str, prefix: str, delimiter: str | None) -> list[tuple[str, bool, int | None]]:
    kwargs = {"Bucket": bucket, "Prefix": prefix.rstrip("/") + "/"}
    if delimiter:
        kwargs["Delimiter"] = delimiter
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(**kwargs):
        out.extend((p["Prefix"].rstrip("/"), True, None) for p in page.get("CommonPrefixes", ()))
        out.extend((o["Key"], False, o["Size"]) for o in page.get("Contents", ()) if not o["Key"].endswith("/"))
    return sorted(out)


# --- local ---------------------------------------------------------------------------


def local_w1(store: Store, data: dict, scratch: str, out: str) -> str:
    """W1: copy the tree into the store."""
    return shutil.copytree(data["tree"], store.local_path(out), dirs_exist_ok=True)


def local_w2(store: Store, data: dict, scratch: str, out: str) -> str:
    """W2: copy the stored tree into a fresh directory."""
    return shutil.copytree(store.local_path(datasets.TREE), scratch, dirs_exist_ok=True)


def local_w3(store: Store, data: dict, scratch: str, out: str) -> str:
    """W3: copy the big file into the store."""
    target = store.local_path(out)
    os.makedirs(target, exist_ok=True)
    return shutil.copyfile(data["big"], os.path.join(target, BIG_FILE_NAME))


def local_w4(store: Store, data: dict, scratch: str, out: str) -> str:
    """W4: copy the stored big file into a fresh directory."""
    source = os.path.join(store.local_path(datasets.BIG_DIR), BIG_FILE_NAME)
    return shutil.copyfile(source, os.path.join(scratch, BIG_FILE_NAME))


def local_w5a(store: Store, data: dict, scratch: str, out: str) -> int:
    """W5a: scan the big directory (name, is_dir, size) ``LIST_CALLS`` times."""
    return sum(len(_scan(store.local_path(datasets.LISTING))) for _ in range(LIST_CALLS))


def local_w5b(store: Store, data: dict, scratch: str, out: str) -> int:
    """W5b: scan every directory of the stored tree."""
    count, pending = 0, [store.local_path(datasets.TREE)]
    while pending:
        path = pending.pop()
        for name, is_dir, _size in _scan(path):
            count += 1
            if is_dir:
                pending.append(os.path.join(path, name))
    return count


# --- s3 ------------------------------------------------------------------------------


def s3_w1(store: Store, data: dict, scratch: str, out: str) -> None:
    """W1: one batched s3fs ``put`` of every file (all concurrent)."""
    files = datasets.local_files(data["tree"])
    s3fs_client().put([full for full, _ in files], [f"{store.bucket}/{out}/{rel}" for _, rel in files])


def s3_w2(store: Store, data: dict, scratch: str, out: str) -> None:
    """W2: one recursive s3fs listing, then one batched ``get`` into a fresh directory."""
    fs = s3fs_client()
    prefix = f"{store.bucket}/{datasets.TREE}/"
    remote = sorted(name for name, e in fs.find(prefix, detail=True).items() if e.get("type") != "directory")
    local = [os.path.join(scratch, *name[len(prefix):].split("/")) for name in remote]
    for parent in {os.path.dirname(path) for path in local}:
        os.makedirs(parent, exist_ok=True)
    fs.get(remote, local)


def s3_w3(store: Store, data: dict, scratch: str, out: str) -> None:
    """W3: boto3 TransferManager multipart upload."""
    boto3_client().upload_file(data["big"], store.bucket, f"{out}/{BIG_FILE_NAME}", Config=transfer_config())


def s3_w4(store: Store, data: dict, scratch: str, out: str) -> None:
    """W4: boto3 TransferManager ranged, concurrent download."""
    key = f"{datasets.BIG_DIR}/{BIG_FILE_NAME}"
    boto3_client().download_file(store.bucket, key, os.path.join(scratch, BIG_FILE_NAME), Config=transfer_config())


def s3_w5a(store: Store, data: dict, scratch: str, out: str) -> int:
    """W5a: delimiter listing of the big directory ``LIST_CALLS`` times."""
    client = boto3_client()
    return sum(len(_list_s3(client, store.bucket, datasets.LISTING, "/")) for _ in range(LIST_CALLS))


def s3_w5b(store: Store, data: dict, scratch: str, out: str) -> int:
    """W5b: one recursive listing of the tree, counted as directories + files."""
    entries = _list_s3(boto3_client(), store.bucket, datasets.TREE, None)
    dirs = {key.rsplit("/", 1)[0] for key, _, _ in entries} - {datasets.TREE}
    return len(dirs) + len(entries)


OPS = {
    ("local", "W1"): local_w1, ("local", "W2"): local_w2, ("local", "W3"): local_w3,
    ("local", "W4"): local_w4, ("local", "W5a"): local_w5a, ("local", "W5b"): local_w5b,
    ("s3", "W1"): s3_w1, ("s3", "W2"): s3_w2, ("s3", "W3"): s3_w3,
    ("s3", "W4"): s3_w4, ("s3", "W5a"): s3_w5a, ("s3", "W5b"): s3_w5b,
}  # fmt: skip
