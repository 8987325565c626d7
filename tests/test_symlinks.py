"""``log_artifacts`` of a directory holding symbolic links (docs/behaviour.md, "Symbolic links"): links
to files and directories inside the directory are followed (uploaded as regular files);
a link pointing outside it, a broken link and a loop are refused, naming the link, before
anything is uploaded. On a local root and on S3 (SeaweedFS).
"""

from __future__ import annotations

import os
import pathlib

import pytest
from mlflow.exceptions import MlflowException

from artifact_fs import FsspecArtifactRepository

from .conftest import new_bucket


@pytest.fixture(params=["local", "s3"])
def repo(request, tmp_path, monkeypatch):
    if request.param == "local":
        return FsspecArtifactRepository(str(tmp_path / "store" / "run"))
    server = request.getfixturevalue("seaweedfs")
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    return FsspecArtifactRepository(f"s3://{new_bucket(server)}/run")


@pytest.fixture
def tree(tmp_path) -> pathlib.Path:
    src = tmp_path / "src"
    (src / "data").mkdir(parents=True)
    (src / "data" / "table.csv").write_text("a,b\n1,2\n")
    (src / "model.bin").write_bytes(b"\x00\x01weights")
    os.symlink("model.bin", src / "latest.bin")  # relative link to a file inside
    os.symlink(src / "data", src / "data-link")  # absolute link to a directory inside
    os.symlink("../model.bin", src / "data" / "up.bin")  # a link climbing back inside the tree
    return src


def listing(repo, path=None):
    out = []
    for info in repo.list_artifacts(path):
        out += listing(repo, info.path) if info.is_dir else [(info.path, info.file_size)]
    return out


def test_links_inside_the_directory_are_followed(repo, tree, tmp_path):
    repo.log_artifacts(str(tree))
    assert sorted(listing(repo)) == [
        ("data-link/table.csv", 8),
        ("data-link/up.bin", 9),
        ("data/table.csv", 8),
        ("data/up.bin", 9),
        ("latest.bin", 9),
        ("model.bin", 9),
    ]
    dst = tmp_path / "dst"
    dst.mkdir()
    local = pathlib.Path(repo.download_artifacts("", str(dst)))
    assert (local / "latest.bin").read_bytes() == b"\x00\x01weights" and not (local / "latest.bin").is_symlink()
    assert (local / "data-link" / "table.csv").read_text() == "a,b\n1,2\n"


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda src, out: os.symlink(out / "secret.txt", src / "leak.txt"), "points outside"),
        (lambda src, out: os.symlink(out, src / "data" / "outside-dir"), "points outside"),
        (lambda src, out: os.symlink("../../outside/secret.txt", src / "data" / "climb.txt"), "points outside"),
        (lambda src, out: os.symlink("/etc/passwd", src / "passwd"), "points outside"),
        (lambda src, out: os.symlink(src / "missing.bin", src / "dangling.bin"), "is broken"),
        (lambda src, out: os.symlink("..", src / "data" / "parent"), "a loop"),
        (lambda src, out: os.symlink(src, src / "data" / "root"), "a loop"),
    ],
    ids=["file-outside", "dir-outside", "relative-climb", "absolute-system-file", "broken", "parent-loop", "root-loop"],
)
def test_links_that_leave_the_directory_are_refused_before_any_upload(repo, tree, tmp_path, make, why):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not for the store")
    make(tree, outside)
    with pytest.raises(MlflowException) as info:
        repo.log_artifacts(str(tree))
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "symbolic link" in info.value.message and why in info.value.message, info.value.message
    assert listing(repo) == []  # refused before anything was uploaded


def test_log_artifact_of_a_single_linked_file_uploads_its_target(repo, tmp_path):
    """A file named explicitly is the user's choice: its link is followed wherever it points."""
    (tmp_path / "elsewhere.txt").write_text("chosen")
    os.symlink(tmp_path / "elsewhere.txt", tmp_path / "named.txt")
    repo.log_artifact(str(tmp_path / "named.txt"))
    assert listing(repo) == [("named.txt", 6)]
