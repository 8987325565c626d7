"""Bytes corrupted on the wire (issue 14): one byte flipped in a GET response body or in a
PUT / UploadPart request body by a proxy between artifact_fs and a real store, headers
untouched, with botocore's own CRC32 checksums on and off (S3-compatible stores are often
used with them off). Every transfer either fails with ``DATA_LOSS`` and leaves nothing
corrupted behind, or is retried to byte-identical data: never a silent success.
"""

from __future__ import annotations

import io
import os
import uuid

import boto3.s3.transfer
import fsspec
import pandas as pd
import pytest
from botocore.exceptions import ClientError
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

import artifact_fs as af
from artifact_fs import FsspecArtifactRepository, cli, integrity
from artifact_fs.backends.s3_client import S3_PART_SIZE_METADATA
from artifact_fs.errors import CorruptedInTransit, IntegrityError, error_code_for
from artifact_fs.protocols import RunsFileSystem

from .conftest import NEEDS_OBSTORE, new_bucket
from .corrupting_proxy import CorruptingProxy

MIB = 2**20
SDK_CHECKSUMS = {  # botocore's flexible checksums: the default, and off as S3-compatible setups often have them
    "sdk-crc32": "when_supported",
    "sdk-off": "when_required",
}


@pytest.fixture(params=sorted(SDK_CHECKSUMS))
def sdk_checksums(request, monkeypatch):
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", SDK_CHECKSUMS[request.param])
    monkeypatch.setenv("AWS_RESPONSE_CHECKSUM_VALIDATION", SDK_CHECKSUMS[request.param])
    return request.param


def _s3_behind_a_proxy(request, monkeypatch):
    """``(server, bucket, proxy)`` for ``request.param``: ``<server>[-<engine>]``."""
    name, _, engine = request.param.partition("-")
    if engine:
        monkeypatch.setenv("ARTIFACT_FS_ENGINE", engine)
    server = request.getfixturevalue(name)
    proxy = CorruptingProxy(server.endpoint_url)
    for name, value in {**server.env(), "MLFLOW_S3_ENDPOINT_URL": proxy.endpoint_url}.items():
        monkeypatch.setenv(name, value)
    return server, new_bucket(server), proxy


ENGINE_PARAMS = [
    "seaweedfs-fsspec",
    "moto-fsspec",
    pytest.param("seaweedfs-obstore", marks=NEEDS_OBSTORE),
    pytest.param("moto-obstore", marks=NEEDS_OBSTORE),
]


@pytest.fixture(params=ENGINE_PARAMS)
def s3(request, monkeypatch, sdk_checksums):
    """``(server, bucket, proxy)``: a fresh bucket on SeaweedFS (refuses a bad Content-MD5)
    or moto (ignores it), reached by artifact_fs through a corrupting proxy."""
    server, bucket, proxy = _s3_behind_a_proxy(request, monkeypatch)
    yield server, bucket, proxy
    proxy.close()


@pytest.fixture(params=ENGINE_PARAMS)
def s3_any_engine(request, monkeypatch, sdk_checksums):
    """:func:`s3` (both engines), for the file transfers of the one core (repository,
    ``af.cp``, the CLI)."""
    server, bucket, proxy = _s3_behind_a_proxy(request, monkeypatch)
    yield server, bucket, proxy
    proxy.close()


def stored(server, bucket: str, key: str) -> bytes | None:
    """The object's bytes read straight from the store (no proxy), None if there is none."""
    try:
        return server.boto3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise


