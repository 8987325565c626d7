"""Run the benchmark: ``python -m benchmarks.run [--backends local,s3,...] [--reps 5] \
[--scale small|full|emulator] [--out DIR]``.

For each backend (a row of :mod:`benchmarks.backends`) it starts the real server (the
test suite's own, always stopped afterwards), prepares one store, uploads the download
inputs once with the admin client, then for each workload runs the contenders
interleaved (A B C A B C ...), each measurement in a fresh ``python -m benchmarks.worker``
process. Prints a Markdown table and writes ``<out>/results.json`` and
``<out>/results.md``. It never asserts timings.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from importlib import metadata

from . import datasets, report
from .backends import BENCH_BACKENDS, BY_NAME
from .config import ARTIFACT_FS_ENGINES, BIG_FILE_OP, CONSTRUCTION, CONTENDERS, DEFAULT_WORKLOADS, SCALES, WORKLOADS
from .store import seed_inputs
from .worker import MARKER

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
WORKER_TIMEOUT = 3600
#: Variables that would steer a worker's clients; removed so only the harness's settings apply.
SCRUBBED_PREFIXES = ("AWS_", "FSSPEC_", "MLFLOW_", "ARTIFACT_FS_", "AZURE_", "GOOGLE_", "GCSFS_", "HADOOP_")
SCRUBBED = ("STORAGE_EMULATOR_HOST", "KRB5CCNAME", "SSH_AUTH_SOCK", "BOTO_CONFIG")
BACKENDS = tuple(row.name for row in BENCH_BACKENDS)


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring and benchmarks/README.md)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", type=_csv, default=list(BACKENDS), help=f"comma-separated: {','.join(BACKENDS)}")
    parser.add_argument("--reps", type=int, default=5, help="repetitions per contender (>= 5 for real figures)")
    parser.add_argument(
        "--w7-reps", type=int, default=1, help="repetitions of the W7 peak-RSS workloads (RSS is not noisy)"
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--out", default="benchmarks/results", help="directory for results.json / results.md")
    parser.add_argument("--workloads", type=_csv, default=list(DEFAULT_WORKLOADS), help="subset, e.g. W1,W3")
    parser.add_argument("--contenders", type=_csv, default=list(CONTENDERS), help="subset of " + ",".join(CONTENDERS))
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an artifact_fs setting for the artifact_fs workers (repeatable), e.g. ARTIFACT_FS_PARTS_IN_FLIGHT=4",
    )
    parser.add_argument(
        "--profile", metavar="DIR", help="run artifact_fs workers under py-spy; collapsed stacks in DIR"
    )
    parser.add_argument("--keep-temp", action="store_true", help="keep the temp dir (data, store, server logs)")
    args = parser.parse_args(argv)
    for name, chosen, allowed in (("backend", args.backends, BACKENDS), ("workload", args.workloads, WORKLOADS),
                                  ("contender", args.contenders, CONTENDERS)):  # fmt: skip
        unknown = set(chosen) - set(allowed)
        if unknown:
            parser.error(f"unknown {name}(s): {', '.join(sorted(unknown))}; choose from {', '.join(allowed)}")
    bad = [s for s in args.setting if "=" not in s or not s.startswith(("ARTIFACT_FS_", "MLFLOW_"))]
    if bad:
        parser.error(f"--setting takes ARTIFACT_FS_*/MLFLOW_* NAME=VALUE, not {bad[0]!r}")
    args.settings = dict(s.split("=", 1) for s in args.setting)
    if args.reps < 1 or args.w7_reps < 1:
        parser.error("--reps and --w7-reps must be >= 1")
    return args


def worker_env(
    backend_env: dict[str, str], contender: str, scratch_root: str, settings: dict | None = None
) -> dict[str, str]:
    """A scrubbed environment for one worker: the backend's variables, no proxy, for
    contender ``mlflow`` the escape hatch ``ARTIFACT_FS_BUILTIN_SCHEMES=*``, and for
    contender ``artifact_fs`` the ``--setting`` values."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES) and k not in SCRUBBED}
    env.update(backend_env)
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(scratch_root, "no-aws-config")
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    if contender == "mlflow":
        env["ARTIFACT_FS_BUILTIN_SCHEMES"] = "*"
    if contender in ARTIFACT_FS_ENGINES:
        env.update(settings or {})
    if ARTIFACT_FS_ENGINES.get(contender):
        env["ARTIFACT_FS_ENGINE"] = ARTIFACT_FS_ENGINES[contender]
    return env


