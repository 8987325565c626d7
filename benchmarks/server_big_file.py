"""The tracking server's memory during one big proxied upload and download.

Starts SeaweedFS and one ``mlflow server --artifacts-destination s3://…`` (artifact_fs on the
server, ``--server app`` with its app too, or MLflow's own S3 repository with ``--server
stock``), warms it, then PUTs one file of ``--mib`` MiB through the proxied API (streamed
from disk with a Content-Length, as MLflow's client sends it) and GETs it back, sampling
the RSS of the server's whole process tree every 50 ms. Prints the time, the peak growth
over the RSS before each transfer and the server's CPU time, beside artifact_fs moving the
same file straight to the bucket (its time and CPU, in a process of its own).

    python -m benchmarks.server_big_file [--mib 1024] [--server artifact_fs|app|stock] [--engine obstore]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import tempfile
import threading
import time
import uuid

REPO = pathlib.Path(__file__).resolve().parent.parent


DIRECT_CODE = """
import json, resource, sys, tempfile, time
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
uri, src = sys.argv[1], sys.argv[2]
repo = get_artifact_repository(uri)
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
figures = {}
moves = {
    "upload": lambda: repo.log_artifact(src),
    "download": lambda: repo.download_artifacts("big.bin", tempfile.mkdtemp()),
}
for name, move in moves.items():
    started, used = time.perf_counter(), cpu()
    move()
    figures[name] = (time.perf_counter() - started, cpu() - used)
print(json.dumps(figures))
"""


def _direct(uri: str, big: pathlib.Path, env: dict) -> dict:
    """``{"upload"/"download": (seconds, CPU seconds)}`` of artifact_fs moving ``big`` straight
    to ``uri`` and back, in a process of its own."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", DIRECT_CODE, uri, str(big)], env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _peak_growth(server, transfer) -> tuple[float, int, float]:
    """``(seconds, peak RSS growth in bytes, CPU seconds)`` of ``transfer()`` on ``server``'s process tree."""
    before, cpu = server.rss_bytes(), server.cpu_seconds()
    peak, done = [before], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], server.rss_bytes())
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    try:
        transfer()
    finally:
        done.set()
        sampler.join()
    return time.perf_counter() - started, peak[0] - before, server.cpu_seconds() - cpu


def main() -> None:
    """Start the servers, move the file both ways, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--server", choices=["artifact_fs", "app", "stock"], default="artifact_fs")
    parser.add_argument("--engine", choices=["fsspec", "obstore"], default="", help="the server's ARTIFACT_FS_ENGINE")
    args = parser.parse_args()
    import requests

    from benchmarks.proxied import proxying_server

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        work = pathlib.Path(tmp)
        store, bucket, server, _s3 = proxying_server(stack, work, args.server, engine=args.engine)
        big = work / "big.bin"
        with open(big, "wb") as out:
            for _ in range(args.mib):
                out.write(os.urandom(2**20))
        url = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/big/{uuid.uuid4().hex}"
        requests.put(f"{url}/warm", data=b"w" * 4096).raise_for_status()
        requests.get(f"{url}/warm").raise_for_status()

        def upload() -> None:
            with open(big, "rb") as body:
                requests.put(f"{url}/big.bin", data=body).raise_for_status()

        def download() -> None:
            with requests.get(f"{url}/big.bin", stream=True) as answer:
                answer.raise_for_status()
                for _ in answer.iter_content(2**20):
                    pass

        start = server.rss_bytes() / 2**20
        print(f"server: {args.server} {args.engine}; {args.mib} MiB; server tree RSS at start {start:.0f} MiB")
        env = {**os.environ, **store, **({"ARTIFACT_FS_ENGINE": args.engine} if args.engine else {})}
        direct = _direct(f"s3://{bucket}/direct/{uuid.uuid4().hex}", big, env)
        for name, transfer in (("upload", upload), ("download", download)):
            seconds, growth, cpu = _peak_growth(server, transfer)
            alone, alone_cpu = direct[name]
            print(
                f"{name:9} {seconds:7.2f} s   peak RSS growth {growth / 2**20:6.0f} MiB   server CPU {cpu:6.2f} s"
                f"   (artifact_fs direct: {alone:6.2f} s, CPU {alone_cpu:6.2f} s)"
            )


if __name__ == "__main__":
    main()
