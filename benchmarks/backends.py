"""THE BENCHMARK BACKEND TABLE: one row per backend, with how to start its real server,
the store it measures, the environment the workers get, MLflow's built-in repository,
the raw client's operations and the admin client that seeds and checks the store.

The servers are the test suite's own (``tests/servers/``, one module per server),
started on free ports on 127.0.0.1 and always stopped. Adding a backend is adding a row.
"""

from __future__ import annotations

import contextlib
import importlib
import pathlib
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .config import BUCKET_PREFIX, SLOW_EMULATOR_CAP
from .store import Store

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class BenchBackend:
    """One backend of the benchmark."""

    name: str
    #: ``start(workdir)`` is a context manager yielding ``(Store, worker env)``; it stops the server on exit
    start: Callable[[pathlib.Path], contextlib.AbstractContextManager]
    admin: Callable[[Store], object]  #: the store's plain fsspec client (seeding, checks, clean-up)
    raw_ops: str  #: ``module:NAME`` of the raw client's ``{workload: op}`` dict
    raw_doc: str  #: what the raw contender is, for the report
    mlflow_repo: str  #: MLflow's own repository for the scheme
    preload: tuple[str, ...] = ()  #: modules every worker imports before the clock starts
    big_cap: int | None = None  #: largest big file (slow emulators: 256 MiB)
    constructions: int | None = None  #: W6 count when MLflow's construction does I/O
    mlflow_unavailable: str = ""  #: why MLflow's repository cannot run on these machines
    seed_threads: int = 1  #: threads the admin client seeds the small files with
    notes: str = field(default="")
    native_ops: str = ""  #: ``module:NAME`` of obstore's native ``{workload: op}`` (rows with the obstore engine)
    engines: bool = False  #: the row has both engines (ARTIFACT_FS_ENGINE): af_obstore and af_fsspec run

    def raw(self) -> dict:
        """The raw client's ``{workload: op}``."""
        module, _, name = self.raw_ops.partition(":")
        return getattr(importlib.import_module(module), name)

    def native(self) -> dict:
        """obstore's native ``{workload: op}`` (the ``obstore`` contender)."""
        module, _, name = self.native_ops.partition(":")
        return getattr(importlib.import_module(module), name)


def _servers(module: str):
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    return importlib.import_module(f"tests.servers.{module}")


def _unique() -> str:
    return f"{BUCKET_PREFIX}-{uuid.uuid4().hex[:10]}"


# --- start: one context manager per backend, yielding (Store, env) ------------------------


@contextlib.contextmanager
def start_local(tmp: pathlib.Path) -> Iterator[tuple[Store, dict]]:
    root = tmp / "local-store"
    root.mkdir()
    yield Store("local", str(root), str(root)), {}


@contextlib.contextmanager
def start_s3(tmp: pathlib.Path):
    with _servers("s3").seaweedfs_server(tmp / "seaweedfs") as server:
        bucket = _unique()
        server.create_bucket(bucket)
        yield Store("s3", f"s3://{bucket}", bucket, server.env()), server.env()


@contextlib.contextmanager
def start_sftp(tmp: pathlib.Path):
    """Our own sshd; a throwaway HOME whose ~/.ssh (RSA key: pysftp reads no other kind,
    config, known_hosts in both the OpenSSH and pysftp forms) every contender uses."""
    with _servers("sftp").sshd_server(tmp / "sshd") as server:
        ssh = tmp / "ssh-home" / ".ssh"
        ssh.mkdir(parents=True)
        key = ssh / "id_rsa"
        subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "3072", "-N", "", "-f", str(key)], check=True)
        with open(pathlib.Path(server.client_key).parent / "authorized_keys", "a") as authorized:
            authorized.write(key.with_suffix(".pub").read_text())
        (ssh / "config").write_text(f"Host {server.host}\n  IdentityFile {key}\n  User {server.user}\n")
        (ssh / "known_hosts").write_text(server.known_hosts_line() + f"{server.host} {server.host_key}\n")
        root = tmp / "sftp-store"
        root.mkdir()
        client = {"host": server.host, "port": server.port, "username": server.user, "key": str(key)}
        yield Store("sftp", server.uri(str(root)), str(root), client), {"HOME": str(ssh.parent)}


@contextlib.contextmanager
def start_azure(tmp: pathlib.Path):
    azure = _servers("azure")
    with azure.azurite_server(tmp / "azurite", reuse=False) as server:
        container = server.create_container(_unique())
        base = f"wasbs://{container}@{azure.ACCOUNT}.blob.core.windows.net"
        env = {"AZURE_STORAGE_CONNECTION_STRING": server.connection_string()}
        yield Store("azure", base, container, env), env


@contextlib.contextmanager
def start_gcs(tmp: pathlib.Path):
    with _servers("gcs").gcs_server(tmp / "gcs", reuse=False) as server:
        bucket = _unique()
        server.create_bucket(bucket)
        yield Store("gcs", f"gs://{bucket}", bucket, server.env()), server.env()


@contextlib.contextmanager
def start_ftp(tmp: pathlib.Path):
    with _servers("ftp").ftp_server(tmp / "ftp", reuse=False) as server:
        (server.root / "store").mkdir()
        client = {"host": server.host, "port": server.port, "username": server.username, "password": server.password}
        yield Store("ftp", server.uri("/store"), "/store", client), {}


