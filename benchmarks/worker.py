"""One measurement in a fresh process: ``python -m benchmarks.worker '<json spec>'``.

The spec names the backend, contender, workload, store, data and scratch paths. The
worker imports everything first (not timed), then measures building the repository
through MLflow's registry plus the operation (what each ``mlflow.log_artifact*`` call
costs): wall time (``perf_counter``), user+sys CPU of the whole process
(``getrusage`` deltas, all threads) and peak RSS (``VmHWM``, see :func:`peak_rss_mib`).
It then checks the result (so a contender that silently did nothing cannot look fast),
cleans up, and prints one line ``BENCH_RESULT {json}`` on stdout.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import resource
import shutil
import sys
import time
import uuid

from . import datasets
from .backends import BY_NAME
from .config import BIG_FILE_NAME, BIG_FILE_OP, CONSTRUCTION, LIST_CALLS, SCALES, Sizes
from .store import Store, delete, remote_stats

MARKER = "BENCH_RESULT "
EXPECTED_MODULE = {
    "artifact_fs": "artifact_fs.",
    "af_obstore": "artifact_fs.",
    "af_fsspec": "artifact_fs.",
    "mlflow": "mlflow.",
}


def _walk(repo) -> int:
    """Recursive walk through ``list_artifacts``: count of every entry below the root."""
    count, pending = 0, [None]
    while pending:
        for info in repo.list_artifacts(pending.pop()):
            count += 1
            if info.is_dir:
                pending.append(info.path)
    return count


def _bare_repository_class():
    """W6 for ``raw``: the cheapest possible MLflow repository (no parsing, no client)."""
    from mlflow.store.artifact.artifact_repo import ArtifactRepository

    class BareRepository(ArtifactRepository):
        def log_artifact(self, local_file, artifact_path=None): ...
        def log_artifacts(self, local_dir, artifact_path=None): ...
        def list_artifacts(self, path=None): ...
        def _download_file(self, remote_file_path, local_path): ...

    return BareRepository


def construct_op(spec: dict, store: Store, count: int):
    """W6: build ``count`` repositories of one URI; W6d: of ``count`` distinct URIs, a new run's
    ``w6/<experiment>/<run id>/artifacts`` each (through the registry, or bare ones for raw).
    The URIs are written before the clock starts."""
    if spec["workload"] == "W6d":
        runs = [uuid.uuid4().hex for _ in range(count)]
        uris = [store.uri(f"w6/{i % 7}/{run}/artifacts") for i, run in enumerate(runs)]
    else:
        uris = [store.uri("w6/artifacts")] * count
    if spec["contender"] == "raw":
        make = _bare_repository_class()
    else:
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository as make

    # warm-up, untimed (W6d: another run of the store): MLflow's registry imports its repositories with itself,
    # artifact_fs's load on first use
    make(store.uri("w6/warm-up/artifacts") if spec["workload"] == "W6d" else uris[0])

    def construct():
        for uri in uris:
            repo = make(uri)
        return repo

    return construct


def repository_op(spec: dict, store: Store, data: dict):
    """``(timed callable, repo)`` for the workload. The callable builds its repository through
    the registry and then runs the operation, as ``mlflow.log_artifacts`` and friends do on
    every call: MLflow's SFTP repository connects when built, artifact_fs's on first use, so
    timing the operation alone would leave one contender's connection set-up out. ``repo``
    (built untimed) is only for checking which class the registry hands out."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    workload, scratch = BIG_FILE_OP.get(spec["workload"], spec["workload"]), spec["scratch"]
    root = {
        "W1": spec["out"], "W2": datasets.TREE, "W3": spec["out"], "W4": data.get("big_dir"),
        "W5a": datasets.LISTING_PARENT, "W5b": datasets.TREE,
    }[workload]  # fmt: skip
    uri = store.uri(root)
    ops = {
        "W1": lambda repo: repo.log_artifacts(data["tree"]),
        "W2": lambda repo: repo.download_artifacts("", scratch),
        "W3": lambda repo: repo.log_artifact(data["big"]),
        "W4": lambda repo: repo.download_artifacts(BIG_FILE_NAME, scratch),
        "W5a": lambda repo: sum(len(repo.list_artifacts(datasets.LISTING_NAME)) for _ in range(LIST_CALLS)),
        "W5b": _walk,
    }
    return (lambda: ops[workload](get_artifact_repository(uri))), get_artifact_repository(uri)


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise RuntimeError(f"wrong result: {message}")


