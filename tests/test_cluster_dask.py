"""``runs://`` and ``models://`` read and written by Dask's workers: a 2-process ``LocalCluster``.

The workers are separate processes started once for the module, on 127.0.0.1 only (no
dashboard). Like a real cluster's, they know nothing but their environment: the stores'
variables (SeaweedFS's ``AWS_*``, fake-gcs-server's ``STORAGE_EMULATOR_HOST``), a profiles
file (Azurite's connection string, and two S3 buckets that fail: one with a wrong secret, one
whose endpoint is down) and ``MLFLOW_TRACKING_URI``, naming a real ``mlflow server``. Each
worker resolves a run through that server, then reads and writes the store directly.

Failures raised on a worker reach the driver as the very error the same call raises in
the driver itself: the same class, message and (for ``MlflowException``) error code.
"""

from __future__ import annotations

import os
import uuid

import dask.dataframe as dd
import fsspec
import numpy as np
import pandas as pd
import psutil
import pytest
from distributed import Client, LocalCluster, get_task_stream
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from .conftest import SCRUBBED, new_bucket
from .servers.common import free_ports
from .servers.mlflow import mlflow_server

#: dask 2026.8's own Parquet reader calls pandas 3.1's deprecated ``inplace=`` (not ours to fix)
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame")
PARTS = 4
ROWS = 50
#: what the module's profiles file gives Azure and the two failing S3 buckets
PROFILE_SECRET_VAR = "CLUSTER_TEST_WRONG_SECRET"


def part(number: int, rows: int = ROWS) -> pd.DataFrame:
    """One part of a table: ids unique across parts."""
    ids = np.arange(number * rows, (number + 1) * rows, dtype="int64")
    return pd.DataFrame({"id": ids, "name": [f"n{i}" for i in ids], "part": np.full(rows, number, dtype="int64")})


def assert_same_table(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """The same rows and values, in id order. Dask reads strings as ``string[pyarrow]``
    (``NA`` for missing) where pandas 3 has ``str`` (``NaN``): compared as pandas's dtypes."""
    got = got.astype(expected.dtypes.to_dict()).sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected.sort_values("id").reset_index(drop=True))


# --- the module's servers, stores and cluster -----------------------------------------------


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    """A real ``mlflow server`` (sqlite backend); every run names its own artifact root."""
    work = tmp_path_factory.mktemp("mlflow-server")
    with mlflow_server(work, str(work / "default-artifacts"), scrub=SCRUBBED) as server:
        yield server


class Stores:
    """Artifact roots on each store, and the environment the workers and the driver share."""

    def __init__(self, seaweedfs, fake_gcs, azurite, tracking_url: str, profiles):
        self.seaweedfs = seaweedfs
        self.s3 = f"s3://{new_bucket(seaweedfs)}/mlruns"
        gcs_bucket = f"t-{uuid.uuid4().hex[:16]}"
        fake_gcs.create_bucket(gcs_bucket)
        self.gcs = f"gs://{gcs_bucket}/mlruns"
        container = azurite.create_container()
        self.azure = f"wasbs://{container}@devstoreaccount1.blob.core.windows.net/mlruns"
        self.private_bucket = new_bucket(seaweedfs)  # reached with a wrong secret: denied
        self.private = f"s3://{self.private_bucket}/mlruns"
        self.down = f"s3://t-{uuid.uuid4().hex[:16]}/mlruns"  # an endpoint nothing listens on
        (self.closed_port,) = free_ports(1)
        profiles.write_text(
            "\n".join(
                [
                    "[profiles.azurite]",
                    f'match = "wasbs://{container}@devstoreaccount1.blob.core.windows.net"',
                    'connection_string = "env:CLUSTER_TEST_AZURITE_CONNECTION"',
                    "[profiles.denied]",
                    f'match = "s3://{self.private_bucket}"',
                    f'endpoint_url = "{seaweedfs.endpoint_url}"',
                    f'access_key_id = "{seaweedfs.key}"',
                    f'secret_access_key = "env:{PROFILE_SECRET_VAR}"',
                    "[profiles.down]",
                    f'match = "{self.down.rsplit("/", 1)[0]}"',
                    f'endpoint_url = "http://127.0.0.1:{self.closed_port}"',
                    "retries = 0",
                ]
            )
            + "\n"
        )
        profiles.chmod(0o600)
        self.env = {
            **seaweedfs.env(),
            **fake_gcs.env(),
            "MLFLOW_TRACKING_URI": tracking_url,
            "ARTIFACT_FS_PROFILES": str(profiles),
            "CLUSTER_TEST_AZURITE_CONNECTION": azurite.connection_string(),
            PROFILE_SECRET_VAR: "not-the-secret",
            # as conftest's clean_environment does for the driver: no developer's settings
            "AWS_CONFIG_FILE": str(profiles.parent / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(profiles.parent / "no-aws-credentials"),
            "BOTO_CONFIG": "/dev/null",
            "XDG_CONFIG_HOME": str(profiles.parent / "no-xdg-config"),
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            "NO_PROXY": "127.0.0.1,localhost",
        }

    def location(self, name: str) -> str:
        return {"s3": self.s3, "gcs": self.gcs, "azure": self.azure, "private": self.private, "down": self.down}[name]


@pytest.fixture(scope="module")
def stores(seaweedfs, fake_gcs, azurite, tracking_server, tmp_path_factory) -> Stores:
    return Stores(seaweedfs, fake_gcs, azurite, tracking_server.url, tmp_path_factory.mktemp("env") / "profiles.toml")


@pytest.fixture(scope="module")
def cluster(stores):
    """Two worker processes (one thread each), started with the stores' environment only."""
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):  # what conftest scrubs for each test, gone before the spawn
            if name in SCRUBBED or name.startswith("FSSPEC_"):
                env.delenv(name)
        for name, value in stores.env.items():
            env.setenv(name, value)
        local = LocalCluster(
            host="127.0.0.1",
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env=stores.env,  # a worker the nanny restarts gets it too
        )
    with local, Client(local) as client:
        client.wait_for_workers(2, timeout=120)
        yield client


