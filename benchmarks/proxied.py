"""Proxied mode, client side: MLflow's client against artifact_fs's ``mlflow-artifacts`` row.

Starts SeaweedFS and one real ``mlflow server --artifacts-destination s3://…`` (MLflow's own
S3 repository on the server, or artifact_fs with ``--server artifact_fs``), warms it with one
request, then times, interleaved and each in a fresh process (a new repository, as a user's
script has): uploading and downloading a directory of small files, and one big file, with

* ``mlflow``: MLflow's client (``ARTIFACT_FS_BUILTIN_SCHEMES=mlflow-artifacts``),
* ``artifact_fs``: artifact_fs's client for ``mlflow-artifacts:``,
* ``direct``: artifact_fs straight to the bucket (no tracking server on the path).

Every input is new (a new run per repetition). Prints medians and ratios.

    python -m benchmarks.proxied [--files 500] [--big-mib 256] [--repeat 3] [--server stock] [--multipart]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import uuid

REPO = pathlib.Path(__file__).resolve().parent.parent

CLIENT_CODE = """
import json, os, sys, time, tempfile
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
uri, op, src = sys.argv[1], sys.argv[2], sys.argv[3]
started = time.perf_counter()
repo = get_artifact_repository(uri)
if op == "upload_dir":
    repo.log_artifacts(src, "d")
elif op == "upload_file":
    repo.log_artifact(src, "b")
elif op == "download_dir":
    repo.download_artifacts("d", tempfile.mkdtemp(dir=src))
else:
    repo.download_artifacts("b", tempfile.mkdtemp(dir=src))
print(json.dumps({"seconds": time.perf_counter() - started, "repo": type(repo).__name__}))
"""


def _time(uri: str, op: str, src: str, env: dict[str, str]) -> float:
    done = subprocess.run(
        [sys.executable, "-c", CLIENT_CODE, uri, op, src], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"{op} on {uri} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]


def proxying_server(stack: contextlib.ExitStack, work: pathlib.Path, kind: str):
    """SeaweedFS and one ``mlflow server`` proxying to a new bucket on it, with artifact_fs on
    the server or, for ``kind == "stock"``, MLflow's own S3 repository:
    ``(the store's settings, the bucket, the server)``, stopped when ``stack`` closes."""
    sys.path.insert(0, str(REPO))
    from tests.servers.mlflow import mlflow_server
    from tests.servers.s3 import seaweedfs_server

    s3 = stack.enter_context(seaweedfs_server(work / "seaweedfs"))
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(bucket)
    store = {**s3.env(), "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    env = {**store, **({"ARTIFACT_FS_BUILTIN_SCHEMES": "*"} if kind == "stock" else {})}
    return store, bucket, stack.enter_context(mlflow_server(work / "mlflow", f"s3://{bucket}/mlartifacts", env))


def main() -> None:
    """Start the servers, run the interleaved repetitions, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--big-mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--server", choices=["stock", "artifact_fs"], default="stock")
    parser.add_argument(
        "--multipart", action="store_true", help="MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD/DOWNLOAD on, for both clients"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        work = pathlib.Path(tmp)
        store, bucket, server = proxying_server(stack, work, args.server)
        small = work / "small"
        small.mkdir()
        for i in range(args.files):
            (small / f"f{i:05d}.bin").write_bytes(os.urandom(4096))
        big = work / "big.bin"
        with open(big, "wb") as out:
            for _ in range(args.big_mib):
                out.write(os.urandom(2**20))
        base = {**os.environ, **store, "MLFLOW_TRACKING_URI": server.url, "NO_PROXY": "127.0.0.1,localhost"}
        base.pop("ARTIFACT_FS_BUILTIN_SCHEMES", None)
        if args.multipart:  # MLflow's defaults otherwise: 500 MiB minimum, 10 MiB parts, 100 MiB ranges
            base.update(
                MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD="true", MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD="true",
                MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE=str(64 * 2**20),
                MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE=str(16 * 2**20),
                MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE=str(16 * 2**20),
            )  # fmt: skip
        clients = {
            "mlflow": {**base, "ARTIFACT_FS_BUILTIN_SCHEMES": "mlflow-artifacts,http,https"},
            "artifact_fs": base,
            "direct": base,
        }
        _time(f"mlflow-artifacts:/warmup/{uuid.uuid4().hex}", "upload_file", str(small / "f00000.bin"), base)
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.repeat):
            for client, env in clients.items():
                run = uuid.uuid4().hex
                uri = (
                    f"s3://{bucket}/mlartifacts/bench/{run}" if client == "direct" else f"mlflow-artifacts:/bench/{run}"
                )
                downloads = work / f"down-{run}"
                downloads.mkdir()
                for op, src in (
                    ("upload_dir", small), ("download_dir", downloads),
                    ("upload_file", big), ("download_file", downloads),
                ):  # fmt: skip
                    times.setdefault((client, op), []).append(_time(uri, op, str(src), env))
        multipart = "on" if args.multipart else "off"
        shape = f"{args.files} x 4 KiB, {args.big_mib} MiB; medians of {args.repeat}"
        print(f"server: {args.server}; multipart {multipart}; {shape}")
        print(f"{'workload':15} {'mlflow':>9} {'artifact_fs':>12} {'direct':>9} {'mlflow/afs':>11} {'afs/direct':>11}")
        for op in ("upload_dir", "download_dir", "upload_file", "download_file"):
            m, a, d = (statistics.median(times[(c, op)]) for c in ("mlflow", "artifact_fs", "direct"))
            print(f"{op:15} {m:9.2f} {a:12.2f} {d:9.2f} {m / a:11.2f} {a / d:11.2f}")


if __name__ == "__main__":
    main()