def random_file(path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


# --- repository downloads ---------------------------------------------------------------


@pytest.mark.parametrize("size", [1 * MIB, 24 * MIB], ids=["1MiB", "24MiB-multipart"])
def test_a_corrupted_download_is_data_loss_or_retried_to_identical_bytes(s3_any_engine, tmp_path, monkeypatch, size):
    server, bucket, proxy = s3_any_engine
    data = random_file(tmp_path / "f.bin", size)
    FsspecArtifactRepository(f"s3://{bucket}/run").log_artifact(str(tmp_path / "f.bin"))

    monkeypatch.setenv("ARTIFACT_FS_RETRIES", "0")
    (tmp_path / "no-retry").mkdir()
    proxy.corrupt_next("response", "GET ")
    with pytest.raises(MlflowException) as info:
        FsspecArtifactRepository(f"s3://{bucket}/run").download_artifacts("f.bin", str(tmp_path / "no-retry"))
    assert info.value.error_code == "DATA_LOSS", info.value.message
    assert proxy.flipped and not proxy.armed
    assert list((tmp_path / "no-retry").iterdir()) == []  # nothing under the final name, no temporary left

    monkeypatch.delenv("ARTIFACT_FS_RETRIES")  # the default budget: one more attempt gets healthy bytes
    (tmp_path / "retried").mkdir()
    proxy.flipped.clear()
    proxy.corrupt_next("response", "GET ")
    got = FsspecArtifactRepository(f"s3://{bucket}/run").download_artifacts("f.bin", str(tmp_path / "retried"))
    assert len(proxy.flipped) == 1
    assert open(got, "rb").read() == data


def _copy(via: str, src: str, dst: str) -> None:
    """``af.cp`` or ``artifact-fs cp`` in this process; the CLI's failure leaves as its exit code."""
    if via == "af.cp":
        af.cp(src, dst, progress=False)
        return
    code = cli.main(["cp", "--no-progress", src, dst])
    if code != 0:
        raise OSError(f"artifact-fs cp exited with {code}")


@pytest.mark.parametrize("via", ["af.cp", "cli"])
@pytest.mark.parametrize("size", [1 * MIB, 24 * MIB], ids=["1MiB", "24MiB-multipart"])
def test_cp_refuses_corrupted_bytes_both_ways(s3_any_engine, tmp_path, monkeypatch, capsys, via, size):
    """``af.cp`` and ``artifact-fs cp`` take the repository's road: a corrupted download or
    upload fails (DATA_LOSS; the CLI exits non-zero) with nothing corrupted under the final
    name, and with the default budget a new attempt gets healthy bytes."""
    server, bucket, proxy = s3_any_engine
    data = random_file(tmp_path / "f.bin", size)
    monkeypatch.setenv("ARTIFACT_FS_RETRIES", "0")
    proxy.corrupt_next("request", "PUT " if size == MIB else "partNumber=2&")
    with pytest.raises(OSError) as info:
        _copy(via, str(tmp_path / "f.bin"), f"s3://{bucket}/up/f.bin")
    assert proxy.flipped and stored(server, bucket, "up/f.bin") is None
    if via == "af.cp":
        assert error_code_for(info.value) == "DATA_LOSS", repr(info.value)
    else:
        assert "IntegrityError" in capsys.readouterr().err
    _copy(via, str(tmp_path / "f.bin"), f"s3://{bucket}/up/f.bin")
    assert stored(server, bucket, "up/f.bin") == data

    proxy.corrupt_next("response", "GET ")
    (tmp_path / "down").mkdir()
    with pytest.raises(OSError):
        _copy(via, f"s3://{bucket}/up/f.bin", str(tmp_path / "down") + "/")
    assert list((tmp_path / "down").iterdir()) == []  # nothing under the final name, no temporary left
    monkeypatch.delenv("ARTIFACT_FS_RETRIES")
    proxy.corrupt_next("response", "GET ")
    _copy(via, f"s3://{bucket}/up/f.bin", str(tmp_path / "down") + "/")
    assert (tmp_path / "down" / "f.bin").read_bytes() == data


@pytest.mark.parametrize("uploader", ["boto3-8MiB-parts", "boto3-7MiB-parts"])
def test_multipart_objects_of_other_uploaders_are_verified_without_false_mismatches(
    s3, tmp_path, monkeypatch, uploader
):
    """No part size recorded: 8 MiB parts (boto3's and MLflow's default) are guessed; 7 MiB
    parts are found by asking the store each part's size. A healthy download passes, a
    corrupted one is refused."""
    server, bucket, proxy = s3
    data = random_file(tmp_path / "f.bin", 24 * MIB)
    part = {"boto3-8MiB-parts": 8 * MIB, "boto3-7MiB-parts": 7 * MIB}[uploader]
    config = boto3.s3.transfer.TransferConfig(multipart_threshold=part, multipart_chunksize=part)
    server.boto3_client().upload_file(str(tmp_path / "f.bin"), bucket, "run/f.bin", Config=config)
    etag = server.boto3_client().head_object(Bucket=bucket, Key="run/f.bin")["ETag"]
    assert etag.strip('"').endswith(f"-{-(-len(data) // part)}")
    monkeypatch.setenv("ARTIFACT_FS_RETRIES", "0")
    repo = FsspecArtifactRepository(f"s3://{bucket}/run")
    (tmp_path / "healthy").mkdir()
    assert open(repo.download_artifacts("f.bin", str(tmp_path / "healthy")), "rb").read() == data
    (tmp_path / "corrupted").mkdir()
    proxy.corrupt_next("response", "GET ")
    with pytest.raises(MlflowException) as info:
        repo.download_artifacts("f.bin", str(tmp_path / "corrupted"))
    assert info.value.error_code == "DATA_LOSS" and "multipart ETag" in info.value.message, info.value.message
    assert list((tmp_path / "corrupted").iterdir()) == []


# --- repository uploads -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "match"), [(1 * MIB, "PUT "), (24 * MIB, "partNumber=2&")], ids=["1MiB", "24MiB-multipart"]
)
def test_a_corrupted_upload_is_refused_with_nothing_under_its_name_or_retried(
    s3_any_engine, tmp_path, monkeypatch, size, match
):
    server, bucket, proxy = s3_any_engine
    data = random_file(tmp_path / "f.bin", size)

    monkeypatch.setenv("ARTIFACT_FS_RETRIES", "0")
    proxy.corrupt_next("request", match)
    with pytest.raises(MlflowException) as info:
        FsspecArtifactRepository(f"s3://{bucket}/run").log_artifact(str(tmp_path / "f.bin"))
    assert info.value.error_code == "DATA_LOSS", info.value.message
    assert proxy.flipped and not proxy.armed
    assert stored(server, bucket, "run/f.bin") is None  # refused by the store, or our own corrupted object deleted

    monkeypatch.delenv("ARTIFACT_FS_RETRIES")
    proxy.flipped.clear()
    proxy.corrupt_next("request", match)
    FsspecArtifactRepository(f"s3://{bucket}/run").log_artifact(str(tmp_path / "f.bin"))
    assert len(proxy.flipped) == 1
    assert stored(server, bucket, "run/f.bin") == data
    if size > 16 * MIB:  # a multipart upload records its part size for later downloads
        head = server.boto3_client().head_object(Bucket=bucket, Key="run/f.bin")
        assert head["Metadata"] == {S3_PART_SIZE_METADATA: str(8 * MIB)}


