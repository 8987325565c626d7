"""GCS (``gs://``) through gcsfs against a real fake-gcs-server: the contract, MLflow's GCS
settings observed on the wire, a hung server, and unchanged MLflow code end to end.

The emulator is reached the way a user reaches one: ``STORAGE_EMULATOR_HOST`` (which
also means anonymous requests, as with google-cloud-storage) and ``GOOGLE_CLOUD_PROJECT``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pathlib
import time
import uuid

import aiohttp
import fsspec.config
import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from artifact_fs import FsspecArtifactRepository, resolve

from .contract import RepositoryContract
from .gcs_xml_shim import GCSXMLShim
from .servers.gcs import gcs_server

MiB = 1024 * 1024
TIMEOUT_BOUND = 60  #: seconds a call on a hung server may take before the test calls it a hang


@pytest.fixture
def private_gcs(tmp_path_factory):
    """A fake-gcs-server of this test's own (it may be paused or filled with big objects)."""
    # Not conftest's ``fake_gcs``: it is SIGSTOPped, or holds 100 MiB objects in memory until it stops.
    with gcs_server(tmp_path_factory.mktemp("gcs-private"), reuse=False) as server:
        yield server


def _use(server, monkeypatch) -> str:
    """Point the environment at ``server`` and return a fresh bucket on it."""
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    bucket = f"t-{uuid.uuid4().hex[:16]}"
    server.create_bucket(bucket)
    return bucket


@pytest.fixture
def bucket(fake_gcs, monkeypatch):
    return _use(fake_gcs, monkeypatch)


class TestGCS(RepositoryContract):
    @pytest.fixture
    def container_uri(self, bucket):
        return f"gs://{bucket}"

    @pytest.fixture
    def artifact_uri(self, bucket):
        return f"gs://{bucket}/mlruns/1/run/artifacts"


class TestGCSBucketRoot(RepositoryContract):
    """The artifact root is the bucket itself: nothing may ever delete the bucket."""

    @pytest.fixture
    def container_uri(self, bucket):
        return f"gs://{bucket}"

    @pytest.fixture
    def artifact_uri(self, bucket):
        return f"gs://{bucket}"

    def test_delete_everything_keeps_the_bucket(self, repo, source, bucket, fake_gcs):
        repo.log_artifacts(source)
        repo.delete_artifacts()
        assert fake_gcs.objects(bucket) == {}
        repo.log_artifact(source / "a.txt")  # the bucket is still there
        assert list(fake_gcs.objects(bucket)) == ["a.txt"]


# --- the same contract on the obstore engine ----------------------------------------------------


@pytest.fixture(scope="module")
def gcs_shim(fake_gcs):
    """fake-gcs-server lacks GCS's XML upload API, which obstore uploads through: the shim
    translates those requests and forwards every other one (tests/gcs_xml_shim.py)."""
    shim = GCSXMLShim(fake_gcs.endpoint_url)
    yield shim
    shim.close()


@pytest.fixture
def obstore_bucket(fake_gcs, gcs_shim, monkeypatch):
    bucket = _use(fake_gcs, monkeypatch)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_shim.endpoint_url)
    monkeypatch.setenv("ARTIFACT_FS_ENGINE", "obstore")
    return bucket


class TestGCSObstore(TestGCS):
    @pytest.fixture
    def bucket(self, obstore_bucket):
        return obstore_bucket

    def test_the_engine_and_its_digest(self, repo, source, bucket, fake_gcs, gcs_shim):
        translated = gcs_shim.translated
        repo.log_artifact(source / "a.txt")
        assert type(repo.fs).__name__ == "ObstoreGCSFileSystem" and gcs_shim.translated == translated + 1
        listed = repo.fs.info(f"{bucket}/mlruns/1/run/artifacts/a.txt")
        stored = fake_gcs.objects(bucket)["mlruns/1/run/artifacts/a.txt"]
        assert listed["md5"] == base64.b64decode(stored["md5Hash"]).hex() == hashlib.md5(b"a").hexdigest()
        assert stored["contentType"] == "text/plain"


