"""What every server module shares: free ports, finding a binary, running a server in its
own session and polling it until it is ready, pausing it, stopping its whole process group,
and a throwaway CA with a certificate for 127.0.0.1 (Azurite over HTTPS, SeaweedFS over TLS).

No server of its own: the modules next to this one (``s3``, ``azure``, ``gcs``...) start them.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

#: The checkout: ``scripts/install-*.sh`` put the servers' binaries under its ``.cache/``.
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
LOG_TAIL_LINES = 40


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


def wait_ready(
    proc, ready, *, name: str, waiting_for: str, timeout: float, cmd, log_path, interval: float = 0.1
) -> None:
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


def make_certificate(directory: pathlib.Path) -> tuple[str, str, str]:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost: ``(ca, cert, key)`` paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def builder(subject: str, issuer: str, public_key):
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
        )

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    usage = dict(content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False)
    ca = (
        builder("artifact_fs test CA", "artifact_fs test CA", ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
                **usage,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        builder("127.0.0.1", "artifact_fs test CA", key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = tuple(str(directory / name) for name in ("ca.pem", "cert.pem", "key.pem"))
    pathlib.Path(paths[0]).write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pathlib.Path(paths[1]).write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    pathlib.Path(paths[2]).write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths  # type: ignore[return-value]
