"""Integrity checks and the retry budget on real stores: a mismatch is an error, never a silent
success, and a refused connection is retried exactly ``ARTIFACT_FS_RETRIES`` times.

The mismatches are real races: an object replaced (same size, other bytes) between the
listing a download trusts and the download itself, or right after an upload.
"""

from __future__ import annotations

import pathlib
import time
import uuid

import pytest
from mlflow.exceptions import MlflowException

from artifact_fs import FsspecArtifactRepository, integrity
from artifact_fs.backends import scheme_row
from artifact_fs.errors import CorruptedInTransit, IntegrityError, error_code_for
from artifact_fs.paths import TEMP_PREFIX

from .conftest import new_bucket
from .servers.common import free_ports

ORIGINAL, REPLACED = b"the bytes that were logged", b"THE BYTES THAT WERE LOGGED"


@pytest.fixture(params=["s3", "s3-obstore", "gcs", "azure"])
def store(request, monkeypatch):
    """``(repo, replace(key_below_root, data))`` on SeaweedFS (on either engine), fake-gcs-server or Azurite."""
    if request.param.startswith("s3"):
        monkeypatch.setenv("ARTIFACT_FS_ENGINE", "obstore" if request.param == "s3-obstore" else "fsspec")
        server = request.getfixturevalue("seaweedfs")
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        bucket, client = new_bucket(server), server.boto3_client()
        yield (
            FsspecArtifactRepository(f"s3://{bucket}/run"),
            lambda key, data: client.put_object(Bucket=bucket, Key=f"run/{key}", Body=data),
        )
    elif request.param == "gcs":
        server = request.getfixturevalue("fake_gcs")
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        bucket = f"integrity-{uuid.uuid4().hex[:12]}"  # the server is shared: a bucket of this test's own
        server.create_bucket(bucket)
        repo = FsspecArtifactRepository(f"gs://{bucket}/run")
        yield repo, lambda key, data: repo.fs.pipe_file(f"{bucket}/run/{key}", data)
    else:
        server = request.getfixturevalue("azurite")
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", server.connection_string())
        container = server.create_container()
        blobs = server.service_client().get_container_client(container)
        yield (
            FsspecArtifactRepository(f"wasbs://{container}@devstoreaccount1.blob.core.windows.net/run"),
            (lambda key, data: blobs.upload_blob(f"run/{key}", data, overwrite=True)),
        )


def test_an_object_replaced_after_the_listing_fails_the_download(store, tmp_path):
    repo, replace = store
    (tmp_path / "a.txt").write_bytes(ORIGINAL)
    repo.log_artifact(str(tmp_path / "a.txt"), "d")
    dst = tmp_path / "dst"
    dst.mkdir()
    pairs, _dirs, expected = repo._plan_tree(repo._remote("d"), "d", str(dst))  # the listing is trusted ...
    replace("d/a.txt", REPLACED)  # ... and the object changes under it (same size)
    with pytest.raises(IntegrityError, match="md5"):
        repo._download(pairs, expected)
    assert list(dst.rglob("*")) == [dst / "d"]  # nothing under the final name, no temporary left


def test_an_upload_replaced_at_once_is_reported_and_not_deleted(store, tmp_path):
    repo, replace = store
    (tmp_path / "a.txt").write_bytes(ORIGINAL)
    repo.log_artifact(str(tmp_path / "a.txt"))
    replace("a.txt", REPLACED)
    with pytest.raises(IntegrityError, match="md5") as info:
        integrity.verify_uploads(repo.fs, repo.row, [(str(tmp_path / "a.txt"), repo._remote("a.txt"))], repo.policy)
    assert not isinstance(info.value, CorruptedInTransit)  # not retried: sending again would overwrite it
    assert [i.path for i in repo.list_artifacts()] == ["a.txt"]  # another writer's object stays


def test_size_mode_compares_sizes_only(store, tmp_path, monkeypatch):
    monkeypatch.setenv("ARTIFACT_FS_VERIFY", "size")
    repo, replace = store
    repo = FsspecArtifactRepository(repo.artifact_uri)
    (tmp_path / "a.txt").write_bytes(ORIGINAL)
    repo.log_artifact(str(tmp_path / "a.txt"))
    replace("a.txt", REPLACED)
    integrity.verify_uploads(repo.fs, repo.row, [(str(tmp_path / "a.txt"), repo._remote("a.txt"))], repo.policy)
    replace("a.txt", REPLACED + b"!")
    with pytest.raises(IntegrityError, match="size 27 in the store, 26 on disk"):
        integrity.verify_uploads(repo.fs, repo.row, [(str(tmp_path / "a.txt"), repo._remote("a.txt"))], repo.policy)


