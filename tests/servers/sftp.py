"""A real OpenSSH ``sshd`` on 127.0.0.1 for the SFTP tests (conftest: ``sshd``, ``sftp``).

:func:`sshd_server` runs Debian's ``/usr/sbin/sshd`` (``scripts/install-sftp.sh`` installs
``openssh-server``) in the foreground (``-D -e``) on a free port with a throwaway host key,
a throwaway client key and its own ``sshd_config`` (``Subsystem sftp internal-sftp``),
polls for the ``SSH-`` banner, and kills the server and every session process it forked
on exit.

:func:`sftp_server` (and :func:`reused_sftp_server`) reuses a running server named by
``ARTIFACT_FS_TEST_SFTP_ENDPOINT`` (``user@127.0.0.1:port``, with its client key in
``ARTIFACT_FS_TEST_SFTP_KEY``), otherwise starts one. conftest's ``sftp`` is that server
(falling back on its ``sshd``); ``sshd`` is always ours, for tests that read the served
files on this machine. Tests that pause or kill a server always start their own.
:func:`password_server` is an asyncssh server that takes a password (OpenSSH would need a
system account with a known one).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import pathlib
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

from .common import _kill_group, _log_tail, free_ports, wait_ready

ENDPOINT_ENV = "ARTIFACT_FS_TEST_SFTP_ENDPOINT"
KEY_ENV = "ARTIFACT_FS_TEST_SFTP_KEY"
SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"

SSHD_CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {workdir}/hostkey
PidFile {workdir}/sshd.pid
AuthorizedKeysFile {workdir}/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
PrintMotd no
LogLevel VERBOSE
Subsystem sftp {subsystem}
MaxStartups 50:30:100
MaxSessions 50
"""