def test_a_corrupted_object_of_another_writer_is_reported_never_deleted_nor_retried(seaweedfs, monkeypatch, tmp_path):
    """Same size, other bytes, and an ETag our own upload never got back: another writer's
    object (last writer wins), not ours to delete; a new attempt would overwrite it."""
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    bucket = new_bucket(seaweedfs)
    data = random_file(tmp_path / "f.bin", 24 * MIB)
    repo = FsspecArtifactRepository(f"s3://{bucket}/run")
    repo.log_artifact(str(tmp_path / "f.bin"))
    other = bytes([data[0] ^ 1]) + data[1:]
    config = boto3.s3.transfer.TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB)
    seaweedfs.boto3_client().upload_fileobj(io.BytesIO(other), bucket, "run/f.bin", Config=config)
    with pytest.raises(IntegrityError, match="multipart ETag") as info:
        integrity.verify_uploads(repo.fs, repo.row, [(str(tmp_path / "f.bin"), repo._remote("f.bin"))], repo.policy)
    assert not isinstance(info.value, CorruptedInTransit)
    assert stored(seaweedfs, bucket, "run/f.bin") == other


@pytest.mark.parametrize("size", [1 * MIB, 24 * MIB], ids=["1MiB", "24MiB-multipart"])
def test_an_upload_that_differs_from_its_file_is_deleted_when_it_is_provably_ours(
    seaweedfs, monkeypatch, tmp_path, size
):
    """The object in the store is the one our own upload published (its ETag is the one our
    PUT / CompleteMultipartUpload got back) and it differs from the file: ours to delete, and
    the error is corruption in transit, which the retry budget sends again. (``full``: the
    default mode takes the store's confirmation of every body as it was sent, and the file
    is changed after the upload here to stand for bytes that differ.)"""
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ARTIFACT_FS_VERIFY", "full")
    bucket = new_bucket(seaweedfs)
    data = random_file(tmp_path / "f.bin", size)
    repo = FsspecArtifactRepository(f"s3://{bucket}/run")
    repo.log_artifact(str(tmp_path / "f.bin"))
    (tmp_path / "f.bin").write_bytes(bytes([data[0] ^ 1]) + data[1:])  # what reached the store differs now
    with pytest.raises(CorruptedInTransit, match="our own upload, deleted"):
        integrity.verify_uploads(repo.fs, repo.row, [(str(tmp_path / "f.bin"), repo._remote("f.bin"))], repo.policy)
    assert stored(seaweedfs, bucket, "run/f.bin") is None


