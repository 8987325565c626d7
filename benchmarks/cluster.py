"""Cluster reads with Dask: a run's Parquet table through ``runs://`` vs plain ``s3://``.

    .venv/bin/python -m benchmarks.cluster [--parts 32] [--mib 16] [--reps 3]

Starts SeaweedFS (tests/servers/s3.py) and a real ``mlflow server`` (tests/servers/mlflow.py)
on 127.0.0.1, stores ``--parts`` Parquet files of ``--mib`` MiB each (random float64,
incompressible) in a run's artifact root, and two Dask ``LocalCluster`` s on 127.0.0.1 (one
and two worker processes, one thread each, no dashboard), whose workers get the store's
variables and ``MLFLOW_TRACKING_URI`` in their environment. Each measurement is
``dd.read_parquet(url).map_partitions(len).compute()`` (every byte read and parsed on the
workers, only row counts come back), checked against the row count, for:

* ``runs://<run_id>/tables/`` (the driver locates the run; its pickle carries the root);
* ``s3://<bucket>/<root>/tables/`` with s3fs given the same endpoint and credentials;
* ``runs://`` again with ``ARTIFACT_FS_VERIFY=size`` (no digest check of what is read);

on cold workers (a new cluster, pandas/pyarrow/s3fs/dask already imported, so
what runs:// adds, MLflow's import and the run's resolution, is inside the clock) and
again at once on the same, warm, workers. Cases are interleaved, ``--reps`` times; medians
are printed, with the ratios runs:// / s3:// and 1 worker / 2 workers.

On every worker a probe counts, during each runs:// read: the ``runs://`` filesystem
instances built (each task unpickles its own; the first one built includes MLflow's import
when it happens), the run lookups that reached the tracking server
(``RunsFileSystem.artifact_uri`` memoizes per process), and the artifact roots opened
(``TrackedArtifacts._open_target``: ``resolve()`` + the store's filesystem, per instance),
with the time spent in each. Results are printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import statistics
import sys
import tempfile
import time
import uuid

REPO = pathlib.Path(__file__).resolve().parent.parent


# --- run on the workers -----------------------------------------------------------------------


def _warm_imports() -> None:
    """What both contenders need anyway: imported before the clock starts."""
    import dask.dataframe  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import s3fs  # noqa: F401


def _install_probe() -> None:
    """Wrap the three steps of resolving a ``runs://`` path, counting calls and seconds.

    Imports artifact_fs's protocol modules only (not MLflow: its import stays inside the
    first ``runs://`` filesystem built, as without the probe)."""
    import artifact_fs.protocols as protocols
    import artifact_fs.tracked as tracked

    stats = {"instances": 0, "init_s": 0.0, "lookups": 0, "lookup_s": 0.0, "opened": 0, "open_s": 0.0}
    tracked._benchmark_probe = stats  # type: ignore[attr-defined]
    init, artifact_uri, open_target = (
        tracked.TrackedArtifacts.__init__,
        protocols.RunsFileSystem.artifact_uri,
        tracked.TrackedArtifacts._open_target,
    )

    def timed_init(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return init(self, *args, **kwargs)
        finally:
            spent = time.perf_counter() - started
            if not stats["instances"]:
                stats["first_init_s"] = spent  # MLflow's import, in a fresh process
            stats["instances"] += 1
            stats["init_s"] += spent

    def timed_artifact_uri(self, key):
        remembered = ("runs", self.tracking_uri, key) in protocols._IMMUTABLE_ROOTS
        started = time.perf_counter()
        try:
            return artifact_uri(self, key)
        finally:
            if not remembered:
                stats["lookups"] += 1
                stats["lookup_s"] += time.perf_counter() - started

    def timed_open_target(self, uri):
        started = time.perf_counter()
        try:
            return open_target(self, uri)
        finally:
            stats["opened"] += 1
            stats["open_s"] += time.perf_counter() - started

    tracked.TrackedArtifacts.__init__ = timed_init
    protocols.RunsFileSystem.artifact_uri = timed_artifact_uri
    tracked.TrackedArtifacts._open_target = timed_open_target


def _read_probe() -> dict:
    import artifact_fs.tracked as tracked

    return dict(getattr(tracked, "_benchmark_probe", {}))


# --- the driver -------------------------------------------------------------------------------


def _store_table(s3, prefix: str, parts: int, mib: int) -> int:
    """Write ``parts`` incompressible Parquet files of about ``mib`` MiB under ``prefix``; rows in all."""
    import numpy as np
    import pandas as pd

    rows = mib * 2**20 // 8
    for number in range(parts):
        frame = pd.DataFrame({"x": np.random.default_rng(number).random(rows)})
        frame.to_parquet(f"{prefix}/part-{number:03d}.parquet", storage_options=s3.storage_options())
    return rows * parts


def _cluster(workers: int, env: dict):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        host="127.0.0.1",
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        env=env,
    )
    client = Client(cluster)
    client.wait_for_workers(workers, timeout=120)
    return cluster, client


