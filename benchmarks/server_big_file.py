"""The tracking server's memory during one big proxied upload and download.

Starts SeaweedFS and one ``mlflow server --artifacts-destination s3://…`` (artifact_fs on the
server, ``--server app`` with its app too, or MLflow's own S3 repository with ``--server
stock``), warms it, then PUTs one file of ``--mib`` MiB through the proxied API (streamed
from disk with a Content-Length, as MLflow's client sends it) and GETs it back, sampling
the RSS of the server's whole process tree every 50 ms. Prints the time and the peak growth
over the RSS before each transfer.

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


def _peak_growth(server, transfer) -> tuple[float, int]:
    """``(seconds, peak RSS growth in bytes)`` of ``transfer()`` on ``server``'s process tree."""
    before = server.rss_bytes()
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
    return time.perf_counter() - started, peak[0] - before


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
        _store, _bucket, server, _s3 = proxying_server(stack, work, args.server, engine=args.engine)
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
        for name, transfer in (("upload", upload), ("download", download)):
            seconds, growth = _peak_growth(server, transfer)
            print(f"{name:9} {seconds:7.2f} s   peak RSS growth {growth / 2**20:6.0f} MiB")


if __name__ == "__main__":
    main()