# --- runs:// writes and reads -------------------------------------------------------------


@pytest.fixture
def run_on_s3(s3, monkeypatch, tracking_uri):
    """``(run_id, server, bucket, proxy, key prefix)``: a run in a sqlite tracking store whose
    artifacts live in the proxied bucket."""
    server, bucket, proxy = s3
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    client = MlflowClient()
    experiment = client.create_experiment(f"c-{uuid.uuid4().hex[:8]}", artifact_location=f"s3://{bucket}/m")
    run = client.create_run(experiment)
    prefix = run.info.artifact_uri.removeprefix(f"s3://{bucket}/")
    return run.info.run_id, server, bucket, proxy, prefix


STREAMED = pytest.mark.parametrize(
    ("size", "match"), [(1 * MIB, "PUT "), (12 * MIB, "partNumber=2&")], ids=["1MiB", "12MiB-multipart"]
)


@STREAMED
def test_a_corrupted_streamed_write_through_runs_publishes_nothing(run_on_s3, size, match):
    """A store that honours Content-MD5 (SeaweedFS) refuses the corrupted PUT or part; on one
    that ignores it (moto) the published object is found to be ours and corrupted, and deleted
    (artifact_fs.staging.StagedWrite): either way nothing corrupted stays under the name."""
    run_id, server, bucket, proxy, prefix = run_on_s3
    data = os.urandom(size)
    fs = RunsFileSystem()

    def write():
        with fs.open(f"runs://{run_id}/w.bin", "wb", block_size=5 * MIB) as f:
            for start in range(0, size, MIB):
                f.write(data[start : start + MIB])

    proxy.corrupt_next("request", match)
    with pytest.raises(OSError) as info:
        write()
    assert error_code_for(info.value) == "DATA_LOSS", repr(info.value)
    assert proxy.flipped and stored(server, bucket, f"{prefix}/w.bin") is None
    write()  # healthy again
    assert stored(server, bucket, f"{prefix}/w.bin") == data


@STREAMED
def test_a_corrupted_streamed_upload_in_the_tracking_server_publishes_nothing(s3, size, match):
    """The tracking server's streamed uploads (``log_artifact_from_stream``) share StagedWrite."""
    server, bucket, proxy = s3
    repo = FsspecArtifactRepository(f"s3://{bucket}/run")
    data = os.urandom(size)
    proxy.corrupt_next("request", match)
    with pytest.raises(MlflowException) as info:
        repo.log_artifact_from_stream(io.BytesIO(data), "s.bin", "d")
    assert info.value.error_code == "DATA_LOSS", info.value.message
    assert proxy.flipped and stored(server, bucket, "run/d/s.bin") is None
    repo.log_artifact_from_stream(io.BytesIO(data), "s.bin", "d")
    assert stored(server, bucket, "run/d/s.bin") == data


