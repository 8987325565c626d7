"""Real S3 servers (SeaweedFS and moto) on 127.0.0.1 for pytest session fixtures.

Each context manager yields an :class:`S3Server`.  An endpoint named by
``ARTIFACT_FS_TEST_SEAWEEDFS_ENDPOINT`` / ``ARTIFACT_FS_TEST_MOTO_ENDPOINT`` is
reused as is; otherwise the server is started on free ports, polled until
ready, and always killed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

SEAWEEDFS_ENDPOINT_ENV = "ARTIFACT_FS_TEST_SEAWEEDFS_ENDPOINT"
MOTO_ENDPOINT_ENV = "ARTIFACT_FS_TEST_MOTO_ENDPOINT"
SEAWEEDFS_KEY, SEAWEEDFS_SECRET = "testkey", "testsecret"
MOTO_KEY, MOTO_SECRET = "testing", "testing"
LOG_TAIL_LINES = 40


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


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct TCP ports that were free on 127.0.0.1.

    All sockets are held open together before being released, so the ports
    are distinct; another process could still grab one before it is used.
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    return ports


def find_binary(name: str) -> str:
    """Path of executable ``name``: the running venv's bin dir first, then PATH."""
    candidate = pathlib.Path(sys.executable).parent / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name!r} not found next to {sys.executable} nor on PATH")
    return found


def _log_tail(log_path: pathlib.Path) -> str:
    lines = log_path.read_text(errors="replace").splitlines()
    return "\n".join(lines[-LOG_TAIL_LINES:])


@contextlib.contextmanager
def sigstopped(proc, *, group: bool = False) -> Iterator[None]:
    """SIGSTOP a server we started (a hung server: the kernel still accepts connections,
    nothing answers) and SIGCONT it on exit; ``group`` signals its whole process group."""
    if proc is None:
        raise RuntimeError("not our server: it cannot be paused")
    send = os.killpg if group else os.kill
    send(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        send(proc.pid, signal.SIGCONT)


def wait_ready(proc, ready, *, name: str, waiting_for: str, timeout: float, cmd, log_path, interval: float = 0.1) -> None:
    """Poll ``ready()`` until it is true. Raise ``RuntimeError`` naming the server, the
    command and the tail of its log if the process exits first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not ready():
        problem = None
        if proc.poll() is not None:
            problem = f"exited with code {proc.returncode}"
        elif time.monotonic() > deadline:
            problem = f"{waiting_for} after {timeout:.0f} s"
        if problem:
            shown = cmd if isinstance(cmd, str) else " ".join(map(str, cmd))
            raise RuntimeError(f"{name} {problem}; command: {shown}\nlast lines of {log_path}:\n{_log_tail(log_path)}")
        time.sleep(interval)


def _http_ok(url: str) -> bool:
    # No proxies: a proxy from the environment must not intercept 127.0.0.1.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as response:
            return response.status == 200
    except OSError:  # URLError, refused, reset, timeout
        return False


def _kill_group(proc: subprocess.Popen, grace: float) -> None:
    """Stop ``proc``'s process group: SIGTERM and wait ``grace`` s (if > 0), then SIGKILL."""
    if proc.poll() is None and grace > 0:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    # SIGKILL the group even if the leader is gone: children may survive it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@contextlib.contextmanager
def _run_server(
    name: str, cmd: list[str], *, workdir: pathlib.Path, ready_url: str,
    timeout: float, stop_grace: float, env: dict[str, str] | None = None,
) -> Iterator[None]:  # fmt: skip
    """Run ``cmd`` in its own session, logging to ``workdir/<name>.log``.

    Polls ``ready_url`` until it answers 200 (raising RuntimeError with the log
    tail on timeout or early exit), then yields; kills the process group on exit.
    """
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=workdir, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            wait_ready(
                proc, lambda: _http_ok(ready_url), name=name, waiting_for=f"not ready at {ready_url}",
                timeout=timeout, cmd=cmd, log_path=log_path,
            )  # fmt: skip
            yield
        finally:
            _kill_group(proc, stop_grace)


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
        "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={s3_config}",
    ]  # fmt: skip
    try:
        # SIGTERM takes ~17 s, so SIGKILL at once (stop_grace=0): the data is throwaway.
        # WEED_S3_SSE_KEK (any 64 hex chars) enables SSE-S3.
        with _run_server(
            "seaweedfs", cmd, workdir=workdir, ready_url=f"http://127.0.0.1:{s3}/healthz",
            timeout=timeout, stop_grace=0, env={"WEED_S3_SSE_KEK": secrets.token_hex(32)},
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
