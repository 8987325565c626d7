"""The MLflow artifact-repository contract, written once and subclassed per backend.

A subclass provides two fixtures: ``artifact_uri`` (the repository root) and
``container_uri`` (a location above it, scanned to prove nothing is ever written
outside the root). Every repository is obtained through MLflow's own registry, so
the tests also prove the entry points take over the scheme.
"""

from __future__ import annotations

import json
import os
import pathlib
import uuid

import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

import artifact_fs
from artifact_fs import FsspecArtifactRepository

HOSTILE_PATHS = [
    "../escape",
    "a/../../escape",
    "..",
    "/abs",
    "//double",
    "/tmp/x",
    "a\\..\\b",
    "C:/windows",
    "c:\\windows",
    "a\x00b",
    "new\nline",
    "%2e%2e/escape",
    "%252e%252e/escape",
    "a/%2F/b",
]


def _write(path: pathlib.Path, data: bytes | str = b"x") -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _tree(directory) -> dict[str, bytes]:
    out = {}
    for dirpath, _dirs, files in os.walk(directory):
        for name in files:
            full = os.path.join(dirpath, name)
            out[os.path.relpath(full, directory).replace(os.sep, "/")] = pathlib.Path(full).read_bytes()
    return out


def _summary(infos):
    return [(info.path, info.is_dir, info.file_size) for info in infos]


