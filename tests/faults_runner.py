"""One injected fault, end to end, and the summary of many.

:func:`inject` runs an artifact call in a thread against a dedicated server
(:mod:`tests.faults_targets`), SIGKILLs or SIGSTOPs the server while the call is in flight,
and records what happened: whether the call failed with an ``MlflowException`` that names
the artifact and a cause, how long after the fault, what the store (or the download
directory) holds under final names, what hidden leftovers remain; then it brings the server
back, reruns the same call and counts the bytes that are still not there intact.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import random
import threading
import time
import uuid
from collections import defaultdict

from mlflow.exceptions import MlflowException

from artifact_fs import FsspecArtifactRepository
from artifact_fs.paths import TEMP_PREFIX

from .faults_targets import Target, sha

OPERATIONS = ("log_artifacts", "log_artifact", "download_artifacts")
FAULTS = ("kill", "pause")


@dataclasses.dataclass
class Outcome:
    backend: str
    operation: str
    fault: str
    injected: bool  #: the call was still running when the fault hit
    reported: bool = False  #: MlflowException naming the artifact and a cause
    seconds: float = 0.0  #: from the fault to the error
    message: str = ""
    partial: int = 0  #: files under a final name that are not complete and correct
    leftovers: int = 0  #: hidden temporary names / incomplete multipart uploads
    debris: int = 0  #: hidden leftovers still there after the successful rerun (must be 0)
    bytes_lost: int = 0  #: after the rerun, bytes of the source not there intact
    rerun_ok: bool = False
    survived: bool = False  #: the call returned normally: the fault came after its last request


@dataclasses.dataclass
class Workload:
    """The files a scenario moves: a tree of ``files`` small files and one ``big`` file."""

    root: pathlib.Path
    files: int = 200
    big_bytes: int = 24 * 2**20

    def build(self) -> None:
        rng = random.Random(7)
        tree = self.root / "tree"
        for i in range(self.files):
            path = tree / f"d{i % 7}" / f"f{i:03d}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(rng.randbytes(rng.randint(1, 48 * 1024)))
        big = self.root / "big" / "model.bin"
        big.parent.mkdir(parents=True, exist_ok=True)
        with open(big, "wb") as handle:
            for _ in range(self.big_bytes // 2**20):
                handle.write(os.urandom(2**20))

    def expected(self, operation: str) -> dict[str, tuple[str, int]]:
        """``{relative path: (sha256, size)}`` the operation must end with."""
        if operation == "log_artifact":
            base, prefix = self.root / "big", ""
        else:
            base, prefix = self.root / "tree", "tree/" if operation == "download_artifacts" else ""
        out = {}
        for path in base.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                out[prefix + path.relative_to(base).as_posix()] = (sha(data), len(data))
        return out


@contextlib.contextmanager
def environment(values: dict[str, str]):
    """``os.environ`` updated with ``values`` for the block, restored afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _call(target: Target, operation: str, prefix: str, work: Workload, dst: pathlib.Path):
    with environment(target.env()):  # the whole call: SSH reads HOME when it connects
        repo = FsspecArtifactRepository(target.uri(prefix))
        if operation == "log_artifacts":
            return repo.log_artifacts(str(work.root / "tree"))
        if operation == "log_artifact":
            return repo.log_artifact(str(work.root / "big" / "model.bin"))
        return repo.download_artifacts("tree", str(dst))


def _names_artifact(message: str, operation: str, work: Workload) -> bool:
    named = {"log_artifacts": str(work.root / "tree"), "log_artifact": "model.bin", "download_artifacts": "'tree'"}[
        operation
    ]
    action, _, cause = message.partition(": ")
    return named in action and bool(cause.strip())


def _local_tree(dst: pathlib.Path) -> tuple[dict[str, str], int]:
    found, temps = {}, 0
    for path in dst.rglob("*"):
        if path.is_file():
            if path.name.startswith(TEMP_PREFIX):
                temps += 1
            else:
                found[path.relative_to(dst).as_posix()] = sha(path.read_bytes())
    return found, temps


def _bad(found: dict[str, str], expected: dict[str, tuple[str, int]]) -> int:
    return sum(1 for name, digest in found.items() if expected.get(name, ("",))[0] != digest)


def _lost(found: dict[str, str], expected: dict[str, tuple[str, int]]) -> int:
    return sum(size for name, (digest, size) in expected.items() if found.get(name) != digest)


def inject(target: Target, operation: str, fault: str, work: Workload, delay: float, bound: float) -> Outcome:
    """Run ``operation``, inject ``fault`` after ``delay`` seconds, check, recover, rerun."""
    prefix = f"{operation}-{uuid.uuid4().hex[:8]}"
    dst = work.root / "downloads" / prefix
    dst.mkdir(parents=True)
    expected = work.expected(operation)
    if operation == "download_artifacts":
        with environment(target.env()):
            FsspecArtifactRepository(target.uri(prefix)).log_artifacts(str(work.root / "tree"), "tree")
    result: dict = {}

    def run():
        try:
            _call(target, operation, prefix, work, dst)
        except BaseException as exc:  # noqa: BLE001 - examined below
            result["error"], result["at"] = exc, time.monotonic()

    worker = threading.Thread(target=run, name=f"fault-{operation}", daemon=True)
    worker.start()
    time.sleep(delay)
    outcome = Outcome(target.name, operation, fault, injected=worker.is_alive())
    if not outcome.injected:
        worker.join()
        return outcome
    fault_at = time.monotonic()
    if fault == "kill":
        target.kill()
        worker.join(bound)
    else:
        with target.paused():
            worker.join(bound)
    worker.join(bound)  # resumed: a call that hung past the bound ends now
    error = result.get("error")
    outcome.survived = error is None and not worker.is_alive()
    if error is not None:
        outcome.seconds = round(result["at"] - fault_at, 2)
        outcome.message = str(error)[:500]
        outcome.reported = (
            isinstance(error, MlflowException)
            and outcome.seconds <= bound
            and _names_artifact(str(error), operation, work)
        )
    if fault == "kill":
        target.restart()
    _check_store(target, operation, prefix, dst, expected, outcome, after_kill=fault == "kill")
    _rerun(target, operation, prefix, work, dst, expected, outcome)
    return outcome