@contextlib.contextmanager
def start_hdfs(tmp: pathlib.Path):
    with _servers("hdfs").hdfs_server(tmp / "hdfs", reuse=False) as server:
        client = {"host": "127.0.0.1", "port": server.rpc_port}
        yield Store("hdfs", server.uri("/bench"), "/bench", client), {}


# --- admin clients ---------------------------------------------------------------------


def admin_local(store: Store):
    from fsspec.implementations.local import LocalFileSystem

    return LocalFileSystem(auto_mkdir=True)


def admin_s3(store: Store):
    from .raw import s3fs_client

    return s3fs_client(store.client)


def admin_azure(store: Store):
    import adlfs

    return adlfs.AzureBlobFileSystem(
        connection_string=store.client["AZURE_STORAGE_CONNECTION_STRING"], skip_instance_cache=True
    )


def admin_gcs(store: Store):
    from gcsfs.core import GCSFileSystem

    c = store.client
    return GCSFileSystem(endpoint_url=c["STORAGE_EMULATOR_HOST"], project=c["GOOGLE_CLOUD_PROJECT"], token="anon",
                         skip_instance_cache=True, use_listings_cache=False)  # fmt: skip


def admin_ftp(store: Store):
    from fsspec.implementations.ftp import FTPFileSystem

    c = store.client
    return FTPFileSystem(
        c["host"], port=c["port"], username=c["username"], password=c["password"], skip_instance_cache=True
    )


def admin_hdfs(store: Store):
    from hdfs_native.fsspec import HdfsFileSystem

    return HdfsFileSystem(host=store.client["host"], port=store.client["port"], skip_instance_cache=True)


BENCH_BACKENDS: tuple[BenchBackend, ...] = (
    BenchBackend(
        "local",
        start_local,
        admin_local,
        "benchmarks.raw:LOCAL",
        "`shutil.copytree` / `shutil.copyfile` / `os.scandir` (one call per directory)",
        "mlflow.store.artifact.local_artifact_repo",
    ),
    BenchBackend(
        "s3",
        start_s3,
        admin_s3,
        "benchmarks.raw:S3",
        "s3fs batched put/get (all files concurrent, 64 connections); "
        "boto3 TransferManager (16 threads, 8 MiB parts); boto3 list_objects_v2",
        "mlflow.store.artifact.s3_artifact_repo",
        preload=("boto3", "s3fs"),
        notes="SeaweedFS `weed server -s3`",
        native_ops="benchmarks.raw_obstore:S3",
        engines=True,
    ),
    BenchBackend(
        "sftp",
        start_sftp,
        admin_local,
        "benchmarks.raw_ssh_ftp:SFTP",
        "asyncssh: one connection, 64 files in flight; its parallel-block put/get for big files; "
        "one readdir per directory",
        "mlflow.store.artifact.sftp_artifact_repo",
        preload=("asyncssh", "sshfs", "paramiko"),
        constructions=10,
        notes="OpenSSH sshd (internal-sftp); "
        "MLflow's repository opens its pysftp pool in __init__: W6 is 10 constructions",
    ),
    BenchBackend(
        "azure",
        start_azure,
        admin_azure,
        "benchmarks.raw_cloud:AZURE",
        "azure-storage-blob asyncio: 64 blobs in flight; 8 MiB blocks, 8 in flight; delimiter listings",
        "mlflow.store.artifact.azure_blob_artifact_repo",
        preload=("azure.storage.blob", "azure.storage.blob.aio", "adlfs"),
        big_cap=SLOW_EMULATOR_CAP,
        notes="Azurite 3.35 in memory (slow emulator: largest file 256 MiB)",
        engines=True,
    ),
    BenchBackend(
        "gcs",
        start_gcs,
        admin_gcs,
        "benchmarks.raw_cloud:GCS",
        "google-cloud-storage transfer_manager (32 threads); resumable upload; "
        "ranged download 8 × 32 MiB; delimiter listings",
        "mlflow.store.artifact.gcs_artifact_repo",
        preload=("google.cloud.storage", "gcsfs"),
        big_cap=SLOW_EMULATOR_CAP,
        notes="fake-gcs-server in memory (slow emulator: largest file 256 MiB)",
        engines=True,
    ),
    BenchBackend(
        "ftp",
        start_ftp,
        admin_ftp,
        "benchmarks.raw_ssh_ftp:FTP",
        "ftplib: 4 connections for the trees, 1 MiB blocks for big files, one MLSD per directory",
        "mlflow.store.artifact.ftp_artifact_repo",
        preload=("ftplib",),
        notes="pyftpdlib",
    ),
    BenchBackend(
        "hdfs",
        start_hdfs,
        admin_hdfs,
        "benchmarks.raw_cloud:HDFS",
        "hdfs_native.Client: 16 threads for the trees, 8 MiB writes/reads, list_status",
        "mlflow.store.artifact.hdfs_artifact_repo",
        preload=("hdfs_native", "hdfs_native.fsspec"),
        big_cap=SLOW_EMULATOR_CAP,
        seed_threads=4,
        mlflow_unavailable="MLflow's HdfsArtifactRepository needs pyarrow's libhdfs.so and a Hadoop client install, "
        "which no package registry ships",
        notes="Hadoop 2.7.3 NameNode + DataNode (test config: 1 MiB blocks; slow: largest file 256 MiB)",
    ),
)
BY_NAME = {row.name: row for row in BENCH_BACKENDS}