@pytest.fixture(autouse=True)
def driver_env(clean_environment, monkeypatch, stores):
    """The driver sees what the workers see (conftest scrubs the environment before each test)."""
    for name, value in stores.env.items():
        monkeypatch.setenv(name, value)


def new_run(location: str) -> str:
    """A fresh run (through the tracking server) whose artifact root lies under ``location``."""
    client = MlflowClient()
    experiment = client.create_experiment(f"cluster-{uuid.uuid4().hex[:12]}", artifact_location=location)
    return client.create_run(experiment).info.run_id


def worker_pids(client: Client) -> set[int]:
    return set(client.run(os.getpid).values())


def resolved_runs() -> list[list[str]]:
    """On a worker: the runs this process looked up itself (``runs://`` remembers each run's root)."""
    from artifact_fs.protocols import _IMMUTABLE_ROOTS

    return [list(key) for key in _IMMUTABLE_ROOTS if key[0] == "runs"]


def same_error(remote: BaseException, local: BaseException) -> None:
    """The error raised on a worker is the one raised in the driver: class, message, error code."""
    assert type(remote) is type(local), (remote, local)
    assert str(remote) == str(local)
    if isinstance(local, OSError):
        assert remote.errno == local.errno
    if isinstance(local, MlflowException):
        assert remote.error_code == local.error_code


def raised(call, *args) -> BaseException:
    try:
        call(*args)
    except Exception as exc:  # the error itself is what the tests compare
        return exc
    raise AssertionError(f"{call.__name__}{args} raised nothing")


# --- the tests ------------------------------------------------------------------------------


