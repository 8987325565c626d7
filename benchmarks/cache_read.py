"""The verified read cache's speed-up on a second read: 64 MiB through ``runs://`` on SeaweedFS.

    .venv/bin/python -m benchmarks.cache_read [--mib 64] [--repeat 3]

Starts a SeaweedFS S3 gateway (tests/servers/s3.py) and a sqlite tracking store in a temp
directory, stores one random object in a run's artifact root, then times full reads of it
through ``runs://`` without the cache, on a cache miss and on cache hits (each read is
verified byte for byte). Results are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import tempfile
import time
import uuid


def main() -> None:
    """Run the measurement and print one line per case (median of ``--repeat`` reads)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from mlflow import MlflowClient

    from artifact_fs.protocols import RunsFileSystem
    from tests.servers.s3 import seaweedfs_server

    with tempfile.TemporaryDirectory() as work, seaweedfs_server(pathlib.Path(work) / "seaweedfs") as s3:
        os.environ.update(s3.env())
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work}/mlflow.db"
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(bucket)
        client = MlflowClient()
        run_id = client.create_run(client.create_experiment("cache", artifact_location=f"s3://{bucket}/r")).info.run_id
        data = os.urandom(args.mib * 1024 * 1024)
        RunsFileSystem().pipe_file(f"{run_id}/big.bin", data)
        plain, cached = RunsFileSystem(), RunsFileSystem(cache_dir=f"{work}/cache")

        def read(fs) -> float:
            started = time.perf_counter()
            with fs.open(f"{run_id}/big.bin") as f:
                assert f.read() == data
            return time.perf_counter() - started

        uncached = statistics.median(read(plain) for _ in range(args.repeat))
        miss = read(cached)
        hit = statistics.median(read(cached) for _ in range(args.repeat))
        print(f"{args.mib} MiB via runs:// on SeaweedFS (127.0.0.1)")
        print(f"  no cache     {uncached:6.2f} s (median of {args.repeat})")
        print(f"  cache miss   {miss:6.2f} s (first read: fetch into the cache, then read the entry)")
        print(f"  cache hit    {hit:6.2f} s (median of {args.repeat}; info() + local read)")
        print(f"  speed-up of a second read over no cache: {uncached / hit:.1f}x   {cached.cache}")


if __name__ == "__main__":
    main()
