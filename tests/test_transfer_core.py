"""The one transfer core (artifact_fs/core.py, artifact_fs/staging.py) on every path that moves
bytes: bounded temporary names, the transfer policy on ``af.cp`` and the CLI, and clean-up of
what interrupted transfers left behind (temporary names, open multipart uploads)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time

import fsspec
import pytest
from mlflow.exceptions import MlflowException

import artifact_fs as af
from artifact_fs import FsspecArtifactRepository, api, cli, integrity
from artifact_fs.errors import IntegrityError
from artifact_fs.paths import TEMP_PREFIX
from artifact_fs.staging import HOST_TAG, STALE_AFTER_SECONDS, debris_prefix, temp_name

from .conftest import NEEDS_OBSTORE, new_bucket
from .servers.common import free_ports

LONG_NAMES = ["n" * 251 + ".bin", "é" * 125 + ".bin"]  # 255 and 254 bytes (UTF-8): the longest names allowed


@pytest.fixture
def s3(seaweedfs, monkeypatch):
    """A new bucket on SeaweedFS with its settings in the environment."""
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    return seaweedfs, new_bucket(seaweedfs)


def _debris(parent, name: str) -> str:
    """What an interrupted transfer of ``name`` left in ``parent`` (a temporary name of it)."""
    return f"{parent}/{debris_prefix(name)}0badc0de.{name[:10]}"


@pytest.mark.parametrize("name", LONG_NAMES, ids=["255-bytes", "utf8-254-bytes"])
def test_names_up_to_255_bytes_upload_and_download(tmp_path, s3, name):
    assert len(name.encode()) <= 255
    source = tmp_path / "src"
    source.mkdir()
    (source / name).write_bytes(b"long name")
    for uri in (str(tmp_path / "store"), f"s3://{s3[1]}/run"):
        repo = FsspecArtifactRepository(uri)
        repo.log_artifact(str(source / name), "d")
        dst = tmp_path / f"dst-{len(os.listdir(tmp_path))}"
        dst.mkdir()
        local = repo.download_artifacts(f"d/{name}", str(dst))
        assert open(local, "rb").read() == b"long name"
        assert [p.name for p in (dst / "d").iterdir()] == [name]


def test_temporary_names_are_bounded_and_found_again():
    final = "root/d/" + "x" * 255
    first, second = temp_name(final), temp_name(final)
    assert first != second  # two writers never share one
    for temp in (first, second):
        base = temp.rpartition("/")[2]
        assert base.startswith(debris_prefix("x" * 255)) and len(base.encode()) <= 100


@pytest.mark.parametrize("how", ["batch", "one big file"])
def test_a_rerun_removes_what_an_interrupted_upload_left(tmp_path, how):
    store = tmp_path / "store"
    (store / "d").mkdir(parents=True)
    left = _debris(store / "d", "a.bin")
    other = _debris(store / "d", "b.bin")  # another file's: not this upload's business
    for path in (left, other):
        open(path, "wb").write(b"half")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(os.urandom(2**20 if how == "one big file" else 10))
    repo = FsspecArtifactRepository(str(store))
    if how == "batch":
        (src / "c.bin").write_bytes(b"c")
        repo.log_artifacts(str(src), "d")
    else:
        repo.log_artifact(str(src / "a.bin"), "d")
    assert not os.path.exists(left) and os.path.exists(other)
    assert (store / "d" / "a.bin").read_bytes() == (src / "a.bin").read_bytes()


@pytest.mark.parametrize("engine", ["fsspec", pytest.param("obstore", marks=NEEDS_OBSTORE)])
def test_a_rerun_aborts_the_interrupted_multipart_upload_of_the_same_key(tmp_path, s3, monkeypatch, engine):
    monkeypatch.setenv("ARTIFACT_FS_ENGINE", engine)
    server, bucket = s3
    client = server.boto3_client()
    stale = client.create_multipart_upload(Bucket=bucket, Key="run/big.bin")["UploadId"]
    client.upload_part(Bucket=bucket, Key="run/big.bin", UploadId=stale, PartNumber=1, Body=b"x" * 5 * 2**20)
    unrelated = client.create_multipart_upload(Bucket=bucket, Key="run/other.bin")["UploadId"]
    time.sleep(1.1)  # the stale upload began before this one (S3 times have 1 s resolution on some servers)
    (tmp_path / "big.bin").write_bytes(os.urandom(6 * 2**20))
    FsspecArtifactRepository(f"s3://{bucket}/run").log_artifact(str(tmp_path / "big.bin"))
    left = {u["UploadId"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}
    assert stale not in left and unrelated in left
    client.abort_multipart_upload(Bucket=bucket, Key="run/other.bin", UploadId=unrelated)


def test_runs_style_writes_and_streams_remove_earlier_debris(tmp_path):
    store = tmp_path / "store"
    (store / "d").mkdir(parents=True)
    left = _debris(store / "d", "t.txt")
    open(left, "wb").write(b"half")
    repo = FsspecArtifactRepository(str(store))
    body = os.urandom(2**20)  # a stream this big sweeps its directory once published
    repo.log_artifact_from_stream(io.BytesIO(body), "t.txt", "d")
    assert os.listdir(store / "d") == ["t.txt"] and (store / "d" / "t.txt").read_bytes() == body


def test_a_small_streamed_upload_confirmed_on_receipt_costs_one_request(s3, monkeypatch):
    # the tracking server's streamed PUT of a small file: the store's answer (ETag = the MD5 sent
    # with the body) confirms the bytes; no second request asks for the object again
    from .recording_proxy import RecordingProxy

    server, bucket = s3
    proxy = RecordingProxy(server.endpoint_url)
    try:
        monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", proxy.endpoint_url)
        repo = FsspecArtifactRepository(f"s3://{bucket}/run")
        body = os.urandom(4096)
        repo.log_artifact_from_stream(io.BytesIO(body), "small.bin", "d")
        before = proxy.requests
        repo.log_artifact_from_stream(io.BytesIO(body[::-1]), "other.bin", "d")
        assert proxy.requests - before == 1
    finally:
        proxy.close()
    objects = server.boto3_client().list_objects_v2(Bucket=bucket, Prefix="run/d/")["Contents"]
    assert sorted((o["Key"], o["Size"]) for o in objects) == [("run/d/other.bin", 4096), ("run/d/small.bin", 4096)]


def _writer_debris(parent, name: str, host: str, pid: int) -> str:
    """A temporary name of ``name`` written by process ``pid`` of the machine tagged ``host``."""
    path = f"{parent}/{debris_prefix(name)}beef{host}x{pid:x}.{name[:10]}"
    open(path, "wb").write(b"half")
    return path


def test_a_sweep_spares_what_another_live_writer_may_still_be_writing(tmp_path):
    # eight processes logging one file into one run: none may sweep another's staged file away
    store = tmp_path / "store"
    (store / "d").mkdir(parents=True)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        live = _writer_debris(store / "d", "t.bin", HOST_TAG, alive.pid)
        gone = _writer_debris(store / "d", "t.bin", HOST_TAG, dead.pid)
        far_fresh = _writer_debris(store / "d", "t.bin", "0000" if HOST_TAG != "0000" else "ffff", 1)
        far_old = _writer_debris(store / "d", "t.bin", "0000" if HOST_TAG != "0000" else "ffff", 2)
        old = time.time() - STALE_AFTER_SECONDS - 60
        os.utime(far_old, (old, old))
        (tmp_path / "t.bin").write_bytes(os.urandom(2**20))  # big enough to sweep after itself
        FsspecArtifactRepository(str(store)).log_artifact(str(tmp_path / "t.bin"), "d")
        left = sorted(os.listdir(store / "d"))
        assert left == sorted(["t.bin", *(os.path.basename(p) for p in (live, far_fresh))])
        assert os.path.basename(gone) not in left and os.path.basename(far_old) not in left
    finally:
        alive.kill()
        alive.wait()


# --- af.cp and the CLI take the repository's transfer policy ------------------------------


def _replace_after_planning(monkeypatch, replace):
    """The store's object changes between the listing af.cp trusts and the transfer (a real race, timed)."""
    planned = api._plan

    def plan_then_replace(*args, **kwargs):
        found = planned(*args, **kwargs)
        replace()
        return found

    monkeypatch.setattr(api, "_plan", plan_then_replace)