def test_the_cluster_listens_on_loopback_only(cluster):
    pids = {os.getpid(), *worker_pids(cluster)}
    listening = [
        (pid, c.laddr)
        for pid in pids
        for c in psutil.Process(pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert listening, "the scheduler and the workers listen somewhere"
    assert {addr.ip for _pid, addr in listening} == {"127.0.0.1"}, listening
    assert len(worker_pids(cluster)) == 2 and os.getpid() not in worker_pids(cluster)


@pytest.mark.parametrize("store", ["s3", "gcs", "azure"])
def test_workers_read_and_write_a_runs_table(cluster, stores, store):
    """S3 and GCS settings come from the environment, Azure's from the profiles file."""
    run_id = new_run(stores.location(store))
    parts = [part(n) for n in range(PARTS)]
    for n, frame in enumerate(parts):
        frame.to_parquet(f"runs://{run_id}/tables/part-{n}.parquet")
    expected = pd.concat(parts)

    table = dd.read_parquet(f"runs://{run_id}/tables/")
    assert table.npartitions == PARTS
    with get_task_stream(cluster) as stream:
        assert_same_table(table.compute(), expected)
    workers, readers = set(cluster.scheduler_info()["workers"]), {task["worker"] for task in stream.data}
    assert readers and readers <= workers  # the reads ran on the workers
    key = ["runs", os.environ["MLFLOW_TRACKING_URI"], run_id]
    # the driver had located the run (Dask read a footer): its root travelled in the pickle
    assert all(key not in runs for runs in cluster.run(resolved_runs).values())
    # a URL opened on the workers themselves: each locates the run through the tracking server
    # its environment names, then reads the store
    urls = [f"runs://{run_id}/tables/part-{n}.parquet" for n in range(PARTS)]
    with get_task_stream(cluster) as stream:
        assert_same_table(dd.from_map(pd.read_parquet, urls, meta=part(0).iloc[:0]).compute(), expected)
    resolved = cluster.run(resolved_runs)
    assert all(key in resolved[task["worker"]] for task in stream.data) and stream.data, resolved

    with get_task_stream(cluster) as stream:
        table.to_parquet(f"runs://{run_id}/out/")
    assert {task["worker"] for task in stream.data} <= workers and stream.data  # written by the workers
    written = sorted(a.path for a in MlflowClient().list_artifacts(run_id, "out"))
    assert written == [f"out/part.{n}.parquet" for n in range(PARTS)]
    assert_same_table(dd.read_parquet(f"runs://{run_id}/out/").compute(), expected)
    assert_same_table(pd.read_parquet(f"runs://{run_id}/out/"), expected)  # read by the driver


def test_workers_read_a_registered_model_version(cluster, stores):
    run_id = new_run(stores.s3)
    parts = [part(n) for n in range(PARTS)]
    for n, frame in enumerate(parts):
        frame.to_parquet(f"runs://{run_id}/model/tables/part-{n}.parquet")
    client, name = MlflowClient(), f"cluster-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    version = client.create_model_version(name, f"{client.get_run(run_id).info.artifact_uri}/model", run_id).version
    table = dd.read_parquet(f"models://{name}/{version}/tables/")
    assert_same_table(table.compute(), pd.concat(parts))


def test_partitions_are_read_in_parallel_by_both_workers(cluster, stores):
    """Each read task's worker and compute interval, from the scheduler's task stream: both
    workers read, and a read on one overlaps a read on the other (a serialised read fails)."""
    run_id = new_run(stores.s3)
    rng = np.random.default_rng(0)
    parts = 8
    for n in range(parts):
        pd.DataFrame({"x": rng.random(400_000), "part": n}).to_parquet(f"runs://{run_id}/wide/part-{n}.parquet")
    table = dd.read_parquet(f"runs://{run_id}/wide/")
    with get_task_stream(cluster) as stream:
        assert len(table.compute()) == parts * 400_000
    reads = [
        (task["worker"], span["start"], span["stop"])
        for task in stream.data
        for span in task["startstops"]
        if span["action"] == "compute"
    ]
    assert len(reads) >= parts
    assert len({worker for worker, _, _ in reads}) == 2, reads
    overlapping = [
        (a, b) for a in reads for b in reads if a[0] != b[0] and a[1] < b[2] and b[1] < a[2]
    ]  # two workers computing at once
    assert overlapping, reads


def read_bytes(url: str) -> bytes:
    """A whole file through fsspec (``runs://`` as any fsspec URL): artifact_fs's own errors."""
    with fsspec.open(url, "rb") as f:
        return f.read()


def test_a_missing_run_fails_on_a_worker_as_in_the_driver(cluster):
    run_id = uuid.uuid4().hex
    url = f"runs://{run_id}/tables/part-0.parquet"
    local = raised(read_bytes, url)
    assert isinstance(local, FileNotFoundError) and f"runs:/{run_id}" in str(local), repr(local)
    same_error(raised(cluster.submit(read_bytes, url, pure=False).result), local)
    # pandas's read goes through pyarrow, which turns any FileNotFoundError into its own (naming
    # the path only): the worker's is that same error
    local = raised(pd.read_parquet, url)
    assert isinstance(local, FileNotFoundError) and run_id in str(local), repr(local)
    same_error(raised(cluster.submit(pd.read_parquet, url, pure=False).result), local)
    table = dd.from_map(pd.read_parquet, [url], meta=part(0).iloc[:0])  # nothing read by the driver
    same_error(raised(table.compute), local)


@pytest.mark.parametrize("store", ["private", "down"])
def test_a_store_refusing_or_down_fails_on_a_worker_as_in_the_driver(cluster, stores, store):
    """``private``: the workers' secret for that bucket is wrong (PermissionError); ``down``:
    nothing listens at the bucket's endpoint."""
    run_id = new_run(stores.location(store))
    url = f"runs://{run_id}/t.parquet"
    local = raised(pd.read_parquet, url)
    if store == "private":
        assert isinstance(local, PermissionError), repr(local)
    else:  # botocore's EndpointConnectionError, naming the endpoint
        assert f"127.0.0.1:{stores.closed_port}" in str(local), repr(local)
    same_error(raised(cluster.submit(pd.read_parquet, url, pure=False).result), local)
    table = dd.from_map(pd.read_parquet, [url], meta=part(0).iloc[:0])
    same_error(raised(table.compute), local)


def list_artifacts(run_id: str) -> list:
    return MlflowClient().list_artifacts(run_id)


def test_an_mlflow_error_keeps_its_error_code_across_the_cluster(cluster, stores):
    """MLflow's own listing on a worker goes through artifact_fs's repository: its
    ``MlflowException`` reaches the driver with the error code it had on the worker."""
    run_id = new_run(stores.private)
    local = raised(list_artifacts, run_id)
    assert isinstance(local, MlflowException) and local.error_code == "PERMISSION_DENIED", repr(local)
    same_error(raised(cluster.submit(list_artifacts, run_id, pure=False).result), local)
