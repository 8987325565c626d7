"""Where a benchmark store lives, and the hand-tuned raw clients that reach it.

The same raw clients seed the download inputs, check what an upload wrote and clean
up afterwards; none of that is ever timed.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from . import datasets

#: Raw S3 tuning: enough pooled connections for fsspec's batch and boto3's transfer threads.
S3_CONNECTIONS = 64
TRANSFER_CONCURRENCY = 16
TRANSFER_CHUNK = 8 * 2**20


@dataclass(frozen=True)
class Store:
    """A store root: a local directory (``backend="local"``) or ``s3://<bucket>``."""

    backend: str
    base: str

    def uri(self, relative: str) -> str:
        """The artifact URI MLflow's registry receives for ``relative`` (plain path when local)."""
        return f"{self.base.rstrip('/')}/{relative}" if relative else self.base

    def local_path(self, relative: str) -> str:
        """Local store only: the directory or file at ``relative``."""
        return os.path.join(self.base, *relative.split("/")) if relative else self.base

    @property
    def bucket(self) -> str:
        """S3 store only: the bucket name."""
        return self.base.removeprefix("s3://").split("/", 1)[0]

    def key(self, relative: str) -> str:
        """S3 store only: the object key (or key prefix) of ``relative``."""
        return relative


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
        "s3",
        endpoint_url=env["MLFLOW_S3_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env.get("AWS_DEFAULT_REGION", "us-east-1"),
        config=Config(max_pool_connections=S3_CONNECTIONS),
    )


def transfer_config():
    """boto3 TransferConfig with high concurrency (multipart above 8 MiB, 8 MiB parts)."""
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=TRANSFER_CHUNK, multipart_chunksize=TRANSFER_CHUNK,
        max_concurrency=TRANSFER_CONCURRENCY, use_threads=True,
    )  # fmt: skip


def seed_inputs(store: Store, data: dict[str, str], env=None) -> None:
    """Upload the download/listing inputs once, with the raw client (not timed)."""
    if store.backend == "local":
        shutil.copytree(data["tree"], store.local_path(datasets.TREE), dirs_exist_ok=True)
        shutil.copytree(os.path.dirname(data["big"]), store.local_path(datasets.BIG_DIR), dirs_exist_ok=True)
        shutil.copytree(data["listing"], store.local_path(datasets.LISTING), dirs_exist_ok=True)
        return
    fs = s3fs_client(env)
    for local_dir, relative in ((data["tree"], datasets.TREE), (data["listing"], datasets.LISTING)):
        files = datasets.local_files(local_dir)
        fs.put([full for full, _ in files], [f"{store.bucket}/{relative}/{rel}" for _, rel in files])
    boto3_client(env).upload_file(
        data["big"], store.bucket, f"{datasets.BIG_DIR}/{os.path.basename(data['big'])}", Config=transfer_config()
    )


def remote_stats(store: Store, relative: str, env=None) -> tuple[int, int]:
    """``(file count, total bytes)`` stored under ``relative`` (a directory/prefix)."""
    if store.backend == "local":
        return datasets.tree_stats(store.local_path(relative))
    found = s3fs_client(env).find(f"{store.bucket}/{relative}", detail=True)
    files = [entry for entry in found.values() if entry.get("type") != "directory"]
    return len(files), sum(int(entry.get("size") or 0) for entry in files)


def delete(store: Store, relative: str, env=None) -> None:
    """Remove everything under ``relative`` (best effort; used after upload workloads)."""
    if store.backend == "local":
        shutil.rmtree(store.local_path(relative), ignore_errors=True)
        return
    fs = s3fs_client(env)
    found = fs.find(f"{store.bucket}/{relative}")
    if found:
        fs.rm(found)
