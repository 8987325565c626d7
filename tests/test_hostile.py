"""The hostile-input corpus (``tests/data/hostile.toml``, ~200 cases) against real stores.

Every case must end in a clear ``MlflowException`` naming the culprit (or, for accepted
names, an exact round trip), with zero bytes written outside the artifact root or the
download directory, and no traceback from deep inside a dependency for a plain user error.
"""

from __future__ import annotations

import os
import pathlib

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli, a dependency there (see pyproject.toml)
    import tomli as tomllib

import pytest
from mlflow.exceptions import MlflowException

from artifact_fs import FsspecArtifactRepository

from .conftest import new_bucket

CORPUS = tomllib.loads((pathlib.Path(__file__).parent / "data" / "hostile.toml").read_text(encoding="utf-8"))
PATHS = CORPUS["artifact_paths"]
ENV_CASES = [(entry, value) for entry in CORPUS["env"] for value in entry["values"]]
PACKAGE = str(pathlib.Path(__file__).resolve().parent.parent / "artifact_fs")


def test_the_corpus_has_at_least_150_cases():
    counted = (
        len(PATHS["refused"]) + len(PATHS["accepted"]) + len(PATHS["normalised"])
        + len(CORPUS["store_keys"]["escaping"]) + len(CORPUS["uris"]["malformed"]) + len(ENV_CASES)
    )  # fmt: skip
    assert counted >= 150, counted


def _ids(values):
    return [ascii(v)[:60] for v in values]


def plain_user_error(exc: BaseException, code: str = "INVALID_PARAMETER_VALUE") -> str:
    """Assert ``exc`` is an MlflowException with ``code`` whose whole chain was raised by
    artifact_fs itself (no frame from a dependency); return its message."""
    assert isinstance(exc, MlflowException), repr(exc)
    assert exc.error_code == code, (exc.error_code, exc.message)
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    while cause is not None:
        frames = []
        tb = cause.__traceback__
        while tb is not None:
            frames.append(tb.tb_frame.f_code.co_filename)
            tb = tb.tb_next
        deep = [f for f in frames if not f.startswith(PACKAGE)]
        assert not deep, f"{type(cause).__name__} raised from {deep}"
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
    return exc.message


def outside(container: pathlib.Path, *allowed: pathlib.Path) -> list[str]:
    """Every file under ``container`` that is not under one of ``allowed``."""
    found = []
    for dirpath, _dirs, files in os.walk(container):
        for name in files:
            full = pathlib.Path(dirpath, name)
            if not any(full.is_relative_to(a) for a in allowed):
                found.append(str(full))
    return found


@pytest.fixture
def local(tmp_path):
    """A local artifact root inside a sandbox, a source file and directory, a download dir."""
    sandbox = tmp_path / "sandbox"
    root, src, dst = sandbox / "container" / "root", sandbox / "src", sandbox / "dst"
    for d in (root, src / "dir", dst):
        d.mkdir(parents=True)
    (src / "f.txt").write_bytes(b"payload")
    (src / "dir" / "g.txt").write_bytes(b"tree")
    return FsspecArtifactRepository(str(root)), sandbox, root, src, dst


# --- artifact paths --------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS["refused"], ids=_ids(PATHS["refused"]))
def test_refused_artifact_paths_on_every_call(local, path):
    repo, sandbox, root, src, dst = local
    calls = {
        "log_artifact": lambda: repo.log_artifact(str(src / "f.txt"), path),
        "log_artifacts": lambda: repo.log_artifacts(str(src / "dir"), path),
        "list_artifacts": lambda: repo.list_artifacts(path),
        "download_artifacts": lambda: repo.download_artifacts(path, str(dst)),
        "delete_artifacts": lambda: repo.delete_artifacts(path),
    }
    for name, call in calls.items():
        with pytest.raises(MlflowException) as info:
            call()
        message = plain_user_error(info.value)
        assert "Invalid artifact path" in message and repr(path)[:40] in message, (name, message)
    assert outside(sandbox, root, src) == [] and os.listdir(root) == [] and os.listdir(dst) == []


def _round_trip(repo, given: str, stored: str, src: pathlib.Path, dst: pathlib.Path) -> None:
    repo.log_artifact(str(src / "f.txt"), given)
    assert [(i.path, i.file_size) for i in repo.list_artifacts(given)] == [(f"{stored}/f.txt", 7)]
    local = repo.download_artifacts(f"{stored}/f.txt", str(dst))
    assert pathlib.Path(local).read_bytes() == b"payload"
    assert pathlib.Path(local).resolve().is_relative_to(dst.resolve())


