"""Ray Data reads and writes a run's table from its worker processes, through ``runs://``.

Ray's runtime binds its servers to every interface, so Ray runs in a private network
namespace (``unshare --net``: only its own loopback), in a child process
(``tests/cluster_ray_child.py``). The test servers stay in this namespace on 127.0.0.1: a real
``mlflow server`` and SeaweedFS. Each is reached from the namespace through two relays
(:mod:`tests.servers.relay`): here a Unix socket file relayed to the server's port, there the
same port on the namespace's 127.0.0.1 relayed to that file. The run is resolved through the
tracking server by each Ray worker, and the bytes go to SeaweedFS. The child reports what it
found as JSON; the assertions are here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import uuid

import pandas as pd
import pytest
from mlflow import MlflowClient

from .cluster_ray_child import PARTS, normalised, part
from .conftest import SCRUBBED, new_bucket
from .servers.common import REPO_ROOT
from .servers.mlflow import mlflow_server
from .servers.relay import unix_to_tcp

#: set (to the reason) where ray[data] is deliberately not installed: the minimum-versions
#: environment of scripts/matrix.sh, whose pinned minimums are below what Ray needs
WITHOUT_RAY = os.environ.get("ARTIFACT_FS_TEST_WITHOUT_RAY")
if WITHOUT_RAY:
    pytest.skip(f"ray[data] is not installed in this environment: {WITHOUT_RAY}", allow_module_level=True)

#: the child's own namespaces: the network (Ray binds every interface), and a PID namespace whose
#: init is the child, so that every process Ray started dies with it, whatever happens
UNSHARE = ["unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child"]
CHILD_TIMEOUT = 300


def namespaces_refused() -> str | None:
    """Why this machine cannot give the child its namespaces, or None when it can."""
    try:
        probe = subprocess.run([*UNSHARE, "true"], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        return "unshare (util-linux) is not installed: Ray binds every interface, so it runs in a network namespace"
    if probe.returncode != 0:
        return (
            "creating a network namespace (unshare --net, with --pid) is not permitted on this machine "
            f"({probe.stderr.strip()}): Ray binds every interface, so it runs only in a private one"
        )
    return None


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    """A real ``mlflow server`` (sqlite backend); the run names its own artifact root."""
    work = tmp_path_factory.mktemp("mlflow-server")
    with mlflow_server(work, str(work / "default-artifacts"), scrub=SCRUBBED) as server:
        yield server


def test_ray_data_reads_and_writes_a_runs_table_from_its_workers(seaweedfs, tracking_server, monkeypatch):
    refused = namespaces_refused()
    if refused:
        pytest.skip(f"cannot make a private network namespace for the workers (unshare --net refused): {refused}")
    env = {**seaweedfs.env(), "MLFLOW_TRACKING_URI": tracking_server.url, "NO_PROXY": "127.0.0.1,localhost"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = MlflowClient()
    experiment = client.create_experiment(
        f"ray-{uuid.uuid4().hex[:12]}", artifact_location=f"s3://{new_bucket(seaweedfs)}/mlruns"
    )
    run_id = client.create_run(experiment).info.run_id
    for n in range(PARTS):
        part(n).to_parquet(f"runs://{run_id}/tables/part-{n}.parquet")

    ports = [urllib.parse.urlsplit(url).port for url in (seaweedfs.endpoint_url, tracking_server.url)]
    sockets = tempfile.mkdtemp(prefix="relay-", dir="/tmp")  # short: a socket path fits 107 bytes
    child_env = {name: value for name, value in os.environ.items() if name not in SCRUBBED}
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    spec = {"run_id": run_id, "env": env, "relays": {port: f"{sockets}/{port}.sock" for port in ports}}
    try:
        with contextlib.ExitStack() as relays:
            opened = [relays.enter_context(unix_to_tcp(f"{sockets}/{port}.sock", port)) for port in ports]
            done = subprocess.run(
                [*UNSHARE, sys.executable, "-m", "tests.cluster_ray_child", json.dumps(spec)],
                cwd=REPO_ROOT,
                env=child_env,
                capture_output=True,
                text=True,
                timeout=CHILD_TIMEOUT,
            )
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    output = f"exit {done.returncode}\nstdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-6000:]}"
    assert done.returncode == 0, output
    found = json.loads([line for line in done.stdout.splitlines() if line.startswith("RESULT ")][-1][7:])

    assert all(relay.connections for relay in opened), "the child reached both servers through the relays"
    assert found["path"] == f"{run_id}/tables"
    assert found["read_equal"], found
    assert found["driver_pid"] not in found["reader_pids"], found  # read by Ray's workers
    # written by Ray's workers into the run, as this namespace's MLflow and pandas see it
    assert len(found["written"]) == PARTS and all(name.endswith(".parquet") for name in found["written"]), found
    listed = sorted(a.path.rsplit("/", 1)[1] for a in client.list_artifacts(run_id, "ray-out"))
    assert listed == found["written"]
    written = pd.read_parquet(f"runs://{run_id}/ray-out/")
    assert normalised(written).equals(normalised(pd.concat([part(n) for n in range(PARTS)])))
    writers = set(written["pid"])
    assert len(writers) >= 2 and found["driver_pid"] not in writers, found  # at least two worker processes wrote