@dataclass
class SftpServer:
    """Where an SSH server listens, who may log in, and (if ours) its process."""

    host: str
    port: int
    user: str
    client_key: str  #: path of the client's private key (authorized on the server)
    host_key: str  #: the server's public host key, ``ssh-ed25519 AAAA...``
    proc: subprocess.Popen | None = field(default=None, repr=False)
    log_path: pathlib.Path | None = None
    sftp_log_path: pathlib.Path | None = None  #: what the SFTP subsystem did (``sftp_log=True``)

    def uri(self, path: str) -> str:
        """``sftp://user@host:port/abs/path`` for an absolute remote ``path``."""
        return f"sftp://{self.user}@{self.host}:{self.port}{path}"

    def known_hosts_line(self) -> str:
        """This server's line in OpenSSH's known_hosts format (``[host]:port key``)."""
        return f"[{self.host}]:{self.port} {self.host_key}\n"

    def log(self) -> str:
        """The last lines of the server's log (ours only)."""
        return _log_tail(self.log_path) if self.log_path else ""

    def sftp_log(self) -> str:
        """Every request the SFTP subsystem logged (``open``, ``posix-rename``, ``opendir``...)."""
        if self.sftp_log_path is None or not self.sftp_log_path.exists():
            return ""
        return self.sftp_log_path.read_text(errors="replace")

    def session_pids(self) -> list[int]:
        """Every process the listener forked (one tree per client connection)."""
        if self.proc is None:
            raise RuntimeError("not our server: its processes are not ours to touch")
        return _descendants(self.proc.pid)

    def kill_sessions(self) -> int:
        """SIGKILL every session process (drops every client connection); the listener stays."""
        pids = self.session_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """SIGSTOP the listener and its sessions (a hung server); SIGCONT on exit, always."""
        if self.proc is None:
            raise RuntimeError("not our server: it cannot be paused")
        stopped = [self.proc.pid, *self.session_pids()]
        try:
            for pid in stopped:
                os.kill(pid, signal.SIGSTOP)
            yield
        finally:
            for pid in stopped:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, pending = [], list(children.get(root, []))
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def _keygen(path: pathlib.Path) -> str:
    ssh_keygen = shutil.which("ssh-keygen")
    if ssh_keygen is None:
        raise RuntimeError("ssh-keygen not found: run scripts/install-sftp.sh")
    subprocess.run([ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return " ".join(path.with_name(path.name + ".pub").read_text().split()[:2])


def _banner(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


@contextlib.contextmanager
def sshd_server(workdir: pathlib.Path, *, timeout: float = 30.0, sftp_log: bool = False) -> Iterator[SftpServer]:
    """Start our own sshd under ``workdir`` on a free port; yield it; kill it and its sessions.

    ``sftp_log=True`` serves SFTP with OpenSSH's ``sftp-server`` program (the same code as
    ``internal-sftp``) logging every request to ``workdir/sftp.log``; otherwise ``internal-sftp``.
    """
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if not os.access(SSHD, os.X_OK):
        raise RuntimeError(f"{SSHD} not found: run scripts/install-sftp.sh (installs openssh-server)")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    host_key = _keygen(workdir / "hostkey")
    client_pub = _keygen(workdir / "clientkey")
    (workdir / "authorized_keys").write_text(client_pub + "\n")
    (port,) = free_ports(1)
    config = workdir / "sshd_config"
    sftp_log_path = workdir / "sftp.log" if sftp_log else None
    subsystem = f"{SFTP_SERVER} -e -l VERBOSE 2>>{sftp_log_path}" if sftp_log else "internal-sftp"
    config.write_text(SSHD_CONFIG.format(port=port, workdir=workdir, subsystem=subsystem))
    log_path = workdir / "sshd.log"
    cmd = [SSHD, "-D", "-e", "-f", str(config)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = SftpServer(
        "127.0.0.1", port, getpass.getuser(), str(workdir / "clientkey"), host_key, proc, log_path, sftp_log_path
    )
    try:
        wait_ready(
            proc, lambda: _banner(server.host, port), name="sshd", waiting_for=f"sent no SSH banner on port {port}",
            timeout=timeout, cmd=cmd, log_path=log_path, interval=0.02,
        )  # fmt: skip
        yield server
    finally:
        for pid in _descendants(proc.pid) if proc.poll() is None else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # sessions first, so the listener reaps them
        _kill_group(proc, 0)


@contextlib.contextmanager
def sftp_server(workdir: pathlib.Path) -> Iterator[SftpServer]:
    """The server named by ``ARTIFACT_FS_TEST_SFTP_ENDPOINT`` if set, else our own sshd."""
    reused = reused_sftp_server()
    if reused is not None:
        yield reused
        return
    with sshd_server(workdir) as server:
        yield server


def reused_sftp_server() -> SftpServer | None:
    """The running server ``ARTIFACT_FS_TEST_SFTP_ENDPOINT`` names (its client key in
    ``ARTIFACT_FS_TEST_SFTP_KEY``), or None when the variable is not set."""
    endpoint = os.environ.get(ENDPOINT_ENV, "")
    if not endpoint:
        return None
    user, _, hostport = endpoint.rpartition("@")
    host, _, port = hostport.rpartition(":")
    return SftpServer(host, int(port), user or getpass.getuser(), os.environ[KEY_ENV], _host_key(host, int(port)))


def _host_key(host: str, port: int) -> str:
    """The public host key a running server presents (for the known_hosts tests)."""
    import asyncio

    import asyncssh

    key = asyncio.run(asyncssh.get_server_host_key(host, port))
    if key is None:
        raise RuntimeError(f"no host key from {host}:{port}")
    return " ".join(key.export_public_key().decode().split()[:2])


@contextlib.contextmanager
def password_server(user: str, password: str) -> Iterator[SftpServer]:
    """An asyncssh SFTP server (in a thread, on a free port) that accepts only ``user`` with
    ``password`` and serves this machine's files: password logins to OpenSSH would need a
    system account with a known password, which tests must not create."""
    import asyncio
    import threading

    import asyncssh

    connections: list = []

    class _Server(asyncssh.SSHServer):
        def connection_made(self, conn):
            connections.append(conn)

        def begin_auth(self, username):
            return True

        def password_auth_supported(self):
            return True

        def validate_password(self, username, given):
            return username == user and given == password

    key = asyncssh.generate_private_key("ssh-ed25519")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="asyncssh-password-server", daemon=True)
    thread.start()

    def run(coro):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(30)

    async def listen():
        return await asyncssh.listen("127.0.0.1", 0, server_factory=_Server, server_host_keys=[key], sftp_factory=True)

    acceptor = run(listen())
    public = " ".join(key.export_public_key().decode().split()[:2])

    async def close():  # on the server's own loop: asyncio's Server is not thread-safe
        acceptor.close()
        await acceptor.wait_closed()
        for conn in connections:  # sessions the clients left open end with the server
            conn.close()
            await conn.wait_closed()

    try:
        yield SftpServer("127.0.0.1", acceptor.get_port(), user, "", public)
    finally:
        run(close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        if not thread.is_alive():
            loop.close()
