"""Concurrency: 8 processes x 100 files logging into the same run at once, and 8 threads
sharing one repository, on a local root and on S3 (SeaweedFS). Every file must be present
and byte-identical to what its writer sent (no cross-talk), and a name every writer logs
(``common.bin``) must hold one writer's complete content, never a mixture. That name is
shared on the local root only: there every file is verified under a temporary name before
its rename, while an object store is checked after the upload, where another writer's newer
object of the same name is (rightly) reported as a mismatch.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest

from artifact_fs import FsspecArtifactRepository

from .conftest import new_bucket

WRITERS, FILES = 8, 100

WRITER = textwrap.dedent(
    """
    import os, pathlib, sys, time
    from artifact_fs import FsspecArtifactRepository
    writer, src, start = int(sys.argv[1]), pathlib.Path(sys.argv[2]), float(sys.argv[3])
    runs = [(FsspecArtifactRepository(uri), kind == "shared") for uri, kind in zip(sys.argv[4::2], sys.argv[5::2])]
    time.sleep(max(0.0, start - time.time()))  # every writer starts at the same moment
    for repo, shared in runs:
        repo.log_artifacts(str(src / "own"), f"writers/w{writer}")
        repo.log_artifacts(str(src / ("shared" if shared else "distinct")), "shared")
    """
)


def content(writer: int, index: int) -> bytes:
    """A file only this writer writes: its name and number repeated, of varying length."""
    return (f"writer {writer} file {index};".encode()) * (1 + (writer * 131 + index * 17) % 400)


def make_sources(base: pathlib.Path, writer: int) -> pathlib.Path:
    src = base / f"src{writer}"
    for index in range(FILES):
        path = src / "own" / f"d{index % 5}" / f"f{index:03d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content(writer, index))
    (src / "shared").mkdir(parents=True)
    (src / "shared" / f"only-w{writer}.bin").write_bytes(content(writer, 999))
    (src / "shared" / "common.bin").write_bytes(content(writer, 1000) * 50)  # every writer: ~1 MB, same name
    (src / "distinct").mkdir()
    (src / "distinct" / f"only-w{writer}.bin").write_bytes(content(writer, 999))
    return src


def expected_tree() -> dict[str, str]:
    out = {}
    for writer in range(WRITERS):
        for index in range(FILES):
            out[f"writers/w{writer}/d{index % 5}/f{index:03d}.bin"] = hashlib.sha256(content(writer, index)).hexdigest()
        out[f"shared/only-w{writer}.bin"] = hashlib.sha256(content(writer, 999)).hexdigest()
    return out


def check(repo: FsspecArtifactRepository, dst: pathlib.Path, shared: bool) -> None:
    dst.mkdir()
    root = pathlib.Path(repo.download_artifacts("", str(dst)))
    found = {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }
    if shared:
        common = found.pop("shared/common.bin")
        assert common in {hashlib.sha256(content(w, 1000) * 50).hexdigest() for w in range(WRITERS)}
    assert found == expected_tree()
    listed = sorted([*(["shared/common.bin"] if shared else []), *(f"shared/only-w{w}.bin" for w in range(WRITERS))])
    assert [i.path for i in repo.list_artifacts("shared")] == listed


def run_processes(runs: list[tuple[str, bool]], tmp_path: pathlib.Path, env: dict[str, str]) -> None:
    """8 writer processes; each logs its files into every ``(uri, shared)`` run in turn."""
    import time

    sources = [make_sources(tmp_path, w) for w in range(WRITERS)]
    start = time.time() + 4  # most of the 8 interpreters have imported mlflow by then
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                str(w),
                str(src),
                str(start),
                *(arg for uri, shared in runs for arg in (uri, "shared" if shared else "distinct")),
            ],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for w, src in enumerate(sources)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]


@pytest.mark.s3
def test_eight_processes_log_into_one_local_run_and_one_s3_run(seaweedfs, tmp_path, monkeypatch):
    """The same 8 processes write a local run, then an S3 run (8 interpreters, not 16)."""
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    local, s3 = str(tmp_path / "store" / "run"), f"s3://{new_bucket(seaweedfs)}/run"
    run_processes([(local, True), (s3, False)], tmp_path, seaweedfs.env())
    check(FsspecArtifactRepository(local), tmp_path / "dst-local", shared=True)
    check(FsspecArtifactRepository(s3), tmp_path / "dst-s3", shared=False)


def _threads(repo: FsspecArtifactRepository, tmp_path: pathlib.Path, shared: bool) -> None:
    sources = [make_sources(tmp_path, w) for w in range(WRITERS)]

    def write(writer: int) -> None:
        src = sources[writer]
        half = sorted((src / "own").rglob("*.bin"))[: FILES // 2]
        for path in half:  # one file at a time ...
            relative = path.relative_to(src / "own").parent.as_posix()
            repo.log_artifact(str(path), f"writers/w{writer}/{relative}")
        repo.log_artifacts(str(src / "own"), f"writers/w{writer}")  # ... then all of them in one batch
        repo.log_artifacts(str(src / ("shared" if shared else "distinct")), "shared")
        repo.list_artifacts(f"writers/w{writer}")  # reads interleaved with the other threads' writes

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(write, range(WRITERS)))
    check(repo, tmp_path / "dst", shared)


def test_eight_threads_share_one_local_repository(tmp_path):
    _threads(FsspecArtifactRepository(str(tmp_path / "store" / "run")), tmp_path, shared=True)


@pytest.mark.s3
def test_eight_threads_share_one_s3_repository(seaweedfs, tmp_path, monkeypatch):
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    _threads(FsspecArtifactRepository(f"s3://{new_bucket(seaweedfs)}/run"), tmp_path, shared=False)