def main() -> None:
    """Run the measurements and print medians, ratios and the per-worker resolution counts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", type=int, default=32)
    parser.add_argument("--mib", type=int, default=16)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()

    import dask.dataframe as dd
    from mlflow import MlflowClient

    sys.path.insert(0, str(REPO))
    from tests.servers.mlflow import mlflow_server
    from tests.servers.s3 import seaweedfs_server

    for name in list(os.environ):  # the developer's settings stay out of it
        if name.startswith(("AWS_", "MLFLOW_", "ARTIFACT_FS_", "FSSPEC_", "AZURE_", "GOOGLE_")):
            del os.environ[name]
    with contextlib.ExitStack() as stack:
        work = pathlib.Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-cluster-")))
        s3 = stack.enter_context(seaweedfs_server(work / "seaweedfs"))
        server = stack.enter_context(mlflow_server(work / "mlflow", str(work / "default-artifacts")))
        env = {
            **s3.env(),
            "MLFLOW_TRACKING_URI": server.url,
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            "NO_PROXY": "127.0.0.1,localhost",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        os.environ.update(env)
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(bucket)
        client = MlflowClient()
        run = client.create_run(client.create_experiment("cluster", artifact_location=f"s3://{bucket}/mlruns"))
        root = run.info.artifact_uri.removeprefix("s3://")
        started = time.perf_counter()
        rows = _store_table(s3, f"s3://{root}/tables", args.parts, args.mib)
        print(f"stored {args.parts} x {args.mib} MiB in {time.perf_counter() - started:.1f} s", file=sys.stderr)

        urls = {  # contender: (url, storage options, the workers' and the driver's extra variables)
            "runs://": (f"runs://{run.info.run_id}/tables/", {}, {}),
            "s3://": (f"s3://{root}/tables/", s3.storage_options(), {}),
            # runs:// without digest checks of reads: what verification costs
            "runs:// size": (f"runs://{run.info.run_id}/tables/", {}, {"ARTIFACT_FS_VERIFY": "size"}),
        }
        times: dict[tuple, list[float]] = {}
        probes: list[dict] = []
        for rep in range(args.reps):
            for workers in (2, 1):
                for contender, (url, options, extra) in urls.items():
                    # a new cluster for each pair of reads: cold workers (a restart of a
                    # LocalCluster's workers sometimes never returned here)
                    os.environ.update(extra)
                    cluster, dask_client = _cluster(workers, {**env, **extra})
                    try:
                        dask_client.run(_warm_imports)
                        dask_client.run(_install_probe)
                        for state in ("cold", "warm"):
                            began = time.perf_counter()
                            table = dd.read_parquet(url, storage_options=options)  # the driver lists, reads a footer
                            planned = time.perf_counter()
                            counted = table.map_partitions(len).compute()
                            elapsed = time.perf_counter() - began
                            assert int(counted.sum()) == rows, (contender, int(counted.sum()), rows)
                            times.setdefault((workers, contender, state), []).append(elapsed)
                            times.setdefault((workers, contender, state, "driver"), []).append(planned - began)
                            print(
                                f"rep {rep} {workers} worker(s) {contender:12} {state}: {elapsed:.2f} s "
                                f"(driver {planned - began:.2f} s)",
                                file=sys.stderr,
                            )
                            if contender == "runs://" and workers == 2:
                                probes.append({"rep": rep, "state": state, "workers": dask_client.run(_read_probe)})
                    finally:
                        dask_client.close()
                        cluster.close()
                        for name in extra:
                            del os.environ[name]

        _print(args, times, probes)


def _print(args, times: dict, probes: list[dict]) -> None:
    med = {key: statistics.median(values) for key, values in times.items()}
    mib = args.parts * args.mib
    print(f"\n{args.parts} Parquet parts x {args.mib} MiB ({mib} MiB) on SeaweedFS, medians of {args.reps}\n")
    print(
        "| workers | workers' state | runs:// | s3:// | runs:// / s3:// | runs:// with ARTIFACT_FS_VERIFY=size "
        "| that / s3:// | of which the driver (runs:// / s3://) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for workers in (1, 2):
        for state in ("cold", "warm"):
            runs, plain, size = (med[(workers, c, state)] for c in ("runs://", "s3://", "runs:// size"))
            driver = (med[(workers, c, state, "driver")] for c in ("runs://", "s3://"))
            print(
                f"| {workers} | {state} | {runs:.2f} s | {plain:.2f} s | {runs / plain:.2f} | {size:.2f} s "
                f"| {size / plain:.2f} | {' / '.join(f'{d:.2f} s' for d in driver)} |"
            )
    print("\n| contender | workers' state | 1 worker | 2 workers | speed-up |")
    print("|---|---|---|---|---|")
    for contender in ("runs://", "s3://", "runs:// size"):
        for state in ("cold", "warm"):
            one, two = med[(1, contender, state)], med[(2, contender, state)]
            print(f"| {contender} | {state} | {one:.2f} s | {two:.2f} s | {one / two:.2f}x |")
    print("\nruns:// on 2 workers, per worker, counted from the worker's start (cold, then cold + warm):\n")
    print(
        "| rep | after | worker | runs:// filesystems built | first one built (s) | all built (s) "
        "| run lookups | lookup time (s) | roots opened | opening time (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for probe in probes:
        for address, stats in sorted(probe["workers"].items()):
            print(
                f"| {probe['rep']} | {probe['state']} | {address.rsplit(':', 1)[1]} | {stats['instances']} | "
                f"{stats.get('first_init_s', float('nan')):.2f} | {stats['init_s']:.2f} | {stats['lookups']} | "
                f"{stats['lookup_s']:.3f} | {stats['opened']} | {stats['open_s']:.3f} |"
            )


if __name__ == "__main__":
    main()
