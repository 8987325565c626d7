"""The real S3 servers, SeaweedFS and moto, on 127.0.0.1 (conftest: ``seaweedfs``, ``moto``).

:func:`seaweedfs_server` runs a single-process ``weed server`` (master, volume, filer and the
S3 gateway; credentials enforced, SSE-S3 on) with its data under the working directory;
:func:`moto_server` runs ``moto_server`` (no credential checks). Both binaries are found
next to the running interpreter, then on ``PATH`` (the ``test`` extra installs them). Each
is started on free ports, polled until its health URL answers 200, and always killed
afterwards; each yields an :class:`S3Server`.

A running server is reused instead when ``ARTIFACT_FS_TEST_SEAWEEDFS_ENDPOINT`` /
``ARTIFACT_FS_TEST_MOTO_ENDPOINT`` names its endpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from .common import _run_server, find_binary, free_ports

SEAWEEDFS_ENDPOINT_ENV = "ARTIFACT_FS_TEST_SEAWEEDFS_ENDPOINT"
MOTO_ENDPOINT_ENV = "ARTIFACT_FS_TEST_MOTO_ENDPOINT"
SEAWEEDFS_KEY, SEAWEEDFS_SECRET = "testkey", "testsecret"
MOTO_KEY, MOTO_SECRET = "testing", "testing"


@dataclass(frozen=True)
class S3Server:
    """Where a running S3 server listens and how to authenticate to it."""

    name: str
    endpoint_url: str
    key: str
    secret: str
    region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        """Environment variables MLflow (and boto3) read to reach this server."""
        return {
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": self.region,
        }

    def storage_options(self) -> dict:
        """Keyword arguments for ``s3fs.S3FileSystem`` pointing at this server."""
        return {
            "endpoint_url": self.endpoint_url,
            "key": self.key,
            "secret": self.secret,
            "client_kwargs": {"region_name": self.region},
        }

    def boto3_client(self):
        """A boto3 S3 client for this server (credentials passed explicitly)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
            region_name=self.region,
        )

    def create_bucket(self, name: str) -> None:
        """Create bucket ``name`` through boto3.

        boto3 rather than ``s3fs.mkdir``: moto rejects the LocationConstraint
        s3fs sends for us-east-1.
        """
        kwargs: dict = {"Bucket": name}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self.boto3_client().create_bucket(**kwargs)


@contextlib.contextmanager
def seaweedfs_server(workdir: pathlib.Path, *, timeout: float = 60.0) -> Iterator[S3Server]:
    """Yield a SeaweedFS S3 gateway (key ``testkey``, secret ``testsecret``).

    Reuses ``$ARTIFACT_FS_TEST_SEAWEEDFS_ENDPOINT`` if set; otherwise runs a
    single-process ``weed server`` (master, volume, filer, s3) with its data,
    config and log under ``workdir``.  Credentials are enforced and SSE-S3 works.
    """
    endpoint = os.environ.get(SEAWEEDFS_ENDPOINT_ENV, "").rstrip("/")
    if endpoint:
        yield S3Server("seaweedfs", endpoint, SEAWEEDFS_KEY, SEAWEEDFS_SECRET)
        return
    workdir = pathlib.Path(workdir)
    data_dir = workdir / "seaweedfs-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    s3_config = workdir / "s3.json"
    credentials = [{"accessKey": SEAWEEDFS_KEY, "secretKey": SEAWEEDFS_SECRET}]
    actions = ["Admin", "Read", "List", "Tagging", "Write"]
    identity = {"name": "admin", "credentials": credentials, "actions": actions}
    s3_config.write_text(json.dumps({"identities": [identity]}))
    # Read from the cwd: grow 1 volume per bucket (collection) instead of 7.
    (workdir / "master.toml").write_text("[master.volume_growth]\ncopy_1 = 1\n")
    ports = free_ports(8)
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = ports
    cmd = [
        find_binary("weed"), "-logtostderr", "server",
        f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}",
        "-master.telemetry=false", "-master.volumeSizeLimitMB=64",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        # Each bucket takes >= 1 volume: weed's default -volume.max=8 runs out
        # fast.  Volumes are sparse files, so many small ones cost nothing.
        "-volume.max=1000", "-volume.preStopSeconds=0",
        # weed turns every volume read-only (each write: 500 InternalError) once the disk has
        # less than 1% free, 2.5 GB of a 252 GB disk: CI saw it mid-suite. Keep a floor, smaller.
        "-volume.minFreeSpace=256MiB",
        "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={s3_config}",
    ]  # fmt: skip
    try:
        # SIGTERM takes ~17 s, so SIGKILL at once (stop_grace=0): the data is throwaway.
        # WEED_S3_SSE_KEK (any 64 hex chars) enables SSE-S3.
        with _run_server(
            "seaweedfs",
            cmd,
            workdir=workdir,
            ready_url=f"http://127.0.0.1:{s3}/healthz",
            timeout=timeout,
            stop_grace=0,
            env={"WEED_S3_SSE_KEK": secrets.token_hex(32)},
        ):
            yield S3Server("seaweedfs", f"http://127.0.0.1:{s3}", SEAWEEDFS_KEY, SEAWEEDFS_SECRET)
    finally:
        # weed leaves /tmp/seaweedfs-<service>-<port>.sock behind when killed.
        for port in ports:
            for sock in pathlib.Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                with contextlib.suppress(OSError):
                    sock.unlink()


@contextlib.contextmanager
def moto_server(workdir: pathlib.Path, *, timeout: float = 30.0) -> Iterator[S3Server]:
    """Yield a moto S3 server (credentials are not checked; ``testing``/``testing``).

    Reuses ``$ARTIFACT_FS_TEST_MOTO_ENDPOINT`` if set; otherwise runs
    ``moto_server`` with its log in ``workdir``.
    """
    endpoint = os.environ.get(MOTO_ENDPOINT_ENV, "").rstrip("/")
    if endpoint:
        yield S3Server("moto", endpoint, MOTO_KEY, MOTO_SECRET)
        return
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (port,) = free_ports(1)
    cmd = [find_binary("moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    ready = f"http://127.0.0.1:{port}/moto-api/"
    with _run_server("moto", cmd, workdir=workdir, ready_url=ready, timeout=timeout, stop_grace=5):
        yield S3Server("moto", f"http://127.0.0.1:{port}", MOTO_KEY, MOTO_SECRET)