@STREAMED
def test_a_streamed_write_corrupted_on_its_way_is_found_and_deleted_by_verify_written(s3, size, match):
    """What a streamed write (no local file) checks once published: on a store that ignores
    Content-MD5 (moto) the store's ETag of the object, or of a part, is the MD5 of other
    bytes than were sent; the object is ours (its ETag is the one our upload got back) and
    is deleted. SeaweedFS refuses the corrupted body at once."""
    server, bucket, proxy = s3
    repo = FsspecArtifactRepository(f"s3://{bucket}/run")
    data = os.urandom(size)
    proxy.corrupt_next("request", match)
    f = repo.fs.open(f"{bucket}/run/w.bin", "wb", block_size=5 * MIB)
    try:
        for start in range(0, size, MIB):  # as artifact_fs.staging.StagedWrite writes a stream
            f.write(data[start : start + MIB])
        f.close()
    except OSError as refused:
        f.discard()  # a failed write publishes nothing (s3fs's close() would complete the upload)
        f.closed = True
        assert server.name == "seaweedfs" and error_code_for(refused) == "DATA_LOSS", repr(refused)
    else:
        with pytest.raises(CorruptedInTransit, match="our own upload, deleted"):
            integrity.verify_written(repo.fs, repo.row, f"{bucket}/run/w.bin", repo.policy)
    assert proxy.flipped and stored(server, bucket, "run/w.bin") is None
    with repo.fs.open(f"{bucket}/run/w.bin", "wb", block_size=5 * MIB) as f:
        f.write(data)
    integrity.verify_written(repo.fs, repo.row, f"{bucket}/run/w.bin", repo.policy)  # healthy: passes
    assert stored(server, bucket, "run/w.bin") == data


def test_fsspec_open_read_of_a_corrupted_response_raises_or_reads_healthy_bytes(run_on_s3, monkeypatch):
    run_id, server, bucket, proxy, prefix = run_on_s3
    data = os.urandom(3 * MIB)
    server.boto3_client().put_object(Bucket=bucket, Key=f"{prefix}/f.bin", Body=data)
    monkeypatch.setenv("ARTIFACT_FS_RETRIES", "0")
    proxy.corrupt_next("response", "GET ")
    with pytest.raises(IntegrityError):  # fetched whole (no bigger than a block), checked, refused
        with fsspec.open(f"runs://{run_id}/f.bin") as f:
            f.read()
    assert proxy.flipped
    monkeypatch.delenv("ARTIFACT_FS_RETRIES")
    proxy.corrupt_next("response", "GET ")
    with fsspec.open(f"runs://{run_id}/f.bin") as f:
        assert f.read() == data  # the corrupted fetch was fetched again
    # bigger than a block: hashed while read in order, the read reaching the end raises
    fs = RunsFileSystem()
    proxy.corrupt_next("response", "GET ", skip=1)
    try:
        with fs.open(f"runs://{run_id}/f.bin", block_size=MIB) as f:
            read = b""
            while chunk := f.read(256 * 1024):
                read += chunk
    except IntegrityError as refused:
        assert "read of" in str(refused)
    else:  # obstore's reader fetches ranges again: what it returned must be the object
        assert os.environ["ARTIFACT_FS_ENGINE"] == "obstore" and read == data
    assert not proxy.armed
    with fs.open(f"runs://{run_id}/f.bin", block_size=MIB) as f:
        assert f.read() == data