class RepositoryContract:
    """MLflow semantics every backend must honour."""

    @pytest.fixture
    def repo(self, artifact_uri):
        repo = get_artifact_repository(artifact_uri)
        assert isinstance(repo, FsspecArtifactRepository)
        return repo

    @pytest.fixture
    def source(self, tmp_path):
        src = tmp_path / "src"
        _write(src / "a.txt", "a")
        _write(src / "zero.bin", b"")
        _write(src / "d" / "b.txt", "bb")
        _write(src / "d" / "e" / "c.txt", "ccc")
        _write(src / ".hidden", "h")
        return src

    @pytest.fixture
    def outside(self, container_uri, artifact_uri):
        """A function returning everything stored outside the artifact root."""
        fs, container = artifact_fs.filesystem(container_uri)
        root = artifact_fs.resolve(artifact_uri).root.rstrip("/")

        def snapshot():
            try:
                names = fs.find(container, withdirs=True)
            except FileNotFoundError:
                return set()
            return {n for n in names if not (n == root or n.startswith(root + "/")) and not root.startswith(n)}

        return snapshot

    # --- log + list ---------------------------------------------------------------------

    def test_empty_root_lists_nothing(self, repo):
        assert repo.list_artifacts() == []
        assert repo.list_artifacts("missing") == []

    def test_log_artifact_lands_at_root(self, repo, source, tmp_path):
        repo.log_artifact(source / "a.txt")
        assert _summary(repo.list_artifacts()) == [("a.txt", False, 1)]
        local = repo.download_artifacts("a.txt", str(tmp_path))
        assert pathlib.Path(local).read_text() == "a"

    @pytest.mark.parametrize("subdir", ["aaa", "aaa/bbb", "aaa/bbb/ccc/ddd", "trailing/", "./dot", "p//q"])
    def test_log_artifact_into_subdirectory(self, repo, source, tmp_path, subdir):
        repo.log_artifact(str(source / "a.txt"), subdir)
        clean = "/".join(p for p in subdir.split("/") if p not in ("", "."))
        assert _summary(repo.list_artifacts(clean)) == [(f"{clean}/a.txt", False, 1)]
        downloaded = repo.download_artifacts(clean, str(tmp_path))
        assert _tree(downloaded) == {"a.txt": b"a"}

    def test_log_artifacts_tree_and_listing(self, repo, source):
        repo.log_artifacts(str(source))
        assert _summary(repo.list_artifacts()) == [
            (".hidden", False, 1),
            ("a.txt", False, 1),
            ("d", True, None),
            ("zero.bin", False, 0),
        ]
        expected = [("d/b.txt", False, 2), ("d/e", True, None)]
        assert _summary(repo.list_artifacts("d")) == expected
        assert _summary(repo.list_artifacts("d/")) == expected
        assert repo.list_artifacts("a.txt") == []
        assert repo.list_artifacts("d/b.txt") == []
        assert repo.list_artifacts("nope") == []

    def test_log_artifacts_under_artifact_path(self, repo, source, tmp_path):
        repo.log_artifacts(source, "model/v1")
        assert _summary(repo.list_artifacts("model")) == [("model/v1", True, None)]
        assert _tree(repo.download_artifacts("model/v1", str(tmp_path))) == _tree(source)

    def test_log_many_files_round_trip(self, repo, tmp_path):
        src = tmp_path / "many"
        expected = {f"dir{i % 7}/f{i}.bin": os.urandom(64 + i) for i in range(120)}
        for name, data in expected.items():
            _write(src / name, data)
        repo.log_artifacts(src)
        dst = tmp_path / "dst"
        dst.mkdir()
        assert _tree(repo.download_artifacts("", str(dst))) == expected

    def test_overwrite_is_silent(self, repo, tmp_path):
        _write(tmp_path / "f.txt", "one")
        repo.log_artifact(tmp_path / "f.txt")
        _write(tmp_path / "f.txt", "two!")
        repo.log_artifact(tmp_path / "f.txt")
        assert _summary(repo.list_artifacts()) == [("f.txt", False, 4)]

    def test_large_file_round_trip(self, repo, tmp_path):
        data = os.urandom(12 * 1024 * 1024 + 17)
        _write(tmp_path / "big.bin", data)
        repo.log_artifact(tmp_path / "big.bin", "weights")
        dst = tmp_path / "dst"
        dst.mkdir()
        assert pathlib.Path(repo.download_artifacts("weights/big.bin", str(dst))).read_bytes() == data

    # --- download -------------------------------------------------------------------------

    def test_download_returns_absolute_paths_under_destination(self, repo, source, tmp_path):
        repo.log_artifacts(source)
        dst = tmp_path / "dst"
        dst.mkdir()
        file_path = repo.download_artifacts("d/b.txt", str(dst))
        dir_path = repo.download_artifacts("d/", str(dst))
        assert os.path.isabs(file_path) and file_path == str(dst / "d" / "b.txt")
        assert dir_path == str(dst / "d")
        assert _tree(dir_path) == {"b.txt": b"bb", "e/c.txt": b"ccc"}
        assert _tree(repo.download_artifacts("", str(dst))) == _tree(source)

    def test_download_without_destination(self, repo, source):
        repo.log_artifacts(source)
        assert _tree(repo.download_artifacts("d")) == {"b.txt": b"bb", "e/c.txt": b"ccc"}

    def test_download_missing_artifact_fails_without_partial_file(self, repo, source, tmp_path):
        repo.log_artifacts(source)
        dst = tmp_path / "dst"
        dst.mkdir()
        with pytest.raises(MlflowException) as info:
            repo.download_artifacts("missing.txt", str(dst))
        assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        with pytest.raises(MlflowException):
            repo._download_file("missing.txt", str(dst / "target.txt"))
        assert os.listdir(dst) == []

    def test_download_destination_must_be_an_existing_directory(self, repo, source, tmp_path):
        repo.log_artifacts(source)
        with pytest.raises(MlflowException, match="does not exist") as missing:
            repo.download_artifacts("a.txt", str(tmp_path / "nope"))
        assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        with pytest.raises(MlflowException, match="must be a directory"):
            repo.download_artifacts("a.txt", str(source / "a.txt"))

    def test_empty_root_downloads_as_empty_directory(self, repo, tmp_path):
        assert repo.download_artifacts("", str(tmp_path)) == str(tmp_path)
        assert os.listdir(tmp_path) == []

    # --- delete ---------------------------------------------------------------------------

    def test_delete_file_and_directory(self, repo, source):
        repo.log_artifacts(source)
        repo.delete_artifacts("a.txt")
        repo.delete_artifacts("d/")
        assert _summary(repo.list_artifacts()) == [(".hidden", False, 1), ("zero.bin", False, 0)]

    def test_delete_never_touches_a_sibling_sharing_a_prefix(self, repo, tmp_path):
        _write(tmp_path / "dir" / "x.txt")
        _write(tmp_path / "dir2" / "y.txt")
        _write(tmp_path / "dirfile")
        repo.log_artifacts(tmp_path)
        repo.delete_artifacts("dir")
        assert [i.path for i in repo.list_artifacts()] == ["dir2", "dirfile"]

    def test_delete_missing_path_is_a_noop(self, repo):
        repo.delete_artifacts("missing/dir")
        repo.delete_artifacts()

    def test_delete_everything(self, repo, source, outside):
        before = outside()
        repo.log_artifacts(source)
        repo.delete_artifacts()
        assert repo.list_artifacts() == []
        assert outside() == before

    # --- path policy ----------------------------------------------------------------------

    @pytest.mark.parametrize("bad", HOSTILE_PATHS)
    def test_hostile_artifact_paths_are_refused_and_write_nothing(self, repo, source, outside, bad):
        before = outside()
        for call in (
            lambda: repo.log_artifact(source / "a.txt", bad),
            lambda: repo.log_artifacts(source, bad),
            lambda: repo.list_artifacts(bad),
            lambda: repo.delete_artifacts(bad),
        ):
            with pytest.raises(MlflowException) as info:
                call()
            assert info.value.error_code == "INVALID_PARAMETER_VALUE"
            assert "Invalid artifact path" in info.value.message
        assert repo.list_artifacts() == []
        assert outside() == before

    @pytest.mark.parametrize("bad", ["/etc/passwd", "../../etc/passwd", "a/../../b"])
    def test_hostile_download_paths_are_refused(self, repo, source, tmp_path, bad):
        repo.log_artifacts(source)
        dst = tmp_path / "dst"
        dst.mkdir()
        with pytest.raises(MlflowException, match="Invalid artifact path"):
            repo.download_artifacts(bad, str(dst))
        assert os.listdir(dst) == []

    # --- traces and attachments (inherited base-class methods) ---------------------------

    def test_trace_data_round_trip(self, repo):
        from mlflow.exceptions import MlflowTraceDataNotFound

        with pytest.raises(MlflowTraceDataNotFound):
            repo.download_trace_data()
        payload = {"spans": [{"name": "root", "attributes": {"k": "v"}}]}
        repo.upload_trace_data(json.dumps(payload))
        assert repo.download_trace_data() == payload

    def test_attachment_round_trip(self, repo):
        from mlflow.store.artifact.artifact_repo import ArtifactRepository

        if not hasattr(ArtifactRepository, "upload_attachment"):  # older MLflow releases have no attachments
            assert not hasattr(repo, "upload_attachment") and not hasattr(repo, "download_trace_attachment")
            return
        attachment_id = str(uuid.uuid4())
        repo.upload_attachment(attachment_id, b"\x00binary\xff")
        assert repo.download_trace_attachment(attachment_id) == b"\x00binary\xff"
        assert [i.path for i in repo.list_artifacts("attachments")] == [f"attachments/{attachment_id}"]

    # --- atomicity ------------------------------------------------------------------------

    def test_failed_upload_leaves_nothing_behind(self, repo, source, tmp_path):
        repo.log_artifact(source / "a.txt", "kept")
        before = set(repo.fs.find(repo.resolved.root, withdirs=True))
        with pytest.raises(MlflowException):
            repo.log_artifact(source / "does-not-exist.bin", "kept")
        with pytest.raises(MlflowException):
            repo.log_artifact(source / "d", "kept")  # a directory is not a file
        assert set(repo.fs.find(repo.resolved.root, withdirs=True)) == before
        assert _summary(repo.list_artifacts("kept")) == [("kept/a.txt", False, 1)]