def check(spec: dict, admin, store: Store, sizes: Sizes, value) -> str:
    """Verify the operation's effect (never its timing); raise RuntimeError on a wrong result.

    Returns ``"ok"``, or for W6/W6d the class that was constructed.
    """
    workload, scratch, out = BIG_FILE_OP.get(spec["workload"], spec["workload"]), spec["scratch"], spec["out"]
    tree = (sizes.tree_files, sizes.tree_files * sizes.tree_file_bytes)
    if workload == "W1":
        got = remote_stats(admin, store, out)
        _expect(got == tree, f"uploaded {got}, expected {tree}")
    elif workload == "W2":
        got = datasets.tree_stats(scratch)
        _expect(got == tree, f"downloaded {got}, expected {tree}")
    elif workload in ("W3", "W4"):
        got = remote_stats(admin, store, out) if workload == "W3" else datasets.tree_stats(scratch)
        _expect(got == (1, spec["big_bytes"]), f"got {got}, expected 1 file of {spec['big_bytes']} B")
    elif workload == "W5a":
        _expect(value == LIST_CALLS * sizes.listing_entries, f"listed {value} entries")
    elif workload == "W5b":
        _expect(value == sizes.tree_dirs + sizes.tree_files, f"walked {value} entries")
    else:
        return f"{type(value).__module__}.{type(value).__name__}"
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


def _operation(spec: dict, backend, store: Store, data: dict, sizes: Sizes):
    contender, workload = spec["contender"], spec["workload"]
    if workload in CONSTRUCTION:
        return construct_op(spec, store, spec["constructions"]), None
    if contender in ("raw", "obstore"):
        ops = backend.raw() if contender == "raw" else backend.native()
        func = ops[BIG_FILE_OP.get(workload, workload)]
        return (lambda: func(store, data, spec["scratch"], spec["out"])), None
    op, repo = repository_op(spec, store, data)
    if not type(repo).__module__.startswith(EXPECTED_MODULE[contender]):
        raise RuntimeError(f"{contender} got {type(repo).__module__}.{type(repo).__name__}")
    return op, repo


def measure(spec: dict) -> dict:
    """Run the spec'd measurement and return its record (see module docstring)."""
    sizes = SCALES[spec["scale"]]
    backend, store = BY_NAME[spec["backend"]], Store(**spec["store"])
    contender, workload = spec["contender"], spec["workload"]
    data = dict(spec["data"])
    if spec.get("big_bytes"):
        data["big"] = data["big_files"][str(spec["big_bytes"])]
        data["big_dir"] = datasets.big_dir(spec["big_bytes"])
    os.makedirs(spec["scratch"], exist_ok=True)
    for module in backend.preload:  # imported up front for every contender: import time is not measured
        importlib.import_module(module)
    import mlflow.store.artifact.artifact_repository_registry  # noqa: F401

    op, repo = _operation(spec, backend, store, data, sizes)
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
    admin = backend.admin(store)
    record["check"] = check(spec, admin, store, sizes, value)
    if workload in CONSTRUCTION and contender != "raw" and not record["check"].startswith(EXPECTED_MODULE[contender]):
        raise RuntimeError(f"{contender} constructed {record['check']}")
    if BIG_FILE_OP.get(workload, workload) in ("W1", "W3"):
        delete(admin, store, spec["out"])
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