def run_worker(spec: dict, env: dict[str, str], profile: str | None = None) -> dict:
    """Run one measurement subprocess; a failure becomes a record with an ``error`` field.

    With ``profile`` (a directory), an artifact_fs worker runs under ``py-spy record``
    (collapsed stacks, 200 Hz, all threads) and its timings are not comparable.
    """
    base = {k: spec[k] for k in ("backend", "contender", "workload", "rep")}
    command = [sys.executable, "-m", "benchmarks.worker", json.dumps(spec)]
    if profile and spec["contender"] == "artifact_fs":
        os.makedirs(profile, exist_ok=True)
        target = os.path.join(os.path.abspath(profile), f"{spec['backend']}-{spec['workload']}-rep{spec['rep']}.txt")
        command = [shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy"), "record",
                   "--format", "raw", "--rate", "200", "--threads", "--idle", "--subprocesses",
                   "-o", target, "--", *command]  # fmt: skip
    try:
        proc = subprocess.run(
            command, cwd=REPO_ROOT, env=env,
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=WORKER_TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {**base, "error": f"timed out after {WORKER_TIMEOUT} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARKER)]
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        return {**base, "error": f"exit code {proc.returncode}: {tail}"}
    return json.loads(lines[-1][len(MARKER) :])


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


DISTS = ("mlflow-skinny", "fsspec", "s3fs", "boto3", "sshfs", "asyncssh", "pysftp", "paramiko", "adlfs",
         "azure-storage-blob", "gcsfs", "google-cloud-storage", "hdfs-native")  # fmt: skip


def metadata_block(args: argparse.Namespace) -> dict:
    """What was run, where, and with which versions."""
    return {
        "scale": args.scale, "reps": args.reps, "settings": args.settings, "w7_reps": args.w7_reps,
        "sizes": SCALES[args.scale].as_dict(),
        "backends": args.backends, "workloads": args.workloads, "contenders": args.contenders,
        "servers": {name: BY_NAME[name].notes for name in args.backends},
        "raw_clients": {name: BY_NAME[name].raw_doc for name in args.backends},
        "commit": _git_commit(), "versions": ", ".join(f"{d} {_version(d)}" for d in DISTS),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
                   f"Python {platform.python_version()}",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }  # fmt: skip


def big_sizes(args) -> set[int]:
    """Every big-file size the chosen backends × workloads need."""
    sizes = SCALES[args.scale]
    return {sizes.big_bytes(w, BY_NAME[b].big_cap) for b in args.backends for w in args.workloads if w in BIG_FILE_OP}


def run_backend(args, name: str, tmp: pathlib.Path, data: dict) -> list[dict]:
    """All measurements of one backend, contenders interleaved within each repetition."""
    row, sizes, records = BY_NAME[name], SCALES[args.scale], []
    print(f"[{name}] starting the server and seeding the store ...", file=sys.stderr, flush=True)
    with row.start(tmp) as (store, backend_env):
        needed = {
            s
            for s in data["big_files"]
            if int(s) in {sizes.big_bytes(w, row.big_cap) for w in args.workloads if w in BIG_FILE_OP}
        }
        if set(args.workloads) - set(CONSTRUCTION):  # W6/W6d (construction) read no input
            seed_inputs(
                row.admin(store),
                store,
                {**data, "big_files": {s: data["big_files"][s] for s in needed}},
                row.seed_threads,
            )
        for workload in args.workloads:
            reps = args.w7_reps if workload.startswith("W7") else args.reps
            for rep in range(reps):
                for contender in args.contenders:
                    base = {"backend": name, "contender": contender, "workload": workload, "rep": rep}
                    unavailable = row.mlflow_unavailable if contender == "mlflow" else ""
                    if contender in ("af_obstore", "af_fsspec") and not row.engines:
                        unavailable = "no obstore engine for this backend"
                    elif contender == "obstore" and not row.native_ops:
                        unavailable = "obstore's native calls are written for S3 only (benchmarks/raw_obstore.py)"
                    elif contender == "obstore" and workload in CONSTRUCTION:
                        unavailable = f"{workload} builds repositories: obstore's native calls have none"
                    if unavailable:
                        if rep == 0:
                            records.append({**base, "unavailable": unavailable})
                        continue
                    tag = f"{contender}-{workload}-rep{rep}"
                    spec = {
                        **base, "scale": args.scale, "store": store.as_dict(), "data": data,
                        "big_bytes": sizes.big_bytes(workload, row.big_cap) if workload in BIG_FILE_OP else None,
                        "constructions": row.constructions or sizes.constructions,
                        "scratch": str(tmp / "scratch" / f"{name}-{tag}"), "out": f"{contender}/{workload}/rep{rep}",
                    }  # fmt: skip
                    record = run_worker(spec, worker_env(backend_env, contender, str(tmp), args.settings), args.profile)
                    record.update({k: spec[k] for k in ("big_bytes", "constructions")})
                    records.append(record)
                    shown = record.get("error", "").splitlines()[-1:] or [
                        f"{record['wall_s']:.3f} s wall, {record['cpu_s']:.3f} s CPU, {record['peak_rss_mib']:.0f} MiB"
                    ]
                    print(f"[{name} {workload} rep {rep + 1}/{reps}] {contender:<11} {shown[0]}",
                          file=sys.stderr, flush=True)  # fmt: skip
    return records


def main(argv: list[str] | None = None) -> int:
    """Run everything, print the Markdown table, write results.json and results.md."""
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C: the running worker is killed and every server stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    meta = metadata_block(args)
    started = time.monotonic()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="artifact-fs-bench-"))
    measurements: list[dict] = []
    try:
        print(f"generating {args.scale} data sets in {tmp} ...", file=sys.stderr, flush=True)
        data = datasets.generate(str(tmp / "data"), SCALES[args.scale], big_sizes(args))
        for backend in args.backends:
            try:
                measurements += run_backend(args, backend, tmp, data)
            except Exception as exc:  # noqa: BLE001 - a backend whose server fails is reported, the rest still run
                print(f"[{backend}] failed: {exc}", file=sys.stderr, flush=True)
                measurements.append({"backend": backend, "contender": "artifact_fs", "workload": "W1", "rep": 0,
                                     "error": f"backend set-up failed: {exc}"})  # fmt: skip
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