class TestGCSBucketRootObstore(TestGCSBucketRoot):
    @pytest.fixture
    def bucket(self, obstore_bucket):
        return obstore_bucket


# --- observing gcsfs's HTTP requests ------------------------------------------------------


@pytest.fixture
def requests_seen(monkeypatch):
    """Every HTTP request gcsfs sends, as ``(method, url, headers)``.

    Recorded with aiohttp's own tracing hooks, handed to gcsfs through fsspec's
    configuration for the protocol (``session_kwargs``), the layer a user's
    ``~/.config/fsspec`` feeds: nothing in gcsfs or aiohttp is replaced.
    """
    seen: list[tuple[str, str, dict]] = []

    async def on_request_start(session, context, params):
        seen.append((params.method, str(params.url), dict(params.headers)))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    monkeypatch.setitem(fsspec.config.conf, "gcs", {"session_kwargs": {"trace_configs": [trace]}})
    return seen


def _sha256(path) -> str:
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def _random_file(path: pathlib.Path, size: int) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        remaining = size
        while remaining:
            block = os.urandom(min(remaining, 4 * MiB))
            handle.write(block)
            remaining -= len(block)
    return path


def _content_range_sizes(seen, name: str) -> list[int]:
    """Sizes of the resumable-upload chunks sent for object ``name`` (from Content-Range)."""
    sizes = []
    for method, url, headers in seen:
        if method == "POST" and "upload_id=" in url and f"name={name}" in url and "Content-Range" in headers:
            first, last = headers["Content-Range"].split()[1].split("/")[0].split("-")
            sizes.append(int(last) - int(first) + 1)
    return sizes