def _check_store(target, operation, prefix, dst, expected, outcome, after_kill) -> None:
    if operation == "download_artifacts":
        found, temps = _local_tree(dst)
        outcome.partial, outcome.leftovers = _bad(found, expected), temps
    elif target.keeps_data or not after_kill:
        outcome.partial = _bad(target.stored(prefix), expected)
        outcome.leftovers = len(target.leftovers(prefix))


def _rerun(target, operation, prefix, work, dst, expected, outcome) -> None:
    if operation == "download_artifacts" and not target.keeps_data and outcome.fault == "kill":
        with environment(target.env()):  # the in-memory store came back empty: log the tree again
            FsspecArtifactRepository(target.uri(prefix)).log_artifacts(str(work.root / "tree"), "tree")
    for attempt in range(5):  # the precondition is "the server is back": give a restarted one time to settle
        try:
            _call(target, operation, prefix, work, dst)
            break
        except MlflowException:
            if attempt == 4:
                raise
            time.sleep(2)
    if operation == "download_artifacts":
        found, outcome.debris = _local_tree(dst)
    else:
        found, outcome.debris = target.stored(prefix), len(target.leftovers(prefix))
    outcome.bytes_lost = _lost(found, expected)
    outcome.rerun_ok = outcome.bytes_lost == 0 and _bad(found, expected) == 0


def summarize(outcomes: list[Outcome]) -> dict:
    """Per backend: faults injected, failures correctly reported, bytes lost, partial objects left."""
    per: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for o in outcomes:
        row = per[o.backend]
        if not o.injected:
            row["missed (call finished before the fault)"] += 1
            continue
        row["faults injected"] += 1
        row[f"{o.fault}s"] += 1
        row["failures correctly reported"] += o.reported
        row["calls that finished despite the fault (then verified)"] += o.survived
        row["bytes lost"] += o.bytes_lost
        row["partial objects left"] += o.partial
        row["hidden leftovers (temp names, incomplete multipart uploads)"] += o.leftovers
        row["debris after the rerun"] += o.debris
        row["reruns verified"] += o.rerun_ok
        row["slowest failure (s)"] = max(row["slowest failure (s)"], o.seconds)
    totals: dict[str, float] = defaultdict(int)
    for row in per.values():
        for key, value in row.items():
            totals[key] = max(totals[key], value) if key.startswith("slowest") else totals[key] + value
    return {"backends": {k: dict(v) for k, v in per.items()}, "total": dict(totals)}


def write_summary(outcomes: list[Outcome], path: pathlib.Path) -> str:
    """Write the summary (JSON, with every outcome) to ``path`` and return it as text."""
    summary = summarize(outcomes)
    path.write_text(json.dumps({**summary, "outcomes": [dataclasses.asdict(o) for o in outcomes]}, indent=1))
    lines = [f"fault injection summary ({path})"]
    for name, row in [*summary["backends"].items(), ("TOTAL", summary["total"])]:
        lines.append(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in row.items()))
    return "\n".join(lines)


class Campaign:
    """Faults against a set of dedicated servers, each call timed once unfaulted so that
    faults land while it is in flight (the delay halves after a call that finished first)."""

    def __init__(self, targets: dict[str, Target], work: Workload, bound: float):
        self.targets, self.work, self.bound = targets, work, bound
        self.delays: dict[tuple[str, str], float] = {}
        self.outcomes: list[Outcome] = []

    def _baseline(self, target: Target, operation: str) -> float:
        key = (target.name, operation)
        if key not in self.delays:
            prefix = f"baseline-{operation}-{uuid.uuid4().hex[:6]}"
            dst = self.work.root / "downloads" / prefix
            dst.mkdir(parents=True)
            if operation == "download_artifacts":
                with environment(target.env()):
                    FsspecArtifactRepository(target.uri(prefix)).log_artifacts(str(self.work.root / "tree"), "tree")
            for attempt in range(3):  # a fresh server's first writes may be slow (SeaweedFS grows a volume)
                started = time.monotonic()
                try:
                    _call(target, operation, prefix, self.work, dst)
                    break
                except MlflowException:
                    if attempt == 2:
                        raise
            self.delays[key] = max(0.05, 0.3 * (time.monotonic() - started))
        return self.delays[key]

    def run(self, backend: str, operation: str, fault: str, tries: int = 4) -> Outcome:
        """Inject one fault (trying up to ``tries`` times to hit the call in flight)."""
        target = self.targets[backend]
        for _ in range(tries):
            delay = self._baseline(target, operation)
            outcome = inject(target, operation, fault, self.work, delay, self.bound)
            self.outcomes.append(outcome)
            if outcome.injected:
                return outcome
            self.delays[(target.name, operation)] = delay / 2
        return outcome


def merge(paths: list[pathlib.Path], out: pathlib.Path) -> str:
    """One summary from the JSON files of campaigns run in parallel (``python -m tests.faults_runner OUT IN...``)."""
    outcomes = [Outcome(**o) for path in paths for o in json.loads(path.read_text())["outcomes"]]
    return write_summary(outcomes, out)


if __name__ == "__main__":
    import sys

    print(merge([pathlib.Path(p) for p in sys.argv[2:]], pathlib.Path(sys.argv[1])))
