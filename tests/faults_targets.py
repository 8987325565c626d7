"""Dedicated servers for fault injection: each can be SIGKILLed, SIGSTOPped and restarted.

The fault tests never touch the shared session servers: every :class:`Target` starts its
own server through the existing helpers (``tests/servers/``, one module per server) with
reuse switched off, and knows how to read what the store holds straight from the server
(boto3, the served directory, the Azure SDK), independently of artifact_fs.

Restarting keeps the data where the server keeps it on disk (SeaweedFS's data directory,
the SFTP and FTP served directories); Azurite runs in memory, so a killed Azurite comes
back empty (its checks after a kill can only cover the rerun).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import shutil
import signal
import uuid

from artifact_fs.paths import TEMP_PREFIX

from .servers import s3
from .servers.azure import azurite_server
from .servers.ftp import ftp_server
from .servers.sftp import sshd_server

TIMEOUT_VAR = "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pids_with(marker: str) -> list[int]:
    """Processes whose command line holds ``marker`` (a path unique to a server we started)."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker in entry.joinpath("cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
    return found


class Target:
    """One backend's dedicated server. Subclasses fill in the hooks."""

    name = ""

    def __init__(self, workdir: pathlib.Path, timeout: int):
        self.workdir, self.timeout = pathlib.Path(workdir), timeout
        self._stack: contextlib.ExitStack | None = None
        self.starts = 0

    # lifecycle
    def start(self) -> None:
        self._stack = contextlib.ExitStack()
        self._start(self._stack)
        self.starts += 1

    def stop(self) -> None:
        if self._stack is not None:
            with contextlib.suppress(ProcessLookupError):
                self._resume()
            self._stack.close()
            self._stack = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def kill(self) -> None:
        """SIGKILL the server and every process it forked."""
        for pid in self._pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    @contextlib.contextmanager
    def paused(self):
        """SIGSTOP the server (it accepts connections and never answers); SIGCONT on exit."""
        pids = self._pids()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            self._resume(pids)

    def _resume(self, pids=None) -> None:
        for pid in pids if pids is not None else self._pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    # hooks
    def _start(self, stack: contextlib.ExitStack) -> None:
        raise NotImplementedError

    def _pids(self) -> list[int]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """Variables a user sets to reach the server (with a short transfer timeout)."""
        return {TIMEOUT_VAR: str(self.timeout)}

    def uri(self, prefix: str) -> str:
        raise NotImplementedError

    def stored(self, prefix: str) -> dict[str, str]:
        """``{path relative to prefix: sha256}`` of everything under a final name, read directly."""
        raise NotImplementedError

    def leftovers(self, prefix: str) -> list[str]:
        """Hidden leftovers of interrupted uploads (temporary names, incomplete multipart uploads)."""
        return []

    @property
    def keeps_data(self) -> bool:
        """Whether the store's content survives a SIGKILL and restart."""
        return True


class SeaweedTarget(Target):
    name = "s3-seaweedfs"

    def _start(self, stack):
        saved = os.environ.pop(s3.SEAWEEDFS_ENDPOINT_ENV, None)  # never the shared server
        try:
            self.server = stack.enter_context(s3.seaweedfs_server(self.workdir))
        finally:
            if saved is not None:
                os.environ[s3.SEAWEEDFS_ENDPOINT_ENV] = saved
        if self.starts == 0:
            self.bucket = f"faults-{uuid.uuid4().hex[:12]}"
            self.server.create_bucket(self.bucket)

    def _pids(self):
        return _pids_with(f"-dir={self.workdir / 'seaweedfs-data'}")

    def env(self):
        return {**super().env(), **self.server.env()}

    def uri(self, prefix):
        return f"s3://{self.bucket}/{prefix}"

    def stored(self, prefix):
        client, out = self.server.boto3_client(), {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix + "/"):
            for item in page.get("Contents", []):
                if item["Key"].endswith("/"):
                    continue  # folder marker
                body = client.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                out[item["Key"][len(prefix) + 1 :]] = sha(body)
        return out

    def leftovers(self, prefix):
        uploads = self.server.boto3_client().list_multipart_uploads(Bucket=self.bucket, Prefix=prefix + "/")
        return [f"multipart upload of {u['Key']}" for u in uploads.get("Uploads", [])]


class _ServedDirectory(Target):
    """SFTP and FTP: the store is a directory on this machine."""

    def stored(self, prefix):
        base, out = self.root / prefix, {}
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if not name.startswith(TEMP_PREFIX):
                    full = pathlib.Path(dirpath, name)
                    out[full.relative_to(base).as_posix()] = sha(full.read_bytes())
        return out

    def leftovers(self, prefix):
        return [str(p) for p in (self.root / prefix).rglob(f"{TEMP_PREFIX}*")]


class SftpTarget(_ServedDirectory):
    name = "sftp-sshd"

    def _start(self, stack):
        run = self.workdir / f"sshd-{self.starts}"
        self.server = stack.enter_context(sshd_server(run))
        self.root = self.workdir / "served"
        self.root.mkdir(exist_ok=True)
        home = self.workdir / "home"
        (home / ".ssh").mkdir(parents=True, exist_ok=True)
        shutil.copy(self.server.client_key, home / ".ssh" / "id_ed25519")
        (home / ".ssh" / "known_hosts").write_text(self.server.known_hosts_line())
        self.home = home

    def _pids(self):
        proc = self.server.proc
        return [proc.pid, *self.server.session_pids()] if proc.poll() is None else []

    def env(self):
        return {**super().env(), "HOME": str(self.home)}

    def uri(self, prefix):
        return self.server.uri(str(self.root / prefix))


class FtpTarget(_ServedDirectory):
    name = "ftp-pyftpdlib"

    def _start(self, stack):
        self.server = stack.enter_context(ftp_server(self.workdir, reuse=False))
        self.root = self.server.root

    def _pids(self):
        proc = self.server.proc
        return [proc.pid] if proc.poll() is None else []

    def uri(self, prefix):
        return self.server.uri(f"/{prefix}")


class AzuriteTarget(Target):
    name = "azure-azurite"

    def _start(self, stack):
        self.server = stack.enter_context(azurite_server(self.workdir / f"azurite-{self.starts}", reuse=False))
        self.container = self.server.create_container("faults")

    def _pids(self):
        proc = self.server.proc
        return [proc.pid] if proc.poll() is None else []

    def env(self):
        return {**super().env(), "AZURE_STORAGE_CONNECTION_STRING": self.server.connection_string()}

    def uri(self, prefix):
        return f"wasbs://{self.container}@devstoreaccount1.blob.core.windows.net/{prefix}"

    def stored(self, prefix):
        client = self.server.service_client().get_container_client(self.container)
        out = {}
        for blob in client.list_blobs(name_starts_with=prefix + "/"):
            if blob.size or not blob.name.endswith("/"):
                out[blob.name[len(prefix) + 1 :]] = sha(client.download_blob(blob.name).readall())
        return out

    @property
    def keeps_data(self):
        return False  # Azurite runs in memory


TARGETS = {cls.name: cls for cls in (SeaweedTarget, SftpTarget, FtpTarget, AzuriteTarget)}
