"""SeaweedFS serving S3 over TLS with a certificate from a throwaway CA made by the test.

:func:`seaweedfs_tls_server` runs ``weed server -s3`` (``weed`` next to the running
interpreter, else on ``PATH``) with ``-s3.port.https``, ``-s3.cert.file`` and
``-s3.key.file``: the S3 gateway itself terminates TLS (no proxy). The certificate (for
127.0.0.1 and localhost) and its CA come from :func:`tests.servers.common.make_certificate`.
It polls ``/healthz`` over HTTPS until it answers 200, kills the process group on exit,
and yields a :class:`TlsS3Server`: an :class:`~tests.servers.s3.S3Server` whose
``endpoint_url`` is the ``https://`` one, plus the CA file a client must trust.

No environment variable names a running one to reuse, and conftest registers no fixture:
``tests/test_server_tls.py``, its only user, starts it.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import secrets
import ssl
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

from .common import _kill_group, find_binary, free_ports, make_certificate, wait_ready
from .s3 import SEAWEEDFS_KEY, SEAWEEDFS_SECRET, S3Server


@dataclass(frozen=True)
class TlsS3Server(S3Server):
    """An S3 server reached over ``https://``, and the CA that signed its certificate."""

    ca_file: str = ""

    def boto3_client(self):
        """A boto3 client that trusts the test CA."""
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, aws_access_key_id=self.key, aws_secret_access_key=self.secret,
            region_name=self.region, verify=self.ca_file,
        )  # fmt: skip


def _https_ok(url: str, ca_file: str) -> bool:
    context = ssl.create_default_context(cafile=ca_file)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def seaweedfs_tls_server(workdir: pathlib.Path, *, timeout: float = 60.0) -> Iterator[TlsS3Server]:
    """A single-process SeaweedFS (master, volume, filer, S3) whose S3 gateway speaks TLS."""
    workdir = pathlib.Path(workdir)
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = make_certificate(workdir)
    identity = {
        "name": "admin", "credentials": [{"accessKey": SEAWEEDFS_KEY, "secretKey": SEAWEEDFS_SECRET}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }  # fmt: skip
    (workdir / "s3.json").write_text(json.dumps({"identities": [identity]}))
    (workdir / "master.toml").write_text("[master.volume_growth]\ncopy_1 = 1\n")
    ports = free_ports(9)
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, s3_https = ports
    cmd = [
        find_binary("weed"), "-logtostderr", "server", f"-dir={workdir / 'data'}",
        "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64", f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        "-volume.max=100", "-volume.preStopSeconds=0",
        "-volume.minFreeSpace=256MiB",  # not weed's 1% of the disk: see s3.py
        "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-s3.port.https={s3_https}",
        f"-s3.cert.file={cert_file}", f"-s3.key.file={key_file}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-s3.config={workdir / 's3.json'}",
    ]  # fmt: skip
    log_path = workdir / "seaweedfs-tls.log"
    import subprocess

    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={"PATH": "/usr/bin:/bin", "WEED_S3_SSE_KEK": secrets.token_hex(32)},
        )  # fmt: skip
        try:
            url = f"https://127.0.0.1:{s3_https}"
            wait_ready(
                proc, lambda: _https_ok(f"{url}/healthz", ca_file), name="seaweedfs (TLS)",
                waiting_for=f"not ready at {url}/healthz", timeout=timeout, cmd=cmd, log_path=log_path,
            )  # fmt: skip
            yield TlsS3Server("seaweedfs-tls", url, SEAWEEDFS_KEY, SEAWEEDFS_SECRET, ca_file=ca_file)
        finally:
            _kill_group(proc, grace=0)
            for port in ports:
                for sock in pathlib.Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                    with contextlib.suppress(OSError):
                        sock.unlink()