@pytest.mark.parametrize("via", ["af.cp", "cli"])
def test_cp_downloads_are_verified(tmp_path, s3, monkeypatch, capsys, via):
    server, bucket = s3
    client = server.boto3_client()
    client.put_object(Bucket=bucket, Key="run/a.txt", Body=b"the bytes that were logged")
    _replace_after_planning(
        monkeypatch, lambda: client.put_object(Bucket=bucket, Key="run/a.txt", Body=b"THE BYTES THAT WERE LOGGED")
    )
    dst = tmp_path / "dst"
    dst.mkdir()
    if via == "af.cp":
        with pytest.raises(IntegrityError, match="md5"):
            af.cp(f"s3://{bucket}/run/a.txt", str(dst) + "/", progress=False)
    else:
        assert cli.main(["cp", "--no-progress", f"s3://{bucket}/run/a.txt", str(dst) + "/"]) != 0
        assert "IntegrityError" in capsys.readouterr().err
    assert list(dst.iterdir()) == []  # nothing under the final name, no temporary left


def test_cp_uploads_are_verified_and_use_the_retry_budget(tmp_path, monkeypatch, caplog):
    (port,) = free_ports(1)  # nothing listens there: every attempt is refused at once
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("ARTIFACT_FS_RETRIES", "2")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("a")  # a directory: planning needs no request to the store
    with pytest.raises(ConnectionError, match="gave up after 3 attempts; ARTIFACT_FS_RETRIES=2"):
        af.cp(str(tmp_path / "src"), "s3://bucket/run", progress=False)
    assert len([r for r in caplog.records if r.name == "artifact_fs.integrity"]) == 2


