"""Server lifetime: resident memory of a real ``mlflow server`` proxying to SeaweedFS over a long run.

Starts SeaweedFS and ``mlflow server --artifacts-destination s3://...`` (one uvicorn worker,
through ``tests/servers/s3.py`` and ``tests/servers/mlflow.py``), then sends N requests from
``--threads`` client threads, a mix of what proxied clients do: streamed PUT uploads
(4 KiB), listings, proxied downloads, presigned-download URLs, multipart create + abort
and ``/server-info``. It samples the server's RSS (all processes of its session) every 500 requests and prints
the series and a summary. A harness, not a test: nothing is asserted.

    .venv/bin/python -m benchmarks.server_rss                 # 10,000 requests, 8 threads
    .venv/bin/python -m benchmarks.server_rss --requests 2000 --threads 16
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pathlib
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers.mlflow import mlflow_server  # noqa: E402
from tests.servers.s3 import seaweedfs_server  # noqa: E402

SCRUB_PREFIXES = ("AWS_", "MLFLOW_", "FSSPEC_", "ARTIFACT_FS_", "AZURE_", "GOOGLE_")


def _operations(base: str, session: requests.Session, counter):
    """One request per call, cycling through the kinds a proxied server sees."""
    api = f"{base}/api/2.0/mlflow-artifacts"
    body = os.urandom(4096)

    def run(number: int):
        """``(kind, status, body start)`` of one request."""
        kind = number % 6
        response = _request(number, kind)
        return kind, response.status_code, response.text[:300] if response.status_code >= 400 else ""

    def _request(number: int, kind: int) -> requests.Response:
        folder = f"0/run{number % 50}/artifacts"
        name = f"f{number % 400}.bin"
        if kind == 0:
            return session.put(f"{api}/artifacts/{folder}/{name}", data=body)
        if kind == 1:
            return session.get(f"{api}/artifacts", params={"path": folder})
        if kind == 2:
            return session.get(f"{api}/artifacts/0/pinned.bin")
        if kind == 3:
            return session.get(f"{api}/presigned/0/pinned.bin")
        if kind == 4:
            started = session.post(f"{api}/mpu/create/{folder}", json={"path": f"/c/{name}", "num_parts": 2})
            upload_id = started.json().get("upload_id", "")
            return session.post(f"{api}/mpu/abort/{folder}", json={"path": f"/c/{name}", "upload_id": upload_id})
        return session.get(f"{base}/api/3.0/mlflow/server-info")

    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--sample-every", type=int, default=500)
    args = parser.parse_args(argv)
    for name in [n for n in os.environ if n.startswith(SCRUB_PREFIXES)]:
        del os.environ[name]
    with tempfile.TemporaryDirectory(prefix="af-rss-") as tmp:
        tmp_path = pathlib.Path(tmp)
        with seaweedfs_server(tmp_path / "seaweedfs") as s3:
            s3.create_bucket("rss-bench")
            env = {**s3.env(), "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
            with mlflow_server(tmp_path / "mlflow", "s3://rss-bench/mlartifacts", env) as server:
                local = threading.local()

                def session() -> requests.Session:
                    if not hasattr(local, "session"):
                        local.session = requests.Session()
                        local.session.trust_env = False
                    return local.session

                # warm up: the first requests import the backend and build the client
                # downloads read an object nobody overwrites (a download racing an overwrite of
                # the same key is a different question)
                session().put(f"{server.url}/api/2.0/mlflow-artifacts/artifacts/0/pinned.bin", data=os.urandom(4096))
                warm = _operations(server.url, session(), None)
                for number in range(60):
                    warm(number)
                samples = [(0, server.rss_bytes())]
                failures, started = [], time.monotonic()
                numbers = itertools.count(60)
                done = 0
                with ThreadPoolExecutor(args.threads) as pool:
                    while done < args.requests:
                        batch = min(args.sample_every, args.requests - done)
                        outcomes = pool.map(
                            lambda n: _operations(server.url, session(), None)(n), [next(numbers) for _ in range(batch)]
                        )
                        failures += [outcome for outcome in outcomes if outcome[1] >= 400]
                        done += batch
                        samples.append((done, server.rss_bytes()))
                elapsed = time.monotonic() - started
    mib = [round(rss / 2**20, 1) for _, rss in samples]
    summary = {
        "requests": args.requests, "threads": args.threads, "failures": len(failures), "failed": failures[:10],
        "seconds": round(elapsed, 1),
        "rss_mib_after_warmup": mib[0], "rss_mib_peak": max(mib), "rss_mib_end": mib[-1],
        "rss_mib_growth_second_half": round(mib[-1] - mib[len(mib) // 2], 1),
        "series": {str(n): value for (n, _), value in zip(samples, mib)},
    }  # fmt: skip
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
