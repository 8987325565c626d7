"""Run the benchmark: ``python -m benchmarks.run [--backends local,s3] [--reps 5] [--scale small|full] [--out DIR]``.

For each backend it prepares one store (a temp directory, or a bucket on a SeaweedFS
server it starts and always kills), uploads the download inputs once with the raw
client, then for each workload runs the contenders interleaved (A B C A B C ...), each
measurement in a fresh ``python -m benchmarks.worker`` process. Prints a Markdown table
and writes ``<out>/results.json`` and ``<out>/results.md``. It never asserts timings.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from importlib import metadata

from . import datasets, report
from .config import BACKENDS, BUCKET_PREFIX, CONTENDERS, RAW_NOT_APPLICABLE, SCALES, WORKLOADS
from .store import Store, seed_inputs
from .worker import MARKER

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
WORKER_TIMEOUT = 3600
#: Variables that would steer a worker's clients; removed so only the harness's settings apply.
SCRUBBED_PREFIXES = ("AWS_", "FSSPEC_", "MLFLOW_", "ARTIFACT_FS_")


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring and benchmarks/README.md)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", type=_csv, default=list(BACKENDS), help="comma-separated: local,s3")
    parser.add_argument("--reps", type=int, default=5, help="repetitions per contender (>= 5 for real figures)")
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--out", default="benchmarks/results", help="directory for results.json / results.md")
    parser.add_argument("--workloads", type=_csv, default=list(WORKLOADS), help="subset, e.g. W1,W3")
    parser.add_argument("--contenders", type=_csv, default=list(CONTENDERS), help="subset of artifact_fs,mlflow,raw")
    parser.add_argument("--s3-server", choices=("seaweedfs", "moto"), default="seaweedfs")
    parser.add_argument("--keep-temp", action="store_true", help="keep the temp dir (data, store, server logs)")
    args = parser.parse_args(argv)
    for name, chosen, allowed in (("backend", args.backends, BACKENDS), ("workload", args.workloads, WORKLOADS),
                                  ("contender", args.contenders, CONTENDERS)):  # fmt: skip
        unknown = set(chosen) - set(allowed)
        if unknown:
            parser.error(f"unknown {name}(s): {', '.join(sorted(unknown))}; choose from {', '.join(allowed)}")
    if args.reps < 1:
        parser.error("--reps must be >= 1")
    return args


def worker_env(backend_env: dict[str, str], contender: str, scratch_root: str) -> dict[str, str]:
    """A scrubbed environment for one worker: the backend's variables, no proxy, and for
    contender ``mlflow`` the escape hatch ``ARTIFACT_FS_BUILTIN_SCHEMES=*``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
    env.update(backend_env)
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(scratch_root, "no-aws-config")
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if contender == "mlflow":
        env["ARTIFACT_FS_BUILTIN_SCHEMES"] = "*"
    return env


def run_worker(spec: dict, env: dict[str, str]) -> dict:
    """Run one measurement subprocess; a failure becomes a record with an ``error`` field."""
    base = {k: spec[k] for k in ("backend", "contender", "workload", "rep")}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.worker", json.dumps(spec)], cwd=REPO_ROOT, env=env,
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=WORKER_TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {**base, "error": f"timed out after {WORKER_TIMEOUT} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARKER)]
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        return {**base, "error": f"exit code {proc.returncode}: {tail}"}
    return json.loads(lines[-1][len(MARKER):])


@contextlib.contextmanager
def open_store(backend: str, tmp: pathlib.Path, server_name: str):
    """Yield ``(Store, env)`` for ``backend``; an S3 server started here is killed on exit."""
    if backend == "local":
        root = tmp / "local-store"
        root.mkdir()
        yield Store("local", str(root)), {}
        return
    sys.path.insert(0, str(REPO_ROOT))
    from tests import servers

    start = servers.seaweedfs_server if server_name == "seaweedfs" else servers.moto_server
    with start(tmp / server_name) as server:
        bucket = f"{BUCKET_PREFIX}-{uuid.uuid4().hex[:10]}"  # unique even on a reused server
        server.create_bucket(bucket)
        yield Store("s3", f"s3://{bucket}"), server.env()


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=10)  # fmt: skip
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def metadata_block(args: argparse.Namespace) -> dict:
    """What was run, where, and with which versions."""
    versions = ", ".join(f"{d} {_version(d)}" for d in ("mlflow-skinny", "fsspec", "s3fs", "boto3"))
    return {
        "scale": args.scale, "reps": args.reps, "sizes": SCALES[args.scale].as_dict(),
        "backends": args.backends, "workloads": args.workloads, "contenders": args.contenders,
        "s3_server": args.s3_server, "commit": _git_commit(), "versions": versions,
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }  # fmt: skip


def run_backend(args, backend: str, tmp: pathlib.Path, data: dict[str, str]) -> list[dict]:
    """All measurements of one backend, contenders interleaved within each repetition."""
    records = []
    with open_store(backend, tmp, args.s3_server) as (store, backend_env):
        seed_inputs(store, data, env=backend_env or None)
        for workload in args.workloads:
            contenders = [c for c in args.contenders if not (c == "raw" and workload in RAW_NOT_APPLICABLE)]
            for rep in range(args.reps):
                for contender in contenders:
                    tag = f"{contender}-{workload}-rep{rep}"
                    spec = {
                        "backend": backend, "contender": contender, "workload": workload, "rep": rep,
                        "scale": args.scale, "base": store.base, "data": data,
                        "scratch": str(tmp / "scratch" / f"{backend}-{tag}"), "out": f"{contender}/{workload}/rep{rep}",
                    }  # fmt: skip
                    record = run_worker(spec, worker_env(backend_env, contender, str(tmp)))
                    records.append(record)
                    shown = record.get("error", "").splitlines()[-1:] or [
                        f"{record['wall_s']:.3f} s wall, {record['cpu_s']:.3f} s CPU, {record['peak_rss_mib']:.0f} MiB"
                    ]
                    print(f"[{backend} {workload} rep {rep + 1}/{args.reps}] {contender:<11} {shown[0]}",
                          file=sys.stderr, flush=True)  # fmt: skip
    return records


def main(argv: list[str] | None = None) -> int:
    """Run everything, print the Markdown table, write results.json and results.md."""
    args = parse_args(argv)
    meta = metadata_block(args)
    started = time.monotonic()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="artifact-fs-bench-"))
    measurements: list[dict] = []
    try:
        print(f"generating {args.scale} data sets in {tmp} ...", file=sys.stderr, flush=True)
        data = datasets.generate(str(tmp / "data"), SCALES[args.scale])
        for backend in args.backends:
            measurements += run_backend(args, backend, tmp, data)
    finally:
        if args.keep_temp:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    meta["duration_s"] = round(time.monotonic() - started, 1)
    summary = report.summarize(measurements)
    ratio_rows = report.ratios(summary)
    text = report.markdown(summary, ratio_rows, meta)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, "summary": summary, "ratios": ratio_rows, "measurements": measurements}
    (out / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
    (out / "results.md").write_text(text)
    print(text)
    failed = sum(1 for r in measurements if "error" in r)
    if failed:
        print(f"{failed} measurement(s) failed; see 'error' in {out / 'results.json'}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