def test_cp_honours_the_verify_setting(tmp_path, s3, monkeypatch):
    monkeypatch.setenv("ARTIFACT_FS_VERIFY", "md5")  # not a mode: the policy is read, and refused
    (tmp_path / "a.txt").write_text("a")
    with pytest.raises(ValueError, match="ARTIFACT_FS_VERIFY"):
        af.cp(str(tmp_path / "a.txt"), f"s3://{s3[1]}/run/a.txt", progress=False)


def test_cp_full_verification_reads_uploads_back(tmp_path, s3, monkeypatch):
    monkeypatch.setenv("ARTIFACT_FS_VERIFY", "full")
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for i in range(12):
        (src / "d" / f"f{i}.bin").write_bytes(os.urandom(1000 + i))
    result = af.cp(str(src), f"s3://{s3[1]}/copy", progress=False)
    assert result.files == 12
    fs = fsspec.filesystem("s3", **s3[0].storage_options())
    assert sorted(p.rpartition("/")[2] for p in fs.find(f"{s3[1]}/copy")) == sorted(f"f{i}.bin" for i in range(12))


def test_store_to_store_copy_goes_through_the_core_both_ways(tmp_path, s3):
    store = tmp_path / "store"
    (store / "d").mkdir(parents=True)
    (store / "d" / "x.bin").write_bytes(b"x" * 1000)
    af.cp(str(store), f"s3://{s3[1]}/a", progress=False)
    af.cp(f"s3://{s3[1]}/a", str(tmp_path / "back"), progress=False)
    assert (tmp_path / "back" / "d" / "x.bin").read_bytes() == b"x" * 1000
    assert not [p for p in (tmp_path / "back").rglob(f"{TEMP_PREFIX}*")]


def test_a_bad_policy_fails_the_repository_too(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTIFACT_FS_RETRIES", "-1")
    with pytest.raises(MlflowException, match="ARTIFACT_FS_RETRIES"):
        FsspecArtifactRepository(str(tmp_path / "store"))
    assert integrity.DEFAULT_RETRIES == 2


# --- the one delete policy: names are names, never glob patterns ---------------------------


@pytest.mark.parametrize("pattern", ["?", "[x]", "*"])
def test_deleting_a_directory_named_like_a_glob_deletes_only_it(tmp_path, s3, pattern):
    (tmp_path / "f.txt").write_text("f")
    for uri in (str(tmp_path / "store"), f"s3://{s3[1]}/run"):
        repo = FsspecArtifactRepository(uri)
        for directory in (pattern, "x", "y"):
            repo.log_artifact(str(tmp_path / "f.txt"), directory)
        repo.delete_artifacts(pattern)
        assert [i.path for i in repo.list_artifacts()] == ["x", "y"], uri
        af.rm(f"{uri}/x", recursive=True)
        assert [i.path for i in repo.list_artifacts()] == ["y"], uri
