"""Proxied mode, client side: both clients against both servers, and going direct.

Starts SeaweedFS and two real ``mlflow server --artifacts-destination s3://…`` on it, each
warmed by one request: ``stock`` (MLflow's own server with its S3 repository) and ``app``
(artifact_fs's repository and app, ``--app-name artifact-fs``: the batch endpoints). Then
times, interleaved and each in a fresh process (a new repository, as a user's script has):
uploading and downloading a directory of small files, and one big file, and listing a
directory of ``--list-entries`` files (written once, straight to each bucket), with

* ``mlflow``: MLflow's client (``ARTIFACT_FS_BUILTIN_SCHEMES=mlflow-artifacts``),
* ``artifact_fs``: artifact_fs's client for ``mlflow-artifacts:``,
* ``direct``: artifact_fs straight to the bucket (no tracking server on the path).

Every input is new (a new run per repetition). Prints medians and ratios.

    python -m benchmarks.proxied [--files 500] [--big-mib 256] [--repeat 3] [--multipart]
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
elif op == "list_dir":
    assert len(repo.list_artifacts("d")) == int(src)
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


def proxying_server(stack: contextlib.ExitStack, work: pathlib.Path, kind: str, s3=None, engine: str = ""):
    """One ``mlflow server`` proxying to a new bucket on SeaweedFS (started unless ``s3`` is
    given): ``kind`` ``stock`` is MLflow's own server and S3 repository, ``artifact_fs``
    artifact_fs's repository on MLflow's app, ``app`` artifact_fs's repository and app
    (``--app-name artifact-fs``, the batch endpoints). ``(the store's settings, the bucket,
    the server, the SeaweedFS server)``, stopped when ``stack`` closes. ``engine`` is artifact_fs's
    ``ARTIFACT_FS_ENGINE`` on the server (empty: the default)."""
    sys.path.insert(0, str(REPO))
    from tests.servers.mlflow import mlflow_server
    from tests.servers.s3 import seaweedfs_server

    if s3 is None:
        s3 = stack.enter_context(seaweedfs_server(work / "seaweedfs"))
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(bucket)
    store = {**s3.env(), "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    env = {**store, **({"ARTIFACT_FS_BUILTIN_SCHEMES": "*"} if kind == "stock" else {})}
    if engine and kind != "stock":
        env["ARTIFACT_FS_ENGINE"] = engine
    app = "artifact-fs" if kind == "app" else None
    destination = f"s3://{bucket}/mlartifacts"
    server = stack.enter_context(mlflow_server(work / f"mlflow-{kind}", destination, env, app_name=app))
    return store, bucket, server, s3


#: (client, server) pairs timed, and the column each fills
CONTENDERS = (
    ("mlflow", "stock"), ("mlflow", "app"), ("artifact_fs", "stock"), ("artifact_fs", "app"), ("direct", "app"),
)  # fmt: skip
OPS = ("upload_dir", "download_dir", "upload_file", "download_file", "list_dir")


def main() -> None:
    """Start the servers, run the interleaved repetitions, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--big-mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--list-entries", type=int, default=5000, help="entries of the listed directory")
    parser.add_argument("--ops", default=",".join(OPS), help=f"which of {', '.join(OPS)} (comma-separated)")
    parser.add_argument(
        "--engine", choices=["fsspec", "obstore"], default="", help="ARTIFACT_FS_ENGINE of the app server and direct"
    )
    parser.add_argument(
        "--multipart", action="store_true", help="MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD/DOWNLOAD on, for both clients"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        work = pathlib.Path(tmp)
        servers = {}
        store, bucket, servers["stock"], s3 = proxying_server(stack, work, "stock")
        _, app_bucket, servers["app"], _ = proxying_server(stack, work, "app", s3, args.engine)
        buckets = {"stock": bucket, "app": app_bucket}
        small = work / "small"
        small.mkdir()
        for i in range(args.files):
            (small / f"f{i:05d}.bin").write_bytes(os.urandom(4096))
        big = work / "big.bin"
        with open(big, "wb") as out:
            for _ in range(args.big_mib):
                out.write(os.urandom(2**20))
        base = {**os.environ, **store, "NO_PROXY": "127.0.0.1,localhost"}
        base.pop("ARTIFACT_FS_BUILTIN_SCHEMES", None)
        if args.multipart:  # MLflow's defaults otherwise: 500 MiB minimum, 10 MiB parts, 100 MiB ranges
            base.update(
                MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD="true", MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD="true",
                MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE=str(64 * 2**20),
                MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE=str(16 * 2**20),
                MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE=str(16 * 2**20),
            )  # fmt: skip
        ops = [op for op in OPS if op in args.ops.split(",")]
        listing = work / "listing"  # written once per bucket, straight to the store
        listing.mkdir()
        for i in range(args.list_entries if "list_dir" in ops else 0):
            (listing / f"e{i:05d}.txt").write_bytes(b"%d" % i)
        for kind in buckets if "list_dir" in ops else ():
            _time(f"s3://{buckets[kind]}/mlartifacts/listing", "upload_dir", str(listing), base)
        mlflow_client = {"ARTIFACT_FS_BUILTIN_SCHEMES": "mlflow-artifacts,http,https"}
        clients = {"mlflow": mlflow_client, "artifact_fs": {}, "direct": {}}
        for server in servers.values():
            env = {**base, "MLFLOW_TRACKING_URI": server.url}
            _time(f"mlflow-artifacts:/warmup/{uuid.uuid4().hex}", "upload_file", str(small / "f00000.bin"), env)
        times: dict[tuple[str, str, str], list[float]] = {}
        for _ in range(args.repeat):
            for client, kind in CONTENDERS:
                env = {**base, **clients[client], "MLFLOW_TRACKING_URI": servers[kind].url}
                if client == "direct" and args.engine:
                    env["ARTIFACT_FS_ENGINE"] = args.engine
                run = uuid.uuid4().hex
                direct = f"s3://{buckets[kind]}/mlartifacts/bench/{run}"
                uri = direct if client == "direct" else f"mlflow-artifacts:/bench/{run}"
                downloads = work / f"down-{run}"
                downloads.mkdir()
                for op in ops:
                    src = small if op == "upload_dir" else big if op == "upload_file" else downloads
                    if op == "list_dir":
                        src, uri = args.list_entries, uri.replace(f"bench/{run}", "listing")
                    times.setdefault((client, kind, op), []).append(_time(uri, op, str(src), env))
        _print(times, args)


def _print(times: dict, args) -> None:
    multipart = "on" if args.multipart else "off"
    shape = f"{args.files} x 4 KiB, {args.big_mib} MiB; medians of {args.repeat} (seconds)"
    print(f"engine {args.engine or 'default'}; multipart {multipart}; {shape}")
    heads = [f"{c}/{k}" for c, k in CONTENDERS[:-1]] + ["direct"]
    ratios = f" {'mlflow/stock ÷ afs/app':>23} {'afs/app ÷ direct':>17}"
    print(f"{'workload':15} " + " ".join(f"{h:>19}" for h in heads) + ratios)
    for op in [op for op in OPS if (CONTENDERS[0][0], CONTENDERS[0][1], op) in times]:
        medians = [statistics.median(times[(c, k, op)]) for c, k in CONTENDERS]
        gain, cost = medians[0] / medians[3], medians[3] / medians[4]
        print(f"{op:15} " + " ".join(f"{m:19.2f}" for m in medians) + f" {gain:23.2f} {cost:17.2f}")


if __name__ == "__main__":
    main()