@pytest.mark.parametrize("mode", ["checksum", "full"])
def test_local_uploads_are_verified_before_the_rename(tmp_path, monkeypatch, mode):
    monkeypatch.setenv("ARTIFACT_FS_VERIFY", mode)
    repo = FsspecArtifactRepository(str(tmp_path / "store"))
    src = tmp_path / "src"
    for i in range(20):
        (src / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 3}" / f"f{i}.bin").write_bytes(bytes([i]) * (i * 1000))
    repo.log_artifacts(str(src))
    stored = {p.relative_to(tmp_path / "store").as_posix(): p.read_bytes() for p in (tmp_path / "store").rglob("*.bin")}
    assert stored == {p.relative_to(src).as_posix(): p.read_bytes() for p in src.rglob("*.bin")}
    assert not list((tmp_path / "store").rglob(f"{TEMP_PREFIX}*"))


@pytest.mark.parametrize(("retries", "attempts"), [("0", 1), ("2", 3), ("4", 5)])
def test_a_refused_connection_uses_the_retry_budget_and_no_more(tmp_path, monkeypatch, caplog, retries, attempts):
    (port,) = free_ports(1)  # nothing listens there: every attempt is refused at once
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("ARTIFACT_FS_RETRIES", retries)
    (tmp_path / "a.txt").write_text("a")
    repo = FsspecArtifactRepository("s3://bucket/run")
    started = time.monotonic()
    with pytest.raises(MlflowException) as info:
        repo.log_artifact(str(tmp_path / "a.txt"))
    elapsed = time.monotonic() - started
    assert info.value.error_code == "TEMPORARILY_UNAVAILABLE" and "a.txt" in info.value.message
    retried = [r for r in caplog.records if r.name == "artifact_fs.integrity"]
    assert len(retried) == attempts - 1  # one warning per retry: botocore and s3fs add none
    if attempts > 1:
        assert f"gave up after {attempts} attempts; ARTIFACT_FS_RETRIES={retries}" in info.value.message
    backoff = sum(integrity.BACKOFF_SECONDS * 2**n for n in range(attempts - 1))
    assert backoff <= elapsed < backoff + 10


def test_bad_policy_values_name_their_variable():
    with pytest.raises(ValueError, match="ARTIFACT_FS_RETRIES"):
        integrity.transfer_policy({"ARTIFACT_FS_RETRIES": "-1"})
    with pytest.raises(ValueError, match="ARTIFACT_FS_VERIFY"):
        integrity.transfer_policy({"ARTIFACT_FS_VERIFY": "md5"})
    assert integrity.transfer_policy({}) == integrity.TransferPolicy(retries=2, verify="checksum")
    assert pathlib.Path(integrity.__file__).name == "integrity.py"


def test_corruption_from_any_layer_uses_the_retry_budget_and_leaves_as_data_loss(monkeypatch):
    """A checksum failure (botocore's CRC32 of a response, a store's BadDigest refusal as
    s3fs wraps it) is corruption in transit: tried again within the budget, then an
    IntegrityError (DATA_LOSS). A mismatch that may be another writer's is tried once."""
    from botocore.exceptions import ClientError, FlexibleChecksumError

    monkeypatch.setattr(integrity, "BACKOFF_SECONDS", 0)
    refused = OSError(22, "The Content-Md5 you specified did not match what we received.")
    refused.__cause__ = ClientError({"Error": {"Code": "BadDigest", "Message": "..."}}, "PutObject")
    policy, row = integrity.TransferPolicy(retries=2), scheme_row("s3")
    for error in (FlexibleChecksumError(error_msg="Expected checksum x did not match calculated checksum: y"), refused):
        calls = []

        def attempt(number, error=error, calls=calls):
            calls.append(number)
            raise error

        with pytest.raises(IntegrityError, match="gave up after 3 attempts") as info:
            integrity.with_retries(policy, row, attempt, "downloading 1 file(s)")
        assert calls == [0, 1, 2] and error_code_for(info.value) == "DATA_LOSS"
        assert error_code_for(error) == "DATA_LOSS"  # also when it reaches MLflow unwrapped

    calls = []

    def another_writer(number):
        calls.append(number)
        raise IntegrityError("upload not verified: md5 ... (replaced by another writer meanwhile)")

    with pytest.raises(IntegrityError):
        integrity.with_retries(policy, row, another_writer, "uploading 1 file(s)")
    assert calls == [0]
