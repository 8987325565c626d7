"""A real FTP server, pyftpdlib, on 127.0.0.1 (conftest: ``ftp``, ``pyftpdlib``).

:func:`ftp_server` runs ``python -m pyftpdlib`` (from ``.cache/pyftpdlib``, which
``scripts/install-ftp.sh`` fills, else the running interpreter's own) on a free control
port with a free passive-port range, write access (unless ``writable=False``: a read-only
login, whose every write the server refuses with ``550 Not enough privileges.``) and debug
logging (every FTP command is in its log), serving a fresh directory; one user with a
password, or anonymous access when ``username`` is None. It polls for the ``220`` banner
and kills the process group on exit.

A server named by ``ARTIFACT_FS_TEST_FTP_URL`` (``ftp://user:password@127.0.0.1:PORT``,
password percent-encoded, writable home) is reused instead, unless ``reuse=False``:
tests that pause a server or read its log always start their own. conftest's ``ftp`` is
that server (falling back on its ``pyftpdlib``); ``pyftpdlib`` is always ours, for tests
that read the served directory (``FTPServer.root``) on this machine.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from .common import REPO_ROOT, _kill_group, free_ports, sigstopped, wait_ready

URL_ENV = "ARTIFACT_FS_TEST_FTP_URL"
INSTALLED = REPO_ROOT / ".cache" / "pyftpdlib"
PASSIVE_PORTS = 40  #: size of the passive range (one data connection per transfer or listing)


@dataclass
class FTPServer:
    """Where an FTP server listens, who logs in, and (if ours) its root, process and log."""

    host: str
    port: int
    username: str | None = None  #: None: anonymous
    password: str | None = field(default=None, repr=False)
    root: pathlib.Path | None = None  #: the served directory on this machine (ours only)
    proc: subprocess.Popen | None = field(default=None, repr=False)
    log_path: pathlib.Path | None = None

    def uri(self, path: str = "/", *, username: str | None = None, password: str | None = None) -> str:
        """``ftp://user:password@host:port/path``, user and password percent-encoded."""
        user = self.username if username is None else username
        secret = self.password if password is None else password
        userinfo = quote(user, safe="") if user else ""
        if user and secret is not None:
            userinfo += ":" + quote(secret, safe="")
        at = "@" if userinfo else ""
        return f"ftp://{userinfo}{at}{self.host}:{self.port}/{path.lstrip('/')}"

    def log(self) -> str:
        """The server's whole log (ours only; empty for a reused server)."""
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def paused(self):
        """SIGSTOP the server (connections are accepted by the kernel, never answered)."""
        return sigstopped(self.proc, group=True)


def free_port_range(count: int, attempts: int = 200) -> tuple[int, int]:
    """``count`` consecutive ports, all free on 127.0.0.1, below Linux's ephemeral range."""
    for _ in range(attempts):
        first = random.randrange(10000, 32000 - count)
        with contextlib.ExitStack() as stack:
            try:
                for port in range(first, first + count):
                    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return first, first + count - 1
    raise RuntimeError(f"no {count} consecutive free ports found")


def _banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            return sock.recv(64).startswith(b"220")
    except OSError:
        return False


def reused_ftp_server() -> FTPServer | None:
    """The running server ``ARTIFACT_FS_TEST_FTP_URL`` names, or None when it is not set."""
    url = os.environ.get(URL_ENV, "")
    if not url:
        return None
    parts = urlsplit(url)
    user = unquote(parts.username) if parts.username else None
    secret = unquote(parts.password) if parts.password is not None else None
    return FTPServer(parts.hostname or "127.0.0.1", parts.port or 21, user, secret)


@contextlib.contextmanager
def ftp_server(
    workdir: pathlib.Path, *, username: str | None = "mlflow", password: str | None = "p@ss%w0rd",
    idle_timeout: int | None = None, timeout: float = 30.0, reuse: bool = True, writable: bool = True,
) -> Iterator[FTPServer]:  # fmt: skip
    """Yield a running FTP server: the reused one, or a fresh pyftpdlib process.

    ``idle_timeout`` sets how long the server lets a client stay silent before it says
    ``421`` and closes the connection (pyftpdlib's default: 300 s). A read-only server
    (``writable=False``) is always a fresh one.
    """
    reused = reused_ftp_server() if reuse and writable else None
    if reused is not None:
        yield reused
        return
    workdir = pathlib.Path(workdir)
    root = workdir / "ftp-root"
    root.mkdir(parents=True, exist_ok=True)
    (port,) = free_ports(1)
    low, high = free_port_range(PASSIVE_PORTS)
    cmd = [
        sys.executable,
        "-m",
        "pyftpdlib",
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-r",
        f"{low}-{high}",
        "-D",
        "-d",
        str(root),
    ]
    if writable:
        cmd.append("-w")
    if username:
        cmd += ["-u", username, "-P", password or ""]
    if idle_timeout is not None:
        cmd += ["--timeout", str(idle_timeout)]
    env = dict(os.environ)
    if (INSTALLED / "pyftpdlib").is_dir():
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(INSTALLED), env.get("PYTHONPATH", "")]))
    log_path = workdir / "pyftpdlib.log"
    shown = " ".join("***" if password and arg == password else arg for arg in cmd)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_ready(
            proc, lambda: _banner(port), name="pyftpdlib (installed by scripts/install-ftp.sh)",
            waiting_for=f"no 220 banner on 127.0.0.1:{port}", timeout=timeout, cmd=shown, log_path=log_path,
            interval=0.05,
        )  # fmt: skip
        yield FTPServer("127.0.0.1", port, username, password if username else None, root, proc, log_path)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGCONT)  # a paused server cannot act on SIGTERM
        _kill_group(proc, grace=2)
