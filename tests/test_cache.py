"""The verified read cache on real stores: hits, misses, invalidation, other processes, no partial entries."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from mlflow import MlflowClient

import artifact_fs as af
from artifact_fs.errors import IntegrityError
from artifact_fs.integrity import TransferPolicy
from artifact_fs.protocols import RunsFileSystem
from artifact_fs.read_cache import ReadCache, download_through_cache

from .conftest import new_bucket


@pytest.fixture
def s3_run(seaweedfs, monkeypatch, tracking_uri):
    """A run whose artifacts live in a fresh SeaweedFS bucket: ``(run_id, bucket, key prefix)``."""
    for name, value in {**seaweedfs.env(), "MLFLOW_TRACKING_URI": tracking_uri}.items():
        monkeypatch.setenv(name, value)
    bucket = new_bucket(seaweedfs)
    client = MlflowClient()
    run = client.create_run(client.create_experiment(f"c-{uuid.uuid4().hex[:8]}", artifact_location=f"s3://{bucket}/m"))
    prefix = run.info.artifact_uri.removeprefix(f"s3://{bucket}/")
    return run.info.run_id, bucket, prefix


def cached_entries(directory) -> list[str]:
    return sorted(name for _, _, names in os.walk(directory) for name in names)


def test_second_read_is_a_hit_and_a_rewrite_is_a_miss(s3_run, seaweedfs, tmp_path):
    run_id, bucket, prefix = s3_run
    s3 = seaweedfs.boto3_client()
    s3.put_object(Bucket=bucket, Key=f"{prefix}/blob.bin", Body=b"A" * 1000)
    fs = RunsFileSystem(cache_dir=str(tmp_path / "cache"))
    for _ in range(2):
        with fs.open(f"runs://{run_id}/blob.bin") as f:
            assert f.read() == b"A" * 1000
    assert (fs.cache.misses, fs.cache.hits) == (1, 1)
    s3.put_object(Bucket=bucket, Key=f"{prefix}/blob.bin", Body=b"B" * 1000)  # same size, new content
    with fs.open(f"runs://{run_id}/blob.bin") as f:
        assert f.read() == b"B" * 1000, "a changed artifact is never served from the cache"
    assert (fs.cache.misses, fs.cache.hits) == (2, 1)
    assert len(cached_entries(tmp_path / "cache")) == 2 and not any(
        ".partial" in n for n in cached_entries(tmp_path / "cache")
    )


def test_another_process_reuses_the_entry(seaweedfs, monkeypatch, tmp_path):
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    bucket = new_bucket(seaweedfs)
    seaweedfs.boto3_client().put_object(Bucket=bucket, Key="t.txt", Body=b"shared")
    monkeypatch.setenv("ARTIFACT_FS_CACHE_DIR", str(tmp_path / "cache"))
    code = f"import artifact_fs as af, sys; af.cp('s3://{bucket}/t.txt', sys.argv[1], progress=False)"
    for attempt in ("first", "second"):
        subprocess.run([sys.executable, "-c", code, str(tmp_path / attempt)], timeout=120, check=True)
        if attempt == "first":
            (entry,) = [os.path.join(d, n) for d, _, names in os.walk(tmp_path / "cache") for n in names]
            with open(entry, "r+b") as f:
                f.write(b"S")  # marks the entry: the second process must read it rather than the store
    assert (tmp_path / "first").read_bytes() == b"shared"
    assert (tmp_path / "second").read_bytes() == b"Shared"


def test_cp_downloads_through_the_cache(s3_run, seaweedfs, tmp_path, monkeypatch):
    run_id, bucket, prefix = s3_run
    s3 = seaweedfs.boto3_client()
    for name in ("a.txt", "sub/b.txt"):
        s3.put_object(Bucket=bucket, Key=f"{prefix}/d/{name}", Body=name.encode())
    monkeypatch.setenv("ARTIFACT_FS_CACHE_DIR", str(tmp_path / "cache"))
    for attempt in ("one", "two"):
        af.cp(f"runs:/{run_id}/d", tmp_path / attempt, progress=False)
        assert (tmp_path / attempt / "sub" / "b.txt").read_bytes() == b"sub/b.txt"
    assert len(cached_entries(tmp_path / "cache")) == 2
    (tmp_path / "two" / "a.txt").write_bytes(b"edited locally")  # a copy, never the cache entry itself
    af.cp(f"runs:/{run_id}/d/a.txt", tmp_path / "three.txt", progress=False)
    assert (tmp_path / "three.txt").read_bytes() == b"a.txt"


def test_a_failed_fetch_leaves_no_entry(tmp_path):
    fs, path = af.filesystem(tmp_path / "store")
    fs.pipe_file(f"{path}/x.bin", b"12345")
    cache = ReadCache(tmp_path / "cache")

    def broken(remote, local):
        with open(local, "wb") as f:
            f.write(b"12")
        raise ConnectionError("the store went away")

    with pytest.raises(ConnectionError):
        cache.fetch(fs, f"{path}/x.bin", download=broken)
    assert cached_entries(tmp_path / "cache") == []
    assert open(cache.fetch(fs, f"{path}/x.bin"), "rb").read() == b"12345"


def test_a_store_with_no_version_field_is_never_cached(tmp_path):
    fs, path = af.filesystem(tmp_path / "store")
    assert ReadCache(tmp_path / "cache").key(fs, f"{path}/x", {"name": "x", "size": 3, "type": "file"}) is None


def test_download_artifacts_uses_the_cache(s3_run, seaweedfs, tmp_path, monkeypatch):
    run_id, bucket, prefix = s3_run
    s3 = seaweedfs.boto3_client()
    s3.put_object(Bucket=bucket, Key=f"{prefix}/model/w.bin", Body=b"W" * 100)
    monkeypatch.setenv("ARTIFACT_FS_CACHE_DIR", str(tmp_path / "cache"))
    client = MlflowClient()
    first = client.download_artifacts(run_id, "model", str(tmp_path))
    assert open(os.path.join(first, "w.bin"), "rb").read() == b"W" * 100
    assert len(cached_entries(tmp_path / "cache")) == 1
    entry = os.path.join(tmp_path / "cache", *[(d, n) for d, _, names in os.walk(tmp_path / "cache") for n in names][0])
    os.chmod(entry, 0o644)
    with open(entry, "r+b") as f:  # prove the second download is served from the entry
        f.write(b"C")
    (tmp_path / "second").mkdir()
    second = client.download_artifacts(run_id, "model/w.bin", str(tmp_path / "second"))
    assert open(second, "rb").read() == b"C" + b"W" * 99
    s3.put_object(Bucket=bucket, Key=f"{prefix}/model/w.bin", Body=b"V" * 100)  # changed: fetched again
    (tmp_path / "third").mkdir()
    third = client.download_artifacts(run_id, "model/w.bin", str(tmp_path / "third"))
    assert open(third, "rb").read() == b"V" * 100


def test_a_fill_whose_digest_differs_from_the_store_is_never_published(s3_run, seaweedfs, tmp_path):
    """Same size, one byte changed on the way: the size check alone would publish it."""
    run_id, bucket, prefix = s3_run
    seaweedfs.boto3_client().put_object(Bucket=bucket, Key=f"{prefix}/blob.bin", Body=b"A" * 1000)
    fs = RunsFileSystem(cache_dir=str(tmp_path / "cache"))
    target, _key, inner = fs.target(f"{run_id}/blob.bin")
    row = target.resolved.row
    info = target.fs.info(inner)

    def corrupting(remote, local):
        target.fs.get_file(remote, local)
        with open(local, "r+b") as f:
            f.write(b"B")

    with pytest.raises(IntegrityError, match="md5"):
        fs.cache.fetch(target.fs, inner, info, corrupting, row=row, policy=TransferPolicy(retries=0))
    with pytest.raises(IntegrityError, match="md5"):  # the batched fills of af.cp / download_artifacts
        download_through_cache(
            fs.cache,
            target.fs,
            [(inner, str(tmp_path / "out.bin"))],
            {inner: info},
            lambda batch: [corrupting(remote, local) for remote, local in batch],
            row=row,
        )
    assert cached_entries(tmp_path / "cache") == [] and not (tmp_path / "out.bin").exists()
    with fs.open(f"runs://{run_id}/blob.bin") as f:
        assert f.read() == b"A" * 1000
    assert len(cached_entries(tmp_path / "cache")) == 1
