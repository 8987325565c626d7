"""The Ray half of ``tests/test_cluster_ray.py``, run by it inside a private network namespace.

``python -m tests.cluster_ray_child '<json>'`` under ``unshare --net``: brings the namespace's
loopback up, relays ``127.0.0.1:<port>`` of each test server to the Unix socket file the test
relays on to the real server (:mod:`tests.servers.relay`), starts Ray (2 CPUs: 2 worker
processes), and through ``fs, path = artifact_fs.filesystem("runs:/<run_id>/tables")``:

* reads the run's table with ``ray.data.read_parquet(path, filesystem=fs)``, noting the
  process that read each block;
* writes it back in one block per part with ``ds.write_parquet("<run_id>/ray-out",
  filesystem=fs)``, each block tagged with the process that writes it (the test reads them).

It prints one line ``RESULT <json>`` (what it found: the test asserts) and exits 0; any
failure is a traceback on stderr and exit code 1. Ray's servers bind every interface of
the namespace, which has nothing but its loopback.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import struct
import sys
import tempfile
import time

import numpy as np
import pandas as pd

#: Ray without its telemetry, dashboard, progress bars and log forwarding
RAY_QUIET = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
    "RAY_DATA_DISABLE_PROGRESS_BARS": "1",
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
    "RAY_DEDUP_LOGS": "0",
    "RAY_LOG_TO_DRIVER": "0",
}
PARTS = 4
ROWS = 50


def part(number: int, rows: int = ROWS) -> pd.DataFrame:
    """One part of the table the test writes (and this child expects): ids unique across parts."""
    ids = np.arange(number * rows, (number + 1) * rows, dtype="int64")
    return pd.DataFrame({"id": ids, "name": [f"n{i}" for i in ids], "part": np.full(rows, number, dtype="int64")})


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in id order, the columns of :func:`part` with its dtypes (Ray's blocks carry
    Arrow's string type and may add none of pandas's index)."""
    expected = part(0)
    frame = frame[list(expected.columns)].astype(expected.dtypes.to_dict())
    return frame.sort_values("id").reset_index(drop=True)


def loopback_up() -> None:
    """``ip link set lo up``, by ioctl (SIOCGIFFLAGS / SIOCSIFFLAGS): a new namespace's is down."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(sock, siocgifflags, request))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH", b"lo", flags | iff_up))


def mark_pid(batch: pd.DataFrame) -> pd.DataFrame:
    """Tag a block with the process that handles it (held a moment, so both workers take blocks)."""
    time.sleep(0.3)
    return batch.assign(pid=os.getpid())


def main(spec: dict) -> dict:
    """Run the reads and writes of ``spec`` (run_id, ports → socket files, env); what was found."""
    from .servers.relay import tcp_to_unix

    loopback_up()
    os.environ.update({**spec["env"], **RAY_QUIET})
    run_id, found = spec["run_id"], {"driver_pid": os.getpid()}
    ray_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, ray_dir, ignore_errors=True)
        for port, path in spec["relays"].items():
            stack.enter_context(tcp_to_unix(int(port), path))
        import ray
        import ray.data

        import artifact_fs

        started = time.monotonic()
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            object_store_memory=128 * 2**20,
            _node_ip_address="127.0.0.1",
            _temp_dir=ray_dir,
        )
        stack.callback(ray.shutdown)
        found["ray_init_seconds"] = round(time.monotonic() - started, 1)
        ray.data.DataContext.get_current().enable_progress_bars = False

        fs, path = artifact_fs.filesystem(f"runs:/{run_id}/tables")
        found["path"] = path
        # the read as users write it (Ray Data's default Parquet reader), materialised once
        table = ray.data.read_parquet(path, filesystem=fs).map_batches(mark_pid, batch_format="pandas").materialize()
        read = table.to_pandas()
        found["read_equal"] = normalised(read).equals(normalised(pd.concat([part(n) for n in range(PARTS)])))
        found["reader_pids"] = sorted({int(pid) for pid in read["pid"]})
        found["read_seconds"] = round(time.monotonic() - started, 1)

        # the write: one block per part, each tagged with the process that writes it
        out = f"{run_id}/ray-out"
        tagged = table.drop_columns(["pid"]).repartition(PARTS).map_batches(mark_pid, batch_format="pandas")
        tagged.write_parquet(out, filesystem=fs)
        found["written"] = sorted(name.rsplit("/", 1)[1] for name in fs.find(out))
        found["write_seconds"] = round(time.monotonic() - started, 1)
    return found


if __name__ == "__main__":
    began = time.monotonic()
    result = main(json.loads(sys.argv[1]))
    result["seconds"] = round(time.monotonic() - began, 1)
    print("RESULT " + json.dumps(result), flush=True)