@pytest.mark.parametrize("size", [1 * MIB, 24 * MIB], ids=["1MiB", "24MiB-multipart"])
def test_runs_get_and_put_of_corrupted_bytes_are_refused(run_on_s3, monkeypatch, tmp_path, size):
    """``fs.get``/``fs.put`` on ``runs://`` (what dask and pyarrow's copy helpers call) go
    through the one transfer core: verified, retried, nothing corrupted under a final name."""
    run_id, server, bucket, proxy, prefix = run_on_s3
    fs = RunsFileSystem()
    data = random_file(tmp_path / "up.bin", size)
    monkeypatch.setenv("ARTIFACT_FS_RETRIES", "0")
    proxy.corrupt_next("request", "PUT ")
    with pytest.raises(OSError) as info:
        fs.put_file(str(tmp_path / "up.bin"), f"runs://{run_id}/up.bin")
    assert error_code_for(info.value) == "DATA_LOSS" and proxy.flipped
    assert stored(server, bucket, f"{prefix}/up.bin") is None
    fs.put_file(str(tmp_path / "up.bin"), f"runs://{run_id}/up.bin")
    assert stored(server, bucket, f"{prefix}/up.bin") == data
    proxy.corrupt_next("response", "GET ")
    with pytest.raises(IntegrityError):
        fs.get_file(f"runs://{run_id}/up.bin", str(tmp_path / "down.bin"))
    assert not (tmp_path / "down.bin").exists()  # nothing under the final name
    monkeypatch.delenv("ARTIFACT_FS_RETRIES")
    proxy.corrupt_next("response", "GET ")
    RunsFileSystem().get_file(f"runs://{run_id}/up.bin", str(tmp_path / "down.bin"))  # retried to healthy bytes
    assert (tmp_path / "down.bin").read_bytes() == data


def test_pandas_read_parquet_of_a_corrupted_response_raises_never_returns_wrong_data(run_on_s3, monkeypatch):
    run_id, _server, _bucket, proxy, _prefix = run_on_s3
    frame = pd.DataFrame({"x": range(200_000), "y": [f"row {i}" for i in range(200_000)]})
    frame.to_parquet(f"runs://{run_id}/t.parquet", compression=None)
    monkeypatch.setenv("ARTIFACT_FS_RETRIES", "0")
    proxy.corrupt_next("response", "GET ")
    with pytest.raises(OSError) as info:
        pd.read_parquet(f"runs://{run_id}/t.parquet")
    assert isinstance(info.value, IntegrityError) and error_code_for(info.value) == "DATA_LOSS"
    monkeypatch.delenv("ARTIFACT_FS_RETRIES")
    proxy.corrupt_next("response", "GET ")
    pd.testing.assert_frame_equal(pd.read_parquet(f"runs://{run_id}/t.parquet"), frame)
    assert not proxy.armed


# --- the verified read cache --------------------------------------------------------------


def cache_files(directory) -> list[str]:
    return sorted(name for _, _, names in os.walk(directory) for name in names)


def test_the_cache_never_stores_a_corrupted_copy(run_on_s3, monkeypatch, tmp_path):
    run_id, server, bucket, proxy, prefix = run_on_s3
    data = os.urandom(24 * MIB)
    config = boto3.s3.transfer.TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB)
    server.boto3_client().upload_fileobj(io.BytesIO(data), bucket, f"{prefix}/f.bin", Config=config)  # multipart
    monkeypatch.setenv("ARTIFACT_FS_RETRIES", "0")
    fs = RunsFileSystem(cache_dir=str(tmp_path / "cache"))
    proxy.corrupt_next("response", "GET ")
    with pytest.raises(IntegrityError):
        fs.open(f"runs://{run_id}/f.bin").read()
    assert cache_files(tmp_path / "cache") == []  # the corrupted first read never became an entry
    with fs.open(f"runs://{run_id}/f.bin") as f:  # the network is healthy again
        assert f.read() == data
    assert len(cache_files(tmp_path / "cache")) == 1
    monkeypatch.delenv("ARTIFACT_FS_RETRIES")
    fs = RunsFileSystem(cache_dir=str(tmp_path / "cache2"))
    proxy.corrupt_next("response", "GET ")
    with fs.open(f"runs://{run_id}/f.bin") as f:  # the fill is fetched again within the budget
        assert f.read() == data
    assert not proxy.armed and len(cache_files(tmp_path / "cache2")) == 1