@pytest.mark.parametrize("path", PATHS["accepted"], ids=_ids(PATHS["accepted"]))
def test_accepted_names_round_trip_exactly_on_local_roots(local, path):
    repo, sandbox, root, src, dst = local
    _round_trip(repo, path, path, src, dst)
    assert (root / path / "f.txt").read_bytes() == b"payload"
    assert outside(sandbox, root, src, dst) == []


@pytest.mark.parametrize(("given", "stored"), PATHS["normalised"], ids=_ids([g for g, _ in PATHS["normalised"]]))
def test_normalised_paths(local, given, stored):
    repo, sandbox, root, src, dst = local
    _round_trip(repo, given, stored, src, dst)
    assert outside(sandbox, root, src, dst) == []


@pytest.mark.s3
def test_accepted_names_round_trip_exactly_on_s3(seaweedfs, monkeypatch, tmp_path):
    """One bucket for all the names (a bucket per case would cost SeaweedFS a volume each)."""
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    bucket = new_bucket(seaweedfs)
    src, client = tmp_path / "src", seaweedfs.boto3_client()
    src.mkdir()
    (src / "f.txt").write_bytes(b"payload")
    for i, path in enumerate(PATHS["accepted"]):
        dst = tmp_path / f"dst{i}"
        dst.mkdir()
        repo = FsspecArtifactRepository(f"s3://{bucket}/run{i}")
        _round_trip(repo, path, path, src, dst)
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=f"run{i}/").get("Contents", [])]
        assert keys == [f"run{i}/{path}/f.txt"], (path, keys)


# --- a hostile store --------------------------------------------------------------------------


@pytest.mark.s3
@pytest.mark.parametrize("key", CORPUS["store_keys"]["escaping"], ids=_ids(CORPUS["store_keys"]["escaping"]))
def test_listed_keys_that_would_escape_the_download_directory_are_refused(moto, monkeypatch, tmp_path, key):
    """moto keeps keys literally (``run/../escape.txt`` is one key), as S3 does."""
    for name, value in moto.env().items():
        monkeypatch.setenv(name, value)
    bucket, client = new_bucket(moto), moto.boto3_client()
    client.put_object(Bucket=bucket, Key="run/ok.txt", Body=b"ok")
    client.put_object(Bucket=bucket, Key=f"run/{key}", Body=b"hostile")
    sandbox = tmp_path / "sandbox"
    dst = sandbox / "deep" / "dst"
    dst.mkdir(parents=True)
    repo = FsspecArtifactRepository(f"s3://{bucket}/run")
    with pytest.raises(MlflowException) as info:
        repo.download_artifacts("", str(dst))
    assert "Invalid artifact path" in plain_user_error(info.value)
    assert outside(sandbox, dst) == [], "a hostile listed key wrote outside the download directory"
    for path in dst.rglob("*"):
        assert path.resolve().is_relative_to(dst.resolve())


# --- malformed URIs and bad settings ---------------------------------------------------------


@pytest.mark.parametrize("uri", CORPUS["uris"]["malformed"], ids=_ids(CORPUS["uris"]["malformed"]))
def test_malformed_uris_are_refused_when_the_repository_is_built(uri, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MlflowException) as info:
        FsspecArtifactRepository(uri)
    message = plain_user_error(info.value)
    scheme = uri.partition(":")[0] if "://" in uri else "path"
    assert scheme in message or "URI" in message, message
    for secret in ("hunter2", "secretsig", "pw@"):
        assert secret not in message
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("entry", "value"), ENV_CASES, ids=[f"{e['var']}={ascii(v)[:30]}" for e, v in ENV_CASES])
def test_bad_environment_values_name_their_variable(entry, value, monkeypatch):
    for name, other in entry.get("also", {}).items():
        monkeypatch.setenv(name, other)
    monkeypatch.setenv(entry["var"], value)
    with pytest.raises(MlflowException) as info:
        FsspecArtifactRepository(entry["uri"])
    message = plain_user_error(info.value)
    assert entry["var"] in message
    for secret in entry.get("also", {}).values():
        assert secret not in message
