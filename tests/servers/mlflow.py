"""A real ``mlflow server`` (full ``mlflow`` package) on 127.0.0.1, proxying artifacts to a destination.

:func:`mlflow_server` starts ``mlflow server --serve-artifacts --artifacts-destination <uri>``
(the ``mlflow`` script next to the running interpreter, else on ``PATH``) with a sqlite
backend store and one uvicorn worker in its own session, waits for ``/health``, yields an
:class:`MlflowServer` and kills the session afterwards. :func:`run_client` drives it with
MLflow's own client from another process. The server's environment is the test's
(already scrubbed by conftest) plus ``env``.

No environment variable names a running one to reuse, and conftest registers no fixture:
every tracking server proxies to a destination (and with an environment) its test module
chooses, so each module starts its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

from .common import _http_ok, _kill_group, find_binary, free_ports, wait_ready


@dataclass(frozen=True)
class MlflowServer:
    """A running tracking server: its URL, its sqlite store and its process session."""

    url: str
    backend_store_uri: str
    destination: str
    pid: int
    log_path: pathlib.Path
    app_name: str | None = None  #: its ``--app-name`` (``artifact-fs``: the batch endpoints)

    def _session_pids(self) -> list[int]:
        """Every live process of the server's session (the CLI, uvicorn, its worker, job runners)."""
        pids = []
        for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[3]) == self.pid:  # field 6 of stat: the session id
                    pids.append(int(stat.parent.name))
        return pids

    def io_bytes(self) -> int:
        """Bytes the server's processes have read plus written through any file or socket
        (``rchar`` + ``wchar`` of ``/proc/<pid>/io``): a body passing through the server shows up here."""
        total = 0
        for pid in self._session_pids():
            with contextlib.suppress(OSError):
                counters = dict(line.split(": ") for line in pathlib.Path(f"/proc/{pid}/io").read_text().splitlines())
                total += int(counters["rchar"]) + int(counters["wchar"])
        return total

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server's live processes have used so far, summed."""
        ticks = 0
        for pid in self._session_pids():
            with contextlib.suppress(OSError):
                fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return ticks / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int:
        """Resident memory of the server's processes, summed."""
        total = 0
        for pid in self._session_pids():
            with contextlib.suppress(OSError):
                for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        return total

    def get_json(self, path: str) -> dict:
        """GET ``path`` on the server (no proxies) and parse the JSON answer."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{self.url}{path}", timeout=30) as response:
            return json.loads(response.read())


@contextlib.contextmanager
def mlflow_server(
    workdir: pathlib.Path,
    destination: str,
    env: dict[str, str] | None = None,
    *,
    scrub: frozenset[str] | set[str] = frozenset(),
    timeout: float = 120.0,
    app_name: str | None = None,
    options: tuple[str, ...] = (),
) -> Iterator[MlflowServer]:
    """Run ``mlflow server`` proxying artifacts to ``destination`` (any URI artifact_fs takes), with
    this process's environment minus the ``scrub`` names plus ``env``; ``app_name`` is its
    ``--app-name`` (``artifact-fs``: artifact_fs's app with the batch endpoints), ``options``
    more of its command line (``--gunicorn-opts=...``)."""
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (port,) = free_ports(1)
    store = f"sqlite:///{workdir / 'mlflow.db'}"
    cmd = [
        find_binary("mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", store, "--serve-artifacts", "--artifacts-destination", destination,
        "--workers", "1", *(["--app-name", app_name] if app_name else []), *options,
    ]  # fmt: skip
    log_path = workdir / "mlflow-server.log"
    inherited = {name: value for name, value in os.environ.items() if name not in scrub}
    # No job runner (huey consumers import half of MLflow at start: CPU, and noise in io_bytes()).
    quiet = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server_env = {**inherited, **quiet, **(env or {})}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=workdir, env=server_env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(
                proc, lambda: _http_ok(f"{url}/health"), name="mlflow server", waiting_for=f"not ready at {url}/health",
                timeout=timeout, cmd=cmd, log_path=log_path, interval=0.3,
            )  # fmt: skip
            yield MlflowServer(url, store, destination, proc.pid, log_path, app_name)
        finally:
            _kill_group(proc, grace=5)


#: what hands the proxied artifact schemes back to MLflow's own client (HttpArtifactRepository)
MLFLOW_CLIENT = {"ARTIFACT_FS_BUILTIN_SCHEMES": "mlflow-artifacts,http,https"}


def run_client(
    server: MlflowServer, code: str, env: dict[str, str] | None = None, *, timeout: float = 300, client: str = "mlflow"
) -> object:
    """Run ``code`` with MLflow's client in a fresh Python process pointed at ``server``.

    The code sees ``TRACKING_URI`` and ``emit(obj)``; the last object emitted is returned.
    A failing client raises AssertionError with its output. ``client="mlflow"``: MLflow's own
    repository moves the proxied artifacts (the server is what is tested); ``"artifact_fs"``:
    artifact_fs's ``mlflow-artifacts`` row does.
    """
    if client == "mlflow":
        env = {**MLFLOW_CLIENT, **(env or {})}
    prelude = textwrap.dedent(
        f"""
        import json, sys
        TRACKING_URI = {server.url!r}
        def emit(obj):
            print("RESULT " + json.dumps(obj), flush=True)
        """
    )
    client_env = {
        **os.environ, "MLFLOW_TRACKING_URI": server.url, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "NO_PROXY": "127.0.0.1,localhost", **(env or {}),
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)], env=client_env, capture_output=True,
        text=True, timeout=timeout,
    )  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"MLflow client failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    results = [line[len("RESULT ") :] for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(results[-1]) if results else None
