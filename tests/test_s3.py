"""S3 specifics on the real servers: headers, MLflow's upload settings, markers, pagination,
credentials, and unchanged MLflow tracking code going through artifact_fs."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pathlib

import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from artifact_fs import FsspecArtifactRepository

from .conftest import NEEDS_OBSTORE, new_bucket
from .recording_proxy import RecordingProxy

pytestmark = pytest.mark.s3


@pytest.fixture(params=["seaweedfs", "moto"])
def server(request, monkeypatch):
    server = request.getfixturevalue(request.param)
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    return server


@pytest.fixture
def bucket(server):
    return new_bucket(server)


def _head(server, bucket, key):
    return server.boto3_client().head_object(Bucket=bucket, Key=key)


def _files(tmp_path, **files):
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


def test_content_type_and_encoding_are_guessed(server, bucket, tmp_path):
    _files(tmp_path, **{"m.json": b"{}", "page.html": b"<p>", "bundle.tar.gz": b"\x1f\x8b"})
    get_artifact_repository(f"s3://{bucket}/root").log_artifacts(tmp_path)
    assert _head(server, bucket, "root/m.json")["ContentType"] == "application/json"
    assert _head(server, bucket, "root/page.html")["ContentType"] == "text/html"
    archive = _head(server, bucket, "root/bundle.tar.gz")
    assert (archive["ContentType"], archive["ContentEncoding"]) == ("application/x-tar", "gzip")


def test_upload_extra_args_apply_and_win_over_the_guess(server, bucket, tmp_path, monkeypatch):
    monkeypatch.setenv(
        "MLFLOW_S3_UPLOAD_EXTRA_ARGS",
        '{"ContentType": "application/x-custom", "ServerSideEncryption": "AES256", "Metadata": {"team": "ml"}}',
    )
    _files(tmp_path, **{"m.json": b"{}"})
    repo = get_artifact_repository(f"s3://{bucket}/root")
    repo.log_artifact(tmp_path / "m.json")
    head = _head(server, bucket, "root/m.json")
    assert head["ContentType"] == "application/x-custom"
    assert head["ServerSideEncryption"] == "AES256"
    assert head["Metadata"] == {"team": "ml"}
    dst = tmp_path / "dst"
    dst.mkdir()
    assert pathlib.Path(repo.download_artifacts("m.json", str(dst))).read_bytes() == b"{}"


ENGINES = ["fsspec", pytest.param("obstore", marks=NEEDS_OBSTORE)]


@pytest.mark.parametrize("engine", ENGINES)
def test_directory_markers_are_not_listed_as_files_and_go_with_their_directory(
    server, bucket, tmp_path, monkeypatch, engine
):
    monkeypatch.setenv("ARTIFACT_FS_ENGINE", engine)
    client = server.boto3_client()
    client.put_object(Bucket=bucket, Key="root/d/", Body=b"")
    client.put_object(Bucket=bucket, Key="root/d/f.txt", Body=b"f")
    client.put_object(Bucket=bucket, Key="root/empty/", Body=b"")
    client.put_object(Bucket=bucket, Key="root/a.txt", Body=b"a")
    repo = get_artifact_repository(f"s3://{bucket}/root")
    listing = [(i.path, i.is_dir) for i in repo.list_artifacts()]
    assert ("a.txt", False) in listing and ("d", True) in listing
    assert all(path and not path.endswith("/") for path, _ in listing)
    assert [(i.path, i.is_dir) for i in repo.list_artifacts("d")] == [("d/f.txt", False)]
    dst = tmp_path / "dst"
    dst.mkdir()
    repo.download_artifacts("", str(dst))
    assert (dst / "d" / "f.txt").read_bytes() == b"f" and (dst / "a.txt").read_bytes() == b"a"
    repo.delete_artifacts("d")
    assert "d" not in [i.path for i in repo.list_artifacts()]
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="root/").get("Contents", [])]
    assert not [key for key in keys if key.startswith("root/d")]  # the marker too (obstore cannot address it)
    assert "root/empty/" in keys or server.name == "seaweedfs"  # other markers stay


def test_delete_paginates_past_one_thousand_objects(server, bucket):
    client = server.boto3_client()
    for i in range(1100):
        client.put_object(Bucket=bucket, Key=f"root/many/{i:05d}.txt", Body=b"x")
    client.put_object(Bucket=bucket, Key="root/manyfriends.txt", Body=b"keep")
    repo = get_artifact_repository(f"s3://{bucket}/root")
    assert len(repo.fs.find(f"{bucket}/root/many")) == 1100
    repo.delete_artifacts("many")
    remaining = client.list_objects_v2(Bucket=bucket, Prefix="root/")
    assert [o["Key"] for o in remaining.get("Contents", [])] == ["root/manyfriends.txt"]


@pytest.mark.parametrize("parts_in_flight", [1, 3])
def test_big_file_parts_in_flight_are_bounded_and_arrive_byte_for_byte(
    server, bucket, tmp_path, monkeypatch, parts_in_flight
):
    # 8 MiB parts (the row's chunksize); 7 parts, so a window of 3 slides past a ragged end.
    monkeypatch.setenv("ARTIFACT_FS_PARTS_IN_FLIGHT", str(parts_in_flight))
    proxy = RecordingProxy(server.endpoint_url)
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", proxy.endpoint_url)
    local = tmp_path / "weights.bin"
    local.write_bytes(os.urandom(6 * 8 * 2**20 + 3))
    try:
        get_artifact_repository(f"s3://{bucket}/root").log_artifact(local)
    finally:
        proxy.close()
    assert proxy.peak_in_flight == parts_in_flight
    head = _head(server, bucket, "root/weights.bin")
    assert head["ETag"].strip('"').endswith("-7") and head["ContentLength"] == local.stat().st_size
    body = server.boto3_client().get_object(Bucket=bucket, Key="root/weights.bin")["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(local.read_bytes()).digest()
    assert not server.boto3_client().list_multipart_uploads(Bucket=bucket).get("Uploads")


class _StreamOf(io.RawIOBase):
    """``size`` bytes of ``data`` repeated, read 1 MiB at a time; raises once ``fail_at`` bytes are read."""

    def __init__(self, data: bytes, size: int, fail_at: int | None = None):
        self.data, self.size, self.fail_at, self.done = data, size, fail_at, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.fail_at is not None and self.done >= self.fail_at:
            raise ConnectionResetError("client went away")
        count = min(len(buffer), self.size - self.done, 2**20)
        start = self.done % len(self.data)
        piece = (self.data[start:] + self.data)[:count]
        buffer[:count] = piece
        self.done += count
        return count


def test_a_streamed_write_sends_its_parts_in_flight_and_a_failed_one_publishes_nothing(server, bucket, monkeypatch):
    from artifact_fs.backends.s3_streamed import STREAMED_PARTS_IN_FLIGHT

    monkeypatch.setenv("ARTIFACT_FS_ENGINE", "fsspec")  # s3fs's writer (s3_streamed); obstore's: test_corruption

    data = os.urandom(2**20 + 7)
    size = 6 * 8 * 2**20 + 3  # 7 parts of the 8 MiB block, the last 3 bytes
    proxy = RecordingProxy(server.endpoint_url)
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", proxy.endpoint_url)
    try:
        repo = get_artifact_repository(f"s3://{bucket}/root")
        repo.log_artifact_from_stream(io.BufferedReader(_StreamOf(data, size)), "s.bin", "d")
        peak = proxy.peak_in_flight  # the failed stream's abort may overlap its cancelled parts
        with pytest.raises(MlflowException, match="client went away"):
            repo.log_artifact_from_stream(io.BufferedReader(_StreamOf(data, size, fail_at=30 * 2**20)), "cut.bin", "d")
    finally:
        proxy.close()
    assert 2 <= peak <= STREAMED_PARTS_IN_FLIGHT
    head = _head(server, bucket, "root/d/s.bin")
    assert head["ETag"].strip('"').endswith("-7") and head["ContentLength"] == size
    body = server.boto3_client().get_object(Bucket=bucket, Key="root/d/s.bin")["Body"].read()
    expected = io.BufferedReader(_StreamOf(data, size)).read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(expected).digest()
    assert [f.path for f in repo.list_artifacts("d")] == ["d/s.bin"]
    assert not server.boto3_client().list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_missing_bucket_is_resource_does_not_exist(server, bucket, tmp_path):
    """A mistyped bucket must not list as an empty run: the listing names it. A missing path in
    an existing bucket still lists as empty."""
    repo = get_artifact_repository("s3://no-such-bucket-artifact-fs/root")
    for path in (None, "sub/dir"):
        with pytest.raises(MlflowException) as info:
            repo.list_artifacts(path)
        assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        assert "bucket 'no-such-bucket-artifact-fs' does not exist" in info.value.message, info.value.message
    with pytest.raises(MlflowException) as info:
        repo.download_artifacts("x.txt", str(tmp_path))
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    existing = get_artifact_repository(f"s3://{bucket}/root")
    assert existing.list_artifacts() == [] and existing.list_artifacts("missing/dir") == []


def test_wrong_credentials_fail_clearly_without_leaking_the_secret(seaweedfs, monkeypatch, tmp_path, caplog):
    bucket = new_bucket(seaweedfs)
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "definitely-wrong-secret")
    _files(tmp_path, **{"a.txt": b"a"})
    caplog.set_level(logging.DEBUG)
    repo = get_artifact_repository(f"s3://{bucket}/root")
    with pytest.raises(MlflowException) as info:
        repo.log_artifact(tmp_path / "a.txt")
    assert info.value.error_code in ("PERMISSION_DENIED", "INTERNAL_ERROR")
    assert "Failed to log artifact" in info.value.message
    for text in (info.value.message, repr(repo), caplog.text):
        assert "definitely-wrong-secret" not in text


def test_changed_credentials_never_reuse_a_cached_client(seaweedfs, monkeypatch, tmp_path):
    bucket = new_bucket(seaweedfs)
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    _files(tmp_path, **{"a.txt": b"a"})
    get_artifact_repository(f"s3://{bucket}/root").log_artifact(tmp_path / "a.txt")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "rotated-away")
    with pytest.raises(MlflowException):
        get_artifact_repository(f"s3://{bucket}/root").log_artifact(tmp_path / "a.txt")


def test_unchanged_mlflow_code_logs_through_artifact_fs(server, bucket, tmp_path, monkeypatch):
    import mlflow
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("e2e", artifact_location=f"s3://{bucket}/mlruns")
        (tmp_path / "model").mkdir()
        (tmp_path / "model" / "weights.bin").write_bytes(b"\x01" * 1000)
        (tmp_path / "notes.txt").write_text("hello")
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_artifact(str(tmp_path / "notes.txt"))
            mlflow.log_artifacts(str(tmp_path / "model"), "model")
            mlflow.log_text("inline", "texts/inline.txt")
        client = MlflowClient()
        assert [(i.path, i.is_dir) for i in client.list_artifacts(run.info.run_id)] == [
            ("model", True),
            ("notes.txt", False),
            ("texts", True),
        ]
        local = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="model", dst_path=str(tmp_path / "dl")
        )
        assert (pathlib.Path(local) / "weights.bin").read_bytes() == b"\x01" * 1000
        assert isinstance(get_artifact_repository(run.info.artifact_uri), FsspecArtifactRepository)
        key = f"mlruns/{run.info.run_id}/artifacts/texts/inline.txt"
        assert server.boto3_client().get_object(Bucket=bucket, Key=key)["Body"].read() == b"inline"
    finally:
        mlflow.set_tracking_uri(None)