@pytest.mark.parametrize("chunk", [1 * MiB, 2 * MiB])
def test_upload_chunk_size_sets_the_resumable_chunks(bucket, requests_seen, monkeypatch, tmp_path, chunk):
    # gcsfs uploads files under 5 MiB in one request whatever the chunk size, so 6 MiB + 17.
    size = 6 * MiB + 17
    local = _random_file(tmp_path / "weights.bin", size)
    monkeypatch.setenv("MLFLOW_GCS_UPLOAD_CHUNK_SIZE", str(chunk))
    repo = get_artifact_repository(f"gs://{bucket}/run")
    repo.log_artifact(local, "model")
    sizes = _content_range_sizes(requests_seen, "run/model/weights.bin")
    assert sizes == [chunk] * (size // chunk) + [size % chunk]
    dst = tmp_path / "dst"
    dst.mkdir()
    assert _sha256(repo.download_artifacts("model/weights.bin", str(dst))) == _sha256(local)


def test_downloads_are_one_streamed_get_by_default(private_gcs, requests_seen, monkeypatch, tmp_path):
    bucket = _use(private_gcs, monkeypatch)
    size = 100 * MiB + 5
    local = _random_file(tmp_path / "big.bin", size)
    repo = get_artifact_repository(f"gs://{bucket}/run")
    repo.log_artifact(local)
    requests_seen.clear()
    dst = tmp_path / "dst"
    dst.mkdir()
    assert _sha256(repo.download_artifacts("big.bin", str(dst))) == _sha256(local)
    gets = [headers for method, url, headers in requests_seen if method == "GET" and "alt=media" in url]
    assert len(gets) == 1 and "Range" not in gets[0], gets


def test_upload_without_chunk_setting_uses_gcsfs_default(bucket, requests_seen, tmp_path):
    local = _random_file(tmp_path / "weights.bin", 6 * MiB + 17)
    get_artifact_repository(f"gs://{bucket}/run").log_artifact(local)
    assert _content_range_sizes(requests_seen, "run/weights.bin") == [6 * MiB + 17]


def test_download_chunk_size_sets_the_ranged_reads(private_gcs, requests_seen, monkeypatch, tmp_path):
    # The chunk size is the size of each ranged read when more than one part is in flight
    # (artifact_fs's default is one streamed GET); gcsfs reads in ranges only above 100 MiB.
    bucket = _use(private_gcs, monkeypatch)
    monkeypatch.setenv("ARTIFACT_FS_PARTS_IN_FLIGHT", "4")
    size = 100 * MiB + 5
    local = _random_file(tmp_path / "big.bin", size)
    monkeypatch.setenv("MLFLOW_GCS_UPLOAD_CHUNK_SIZE", str(16 * MiB))
    get_artifact_repository(f"gs://{bucket}/run").log_artifact(local)
    for chunk in (4 * MiB, 6 * MiB):
        monkeypatch.setenv("MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE", str(chunk))
        requests_seen.clear()
        dst = tmp_path / f"dst-{chunk}"
        dst.mkdir()
        downloaded = get_artifact_repository(f"gs://{bucket}/run").download_artifacts("big.bin", str(dst))
        assert _sha256(downloaded) == _sha256(local)
        ranges = [headers["Range"] for method, url, headers in requests_seen if method == "GET" and "Range" in headers]
        # gcsfs reads the object chunk by chunk through fsspec's prefetcher, which widens
        # later requests on its own; the first read is exactly one chunk.
        assert ranges[0] == f"bytes=0-{chunk - 1}", ranges[:3]


def test_content_type_is_guessed_and_archives_come_back_byte_for_byte(bucket, fake_gcs, tmp_path):
    import gzip

    src = tmp_path / "src"
    src.mkdir()
    (src / "m.json").write_text("{}")
    (src / "page.html").write_text("<p>")
    archive = gzip.compress(b"tar bytes " * 100)
    (src / "bundle.tar.gz").write_bytes(archive)
    repo = get_artifact_repository(f"gs://{bucket}/run")
    repo.log_artifacts(src)
    objects = fake_gcs.objects(bucket)
    assert objects["run/m.json"]["contentType"] == "application/json"
    assert objects["run/page.html"]["contentType"] == "text/html"
    assert objects["run/bundle.tar.gz"]["contentType"] == "application/x-tar"
    assert not objects["run/bundle.tar.gz"].get("contentEncoding")  # else served decompressed
    dst = tmp_path / "dst"
    dst.mkdir()
    assert pathlib.Path(repo.download_artifacts("bundle.tar.gz", str(dst))).read_bytes() == archive


def test_an_emulator_means_anonymous_unless_credentials_are_given():
    emulator = {"STORAGE_EMULATOR_HOST": "http://127.0.0.1:4443"}
    assert resolve("gs://b/p", env=emulator).storage_options["token"] == "anon"
    with_key = {**emulator, "GOOGLE_APPLICATION_CREDENTIALS": "/keys/sa.json"}
    assert resolve("gs://b/p", env=with_key).storage_options["token"] == "/keys/sa.json"
    assert "token" not in resolve("gs://b/p", env={}).storage_options  # gcsfs's own credential chain


def test_missing_bucket_is_named_by_listings_and_downloads_fail_clearly(fake_gcs, monkeypatch, tmp_path):
    _use(fake_gcs, monkeypatch)
    repo = get_artifact_repository("gs://no-such-bucket-artifact-fs/root")
    with pytest.raises(MlflowException) as listed:
        repo.list_artifacts()  # a mistyped bucket is no empty run
    assert listed.value.error_code == "RESOURCE_DOES_NOT_EXIST" and "no-such-bucket-artifact-fs" in listed.value.message
    with pytest.raises(MlflowException) as info:
        repo.download_artifacts("x.txt", str(tmp_path))
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


# --- timeouts -----------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT", "MLFLOW_GCS_DEFAULT_TIMEOUT"])
def test_a_hung_server_fails_within_the_timeout(private_gcs, monkeypatch, tmp_path, variable):
    bucket = _use(private_gcs, monkeypatch)
    monkeypatch.setenv(variable, "3")
    repo = get_artifact_repository(f"gs://{bucket}/run")
    (tmp_path / "a.txt").write_text("a")
    repo.log_artifact(tmp_path / "a.txt")  # connected and working
    assert repo.fs.requests_timeout == 3
    with private_gcs.paused():
        for call in (repo.list_artifacts, lambda: repo.log_artifact(tmp_path / "a.txt", "again")):
            started = time.monotonic()
            with pytest.raises(MlflowException) as info:
                returned = call()
                pytest.fail(f"{call} returned {returned!r} with the server stopped")
            elapsed = time.monotonic() - started
            assert elapsed < TIMEOUT_BOUND, f"took {elapsed:.1f} s"
            assert info.value.error_code == "TEMPORARILY_UNAVAILABLE"
            print(f"{variable}=3: failed after {elapsed:.1f} s")
    # Resumed, the same repository works again. (The upload that timed out may still have
    # completed: its request was already in the server's socket buffer.)
    assert "a.txt" in [i.path for i in repo.list_artifacts()]


def test_timeout_minus_one_means_none(fake_gcs, monkeypatch):
    _use(fake_gcs, monkeypatch)
    monkeypatch.setenv("MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT", "-1")
    repo = get_artifact_repository("gs://b/run")
    assert repo.fs.requests_timeout is None


# --- MLflow end to end --------------------------------------------------------------------

TREE = {
    "model/weights.bin": os.urandom(300_000),
    "model/empty.bin": b"",
    "model/.config": b"dot-file",
    "model/sub/deeper/z\u00e9ro.txt": b"",
    "model/donn\u00e9es/na\u00efve r\u00e9sum\u00e9.txt": "caf\u00e9".encode(),
    "model/\u65e5\u672c\u8a9e.json": b'{"k": 1}',
}


def test_unchanged_mlflow_code_logs_through_artifact_fs(bucket, fake_gcs, tmp_path, monkeypatch):
    import mlflow
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    src = tmp_path / "src"
    for name, data in TREE.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("gcs-e2e", artifact_location=f"gs://{bucket}/mlruns")
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_artifacts(str(src / "model"), "model")
            mlflow.log_text("inline", "texts/inline.txt")
        client = MlflowClient()
        assert [(i.path, i.is_dir) for i in client.list_artifacts(run.info.run_id)] == [
            ("model", True),
            ("texts", True),
        ]
        listed = {(i.path, i.is_dir, i.file_size) for i in client.list_artifacts(run.info.run_id, "model")}
        assert ("model/empty.bin", False, 0) in listed and ("model/.config", False, 8) in listed
        assert ("model/donn\u00e9es", True, None) in listed and ("model/sub", True, None) in listed
        local = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="model", dst_path=str(tmp_path / "dl")
        )
        downloaded = {
            str(path.relative_to(local)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in pathlib.Path(local).rglob("*") if path.is_file()
        }  # fmt: skip
        expected = {name.removeprefix("model/"): hashlib.sha256(data).hexdigest() for name, data in TREE.items()}
        assert downloaded == expected
        prefix = f"mlruns/{run.info.run_id}/artifacts/"
        assert set(fake_gcs.objects(bucket)) == {prefix + name for name in TREE} | {prefix + "texts/inline.txt"}
        repo = get_artifact_repository(run.info.artifact_uri)
        assert isinstance(repo, FsspecArtifactRepository)
        repo.delete_artifacts("model")
        assert [i.path for i in client.list_artifacts(run.info.run_id)] == ["texts"]
        repo.delete_artifacts()
        assert fake_gcs.objects(bucket) == {}
    finally:
        mlflow.set_tracking_uri(None)
