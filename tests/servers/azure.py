"""Azurite, the Azure Blob emulator, on 127.0.0.1 (conftest: ``azurite``, ``azurite_https``).

:func:`azurite_server` runs ``azurite-blob`` 3.35.0 (``$AZURITE_BLOB``, else the one
``scripts/install-azure.sh`` puts in ``.cache/node/node_modules/.bin/``, else ``PATH``) in
memory, on a free port, from a temporary working directory; it polls the blob endpoint
until it answers anything over HTTP (an unauthenticated request gets 403), and kills the
process group on exit.

``https=True`` serves TLS with a certificate from a throwaway CA
(:func:`.common.make_certificate`): adlfs builds ``https://<account_host>`` for every
account-key or SAS-token connection, so that route only reaches Azurite over HTTPS.
Azurite serves blob only (no ADLS Gen2 ``dfs`` endpoint); ``abfss://`` URIs reach it
through adlfs's blob endpoint.

A server named by ``ARTIFACT_FS_TEST_AZURITE_ENDPOINT`` (HTTP blob endpoint,
``http://127.0.0.1:PORT/devstoreaccount1``) or, for HTTPS,
``ARTIFACT_FS_TEST_AZURITE_HTTPS_ENDPOINT`` plus ``ARTIFACT_FS_TEST_AZURITE_HTTPS_CA`` is
reused instead, unless ``reuse=False``: tests that pause the server start their own.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import pathlib
import shutil
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from .common import REPO_ROOT, _kill_group, free_ports, make_certificate, sigstopped, wait_ready

ENDPOINT_ENV = "ARTIFACT_FS_TEST_AZURITE_ENDPOINT"
HTTPS_ENDPOINT_ENV = "ARTIFACT_FS_TEST_AZURITE_HTTPS_ENDPOINT"
HTTPS_CA_ENV = "ARTIFACT_FS_TEST_AZURITE_HTTPS_CA"
BINARY_ENV = "AZURITE_BLOB"
INSTALLED_BINARY = REPO_ROOT / ".cache" / "node" / "node_modules" / ".bin" / "azurite-blob"

#: Azurite's well-known development account and key (published by Microsoft, not a secret).
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass
class Azurite:
    """Where an Azurite blob service listens and, when it is ours, its process and log."""

    endpoint: str  #: blob endpoint, ``http(s)://127.0.0.1:PORT/devstoreaccount1``
    ca_file: str | None = None  #: the CA that signed its certificate (HTTPS only)
    proc: subprocess.Popen | None = field(default=None, repr=False)
    log_path: pathlib.Path | None = None

    @property
    def account_host(self) -> str:
        """What adlfs's ``account_host`` must be to reach it: ``127.0.0.1:PORT/devstoreaccount1``."""
        return self.endpoint.split("://", 1)[1]

    def connection_string(self, key: str = KEY) -> str:
        """A connection string for the dev account (``key`` replaced to test a wrong one)."""
        protocol = self.endpoint.split(":", 1)[0]
        return (
            f"DefaultEndpointsProtocol={protocol};AccountName={ACCOUNT};AccountKey={key};BlobEndpoint={self.endpoint};"
        )

    def service_client(self):
        """A synchronous azure-storage-blob client with the account key (for checks and setup)."""
        from azure.storage.blob import BlobServiceClient

        verify = self.ca_file or True
        return BlobServiceClient.from_connection_string(self.connection_string(), connection_verify=verify)

    def create_container(self, name: str | None = None) -> str:
        """Create a container (a fresh random name by default) and return its name."""
        name = name or f"t-{uuid.uuid4().hex[:16]}"
        self.service_client().create_container(name)
        return name

    def blob_names(self, container: str) -> list[str]:
        """Every blob name in ``container``, straight from the SDK."""
        return sorted(b.name for b in self.service_client().get_container_client(container).list_blobs())

    def sas(self, container: str | None = None, **permissions: bool) -> str:
        """A SAS token signed with the dev key, valid 1 h: for ``container``, or the whole account."""
        import azure.storage.blob as blob

        expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
        if container:
            allowed = blob.ContainerSasPermissions(**permissions)
            return blob.generate_container_sas(ACCOUNT, container, account_key=KEY, permission=allowed, expiry=expiry)
        resources = blob.ResourceTypes(service=True, container=True, object=True)
        allowed = blob.AccountSasPermissions(**permissions)
        return blob.generate_account_sas(ACCOUNT, KEY, resource_types=resources, permission=allowed, expiry=expiry)

    def run_python(self, code: str, *args: str, timeout: float = 600) -> str:
        """Run ``code`` in a fresh interpreter set up as a user reaching this server through
        adlfs's ``https://<account_host>``: ``SSL_CERT_FILE`` trusts its CA (aiohttp reads the
        trust store once, at import) and ``FSSPEC_ABFS_ACCOUNT_HOST`` (fsspec's own
        configuration) names it. Returns stdout; a non-zero exit raises with stderr's tail."""
        env = {**os.environ, "FSSPEC_ABFS_ACCOUNT_HOST": self.account_host}
        if self.ca_file:
            env["SSL_CERT_FILE"] = self.ca_file
        done = subprocess.run(
            [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode:
            raise RuntimeError(f"python exited with {done.returncode}:\n{done.stderr[-4000:]}")
        return done.stdout

    def paused(self):
        """SIGSTOP the server (a hung server: connections are accepted, never answered)."""
        return sigstopped(self.proc)


def find_azurite() -> str:
    """``azurite-blob``: ``$AZURITE_BLOB``, then the installed one, then ``PATH``."""
    candidates = [os.environ.get(BINARY_ENV, ""), str(INSTALLED_BINARY), shutil.which("azurite-blob") or ""]
    for candidate in filter(None, candidates):
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(f"azurite-blob not found at {INSTALLED_BINARY} nor on PATH: run scripts/install-azure.sh")


def _answers(url: str, ca_file: str | None) -> bool:
    """True once anything answers HTTP at ``url`` (Azurite says 403 to an unsigned request)."""
    handlers: list = [urllib.request.ProxyHandler({})]
    if ca_file:
        handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=ca_file)))
    try:
        with urllib.request.build_opener(*handlers).open(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:  # refused, reset, TLS not up yet, timeout
        return False


def _reused(https: bool) -> Azurite | None:
    if https:
        endpoint, ca_file = os.environ.get(HTTPS_ENDPOINT_ENV, ""), os.environ.get(HTTPS_CA_ENV, "")
        return Azurite(endpoint.rstrip("/"), ca_file) if endpoint and ca_file else None
    endpoint = os.environ.get(ENDPOINT_ENV, "").rstrip("/")
    return Azurite(endpoint) if endpoint else None


@contextlib.contextmanager
def azurite_server(
    workdir: pathlib.Path, *, https: bool = False, timeout: float = 30.0, reuse: bool = True
) -> Iterator[Azurite]:
    """Yield a running Azurite blob service: the reused one, or a fresh ``azurite-blob`` process."""
    reused = _reused(https) if reuse else None
    if reused is not None:
        yield reused
        return
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (port,) = free_ports(1)
    cmd = [
        find_azurite(), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
        "--disableTelemetry", "--skipApiVersionCheck", "--loose",
    ]  # fmt: skip
    ca_file = None
    if https:
        ca_file, cert, key = make_certificate(workdir)
        cmd += ["--cert", cert, "--key", key]
    endpoint = f"{'https' if https else 'http'}://127.0.0.1:{port}/{ACCOUNT}"
    log_path = workdir / "azurite.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(  # cwd: without --location Azurite writes its files there
            cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_ready(
            proc, lambda: _answers(f"{endpoint}?comp=list", ca_file), name="azurite",
            waiting_for=f"not answering at {endpoint}", timeout=timeout, cmd=cmd, log_path=log_path,
        )  # fmt: skip
        yield Azurite(endpoint, ca_file, proc, log_path)
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGCONT)  # a paused server cannot act on SIGTERM
        _kill_group(proc, grace=5)
