"""One measurement in a fresh process: ``python -m benchmarks.worker '<json spec>'``.

The spec names the backend, contender, workload, store, data and scratch paths. The
worker imports everything and builds the repository first (not timed), then measures
the operation alone: wall time (``perf_counter``), user+sys CPU of the whole process
(``getrusage`` deltas, all threads) and peak RSS (``VmHWM``, see :func:`peak_rss_mib`).
It then checks the result (so a contender that silently did nothing cannot look fast),
cleans up, and prints one line ``BENCH_RESULT {json}`` on stdout.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import shutil
import sys
import time

from . import datasets, raw
from .config import BIG_FILE_NAME, LIST_CALLS, SCALES, Sizes
from .store import Store, delete, remote_stats

MARKER = "BENCH_RESULT "
EXPECTED_MODULE = {"artifact_fs": "artifact_fs.", "mlflow": "mlflow."}


def _walk(repo) -> int:
    """Recursive walk through ``list_artifacts``: count of every entry below the root."""
    count, pending = 0, [None]
    while pending:
        for info in repo.list_artifacts(pending.pop()):
            count += 1
            if info.is_dir:
                pending.append(info.path)
    return count


def repository_op(spec: dict, store: Store, data: dict, sizes: Sizes):
    """Build the registry repository for the workload (not timed) and return the timed callable."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    workload, scratch = spec["workload"], spec["scratch"]
    if workload == "W6":
        uri = store.uri("w6/artifacts")

        def construct():
            for _ in range(sizes.constructions):
                repo = get_artifact_repository(uri)
            return repo

        return construct, None
    root = {
        "W1": spec["out"], "W2": datasets.TREE, "W3": spec["out"], "W4": datasets.BIG_DIR,
        "W5a": datasets.LISTING_PARENT, "W5b": datasets.TREE,
    }[workload]  # fmt: skip
    repo = get_artifact_repository(store.uri(root))
    ops = {
        "W1": lambda: repo.log_artifacts(data["tree"]),
        "W2": lambda: repo.download_artifacts("", scratch),
        "W3": lambda: repo.log_artifact(data["big"]),
        "W4": lambda: repo.download_artifacts(BIG_FILE_NAME, scratch),
        "W5a": lambda: sum(len(repo.list_artifacts(datasets.LISTING_NAME)) for _ in range(LIST_CALLS)),
        "W5b": lambda: _walk(repo),
    }
    return ops[workload], repo


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise RuntimeError(f"wrong result: {message}")


def check(spec: dict, store: Store, sizes: Sizes, value) -> str:
    """Verify the operation's effect (never its timing); raise RuntimeError on a wrong result.

    Returns ``"ok"``, or for W6 the class the registry returned.
    """
    workload, scratch, out = spec["workload"], spec["scratch"], spec["out"]
    tree = (sizes.tree_files, sizes.tree_files * sizes.tree_file_bytes)
    if workload == "W1":
        got = remote_stats(store, out)
        _expect(got == tree, f"uploaded {got}, expected {tree}")
    elif workload == "W2":
        got = datasets.tree_stats(scratch)
        _expect(got == tree, f"downloaded {got}, expected {tree}")
    elif workload in ("W3", "W4"):
        got = remote_stats(store, out) if workload == "W3" else datasets.tree_stats(scratch)
        _expect(got == (1, sizes.big_file_bytes), f"got {got}, expected 1 file of {sizes.big_file_bytes} B")
    elif workload == "W5a":
        _expect(value == LIST_CALLS * sizes.listing_entries, f"listed {value} entries")
    elif workload == "W5b":
        _expect(value == sizes.tree_dirs + sizes.tree_files, f"walked {value} entries")
    else:
        got = f"{type(value).__module__}.{type(value).__name__}"
        return got
    return "ok"


def _cpu(usage) -> float:
    return usage.ru_utime + usage.ru_stime


def peak_rss_mib(usage) -> float:
    """This process's peak RSS in MiB: ``VmHWM`` from /proc where there is one, else ``ru_maxrss``.

    On Linux ``ru_maxrss`` survives ``exec``: a worker would inherit the runner's RSS at
    fork time as its own peak. ``VmHWM`` belongs to the worker's own address space.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)


def measure(spec: dict) -> dict:
    """Run the spec'd measurement and return its record (see module docstring)."""
    sizes = SCALES[spec["scale"]]
    store, data = Store(spec["backend"], spec["base"]), spec["data"]
    contender, workload = spec["contender"], spec["workload"]
    os.makedirs(spec["scratch"], exist_ok=True)
    if spec["backend"] == "s3":  # imported up front for every contender: import time is not measured
        import boto3  # noqa: F401
        import s3fs  # noqa: F401
    repo = None
    if contender == "raw":
        func = raw.OPS[(spec["backend"], workload)]
        op = lambda: func(store, data, spec["scratch"], spec["out"])  # noqa: E731
    else:
        op, repo = repository_op(spec, store, data, sizes)
        if repo is not None and not type(repo).__module__.startswith(EXPECTED_MODULE[contender]):
            raise RuntimeError(f"{contender} got {type(repo).__module__}.{type(repo).__name__}")
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF)
    peak_before = peak_rss_mib(before)
    start = time.perf_counter()
    value = op()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    peak_after = peak_rss_mib(after)
    record = {
        "backend": spec["backend"], "contender": contender, "workload": workload, "rep": spec["rep"],
        "wall_s": wall, "cpu_s": _cpu(after) - _cpu(before),
        "peak_rss_mib": peak_after, "peak_rss_growth_mib": peak_after - peak_before,
        "repo_class": f"{type(repo).__module__}.{type(repo).__name__}" if repo is not None else None,
    }  # fmt: skip
    record["check"] = check(spec, store, sizes, value)
    if contender != "raw" and workload == "W6" and not record["check"].startswith(EXPECTED_MODULE[contender]):
        raise RuntimeError(f"{contender} constructed {record['check']}")
    if workload in ("W1", "W3"):
        delete(store, spec["out"])
    shutil.rmtree(spec["scratch"], ignore_errors=True)
    return record


def main(argv: list[str] | None = None) -> int:
    """Entry point: measure the spec given as the single JSON argument and print the record."""
    argv = sys.argv[1:] if argv is None else argv
    record = measure(json.loads(argv[0]))
    sys.stdout.write(MARKER + json.dumps(record) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
