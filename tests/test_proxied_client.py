"""The client side of the proxied mode: ``mlflow-artifacts:`` (and the tracking server's
``http(s)`` artifact URLs) through artifact_fs's ``tracking_server`` row, against a real
``mlflow server`` that runs artifact_fs (on MLflow's app, and on artifact_fs's app with the
batch endpoints) and a stock one (MLflow's own repositories on the server:
``ARTIFACT_FS_BUILTIN_SCHEMES=*``), all proxying to SeaweedFS."""

from __future__ import annotations

import hashlib
import os

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

from artifact_fs.repository import FsspecArtifactRepository

from .conftest import SCRUBBED, bucket_objects, new_bucket, write_tree
from .recording_proxy import RecordingProxy
from .servers.mlflow import MLFLOW_CLIENT, mlflow_server

pytestmark = pytest.mark.s3

MiB = 2**20
TREE = {
    "model/weights.bin": os.urandom(300_000),
    "model/empty.bin": b"",
    "model/sub/deeper/z\u00e9ro.txt": b"0",
    "model/with space/na\u00efve r\u00e9sum\u00e9.txt": "caf\u00e9".encode(),
    "model/odd&name=1;plus+.json": b'{"k": 1}',
    **{f"model/many/f{i:03d}.txt": f"file {i}".encode() for i in range(40)},
}


@pytest.fixture(scope="module", params=["artifact_fs-server", "artifact_fs-app", "stock-server"])
def server(request, seaweedfs, tmp_path_factory):
    """A tracking server proxying to its own bucket: with artifact_fs on the server (on MLflow's
    app, or on artifact_fs's: ``--app-name artifact-fs``), or MLflow's own."""
    bucket = new_bucket(seaweedfs)
    env = {**seaweedfs.env(), "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    if request.param == "stock-server":
        env["ARTIFACT_FS_BUILTIN_SCHEMES"] = "*"
    app = "artifact-fs" if request.param == "artifact_fs-app" else None
    workdir = tmp_path_factory.mktemp(request.param)
    with mlflow_server(workdir, f"s3://{bucket}/mlartifacts", env, scrub=SCRUBBED, app_name=app) as running:
        yield running, bucket


def _digests(root) -> dict[str, str]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_proxied_schemes_are_artifact_fs_and_the_escape_hatch_gives_them_back(client, monkeypatch):
    run = client.create_run(client.create_experiment("schemes"))
    uri = run.info.artifact_uri
    assert uri.startswith("mlflow-artifacts:")
    repo = get_artifact_repository(uri)
    assert isinstance(repo, FsspecArtifactRepository)
    assert repo.fs.api_base_url == os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0"
    http_uri = MlflowArtifactsRepository.resolve_uri(uri, os.environ["MLFLOW_TRACKING_URI"])
    assert isinstance(get_artifact_repository(http_uri), FsspecArtifactRepository)
    monkeypatch.setenv(*next(iter(MLFLOW_CLIENT.items())))
    assert type(get_artifact_repository(uri)) is MlflowArtifactsRepository


def test_a_tree_round_trips_byte_for_byte(client, server, seaweedfs, tmp_path):
    running, bucket = server
    write_tree(tmp_path / "src", TREE)
    run = client.create_run(client.create_experiment("tree"))
    client.log_artifacts(run.info.run_id, str(tmp_path / "src" / "model"), "model")
    client.log_artifact(run.info.run_id, str(tmp_path / "src" / "model" / "weights.bin"))
    prefix = f"mlartifacts/{run.info.experiment_id}/{run.info.run_id}/artifacts/"
    stored = bucket_objects(seaweedfs, bucket, prefix)
    assert stored == {**TREE, "weights.bin": TREE["model/weights.bin"]}  # every name exactly as written
    listed = [(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run.info.run_id, "model/with space")]
    assert listed == [("model/with space/na\u00efve r\u00e9sum\u00e9.txt", False, 5)]
    local = client.download_artifacts(run.info.run_id, "model", str(tmp_path / "down"))
    assert _digests(tmp_path / "down" / "model") == _digests(tmp_path / "src" / "model")
    assert not [p for p in (tmp_path / "down").rglob("*") if ".tmp" in p.name or p.name.startswith(".")]
    assert local.endswith("model")


def test_many_files_are_in_flight_at_once_through_one_server(server, tmp_path, monkeypatch):
    running, _ = server
    proxy = RecordingProxy(running.url)  # client -> proxy -> server: counts requests in flight
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", proxy.endpoint_url)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-3f9a1c-secret")
        client = MlflowClient()
        run = client.create_run(client.create_experiment("parallel"))
        write_tree(tmp_path / "src", TREE)
        before = proxy.requests
        client.log_artifacts(run.info.run_id, str(tmp_path / "src" / "model" / "many"), "many")
        if running.app_name:  # the 40 files go as one batch (and a listing to check them)
            assert proxy.requests - before <= 4
            assert len(client.list_artifacts(run.info.run_id, "many")) == 40
        else:
            assert proxy.requests - before >= 40
            assert proxy.peak_in_flight >= 4, "files were sent one after another"
        # MLflow's own client credentials, as MLflow's client sends them, on every request
        assert proxy.authorizations == {"Bearer tok-3f9a1c-secret"}
        repo = get_artifact_repository(run.info.artifact_uri)
        assert "tok-3f9a1c-secret" not in repr(repo) + repr(repo.fs) + str(repo.resolved)
    finally:
        proxy.close()


def test_a_missing_artifact_and_a_server_that_is_gone_are_clear_errors(client, tmp_path, monkeypatch):
    run = client.create_run(client.create_experiment("errors"))
    repo = get_artifact_repository(run.info.artifact_uri)
    with pytest.raises(MlflowException) as missing:
        repo.download_artifacts("no/such/file.txt", str(tmp_path))
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert list(tmp_path.iterdir()) == []  # nothing partial left behind
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-gone-secret")
    monkeypatch.setenv("ARTIFACT_FS_RETRIES", "0")
    gone = get_artifact_repository("mlflow-artifacts://127.0.0.1:9/0/r/artifacts")  # the discard port
    (tmp_path / "a.txt").write_text("a")
    with pytest.raises(MlflowException) as down:
        gone.log_artifact(str(tmp_path / "a.txt"))
    assert down.value.error_code == "TEMPORARILY_UNAVAILABLE"
    assert "127.0.0.1:9" in down.value.message and "tok-gone-secret" not in down.value.message


@pytest.mark.parametrize("name", ["a#b.txt", "100%41.txt"])
def test_names_the_server_would_refuse_or_rename_are_refused_first(client, tmp_path, name):
    # MLflow's server answers '#' with "Invalid path" and decodes '%XX' a second time ('%41' -> 'A')
    run = client.create_run(client.create_experiment(f"refused-{name}"))
    (tmp_path / name).write_text("x")
    with pytest.raises(MlflowException, match="cannot carry") as info:
        client.log_artifact(run.info.run_id, str(tmp_path / name))
    assert name in info.value.message and client.list_artifacts(run.info.run_id) == []


def test_bad_proxied_uris_name_the_culprit(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///x.db")
    with pytest.raises(MlflowException, match="http\\(s\\) tracking URI"):
        get_artifact_repository("mlflow-artifacts:/0/r/artifacts").list_artifacts()
    with pytest.raises(MlflowException, match="names a port"):
        get_artifact_repository("mlflow-artifacts://5000/0/r")
    with pytest.raises(MlflowException, match="carries credentials") as info:
        get_artifact_repository("http://me:pw-secret@h/api/2.0/mlflow-artifacts/artifacts/x")
    assert "pw-secret" not in info.value.message


def test_big_files_go_in_parts_when_multipart_is_on(client, server, seaweedfs, tmp_path, monkeypatch):
    running, bucket = server
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(5 * MiB))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(5 * MiB))
    data = hashlib.shake_256(b"proxied-parts").digest(17 * MiB)
    (tmp_path / "big.bin").write_bytes(data)
    run = client.create_run(client.create_experiment("parts"))
    before = running.io_bytes()
    client.log_artifact(run.info.run_id, str(tmp_path / "big.bin"), "m")
    key = f"mlartifacts/{run.info.experiment_id}/{run.info.run_id}/artifacts/m/big.bin"
    head = seaweedfs.boto3_client().head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(data) and head["ETag"].strip('"').endswith("-4")  # 4 parts
    assert running.io_bytes() - before < 8 * MiB  # the parts went straight to the store
    path = client.download_artifacts(run.info.run_id, "m/big.bin", str(tmp_path / "down"))
    assert hashlib.sha256(open(path, "rb").read()).digest() == hashlib.sha256(data).digest()


def test_big_files_come_from_the_store_by_ranges_when_multipart_download_is_on(client, server, tmp_path, monkeypatch):
    running, _ = server
    data = hashlib.shake_256(b"proxied-ranges").digest(9 * MiB + 12345)
    (tmp_path / "big.bin").write_bytes(data)
    run = client.create_run(client.create_experiment("ranges"))
    client.log_artifact(run.info.run_id, str(tmp_path / "big.bin"), "m")
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE", str(2 * MiB))
    before = running.io_bytes()
    path = client.download_artifacts(run.info.run_id, "m", str(tmp_path / "down"))
    assert (tmp_path / "down" / "m" / "big.bin").read_bytes() == data and path.endswith("m")
    assert running.io_bytes() - before < 4 * MiB  # 5 ranges straight from the bucket, not through the server
    assert [p.name for p in (tmp_path / "down" / "m").iterdir()] == ["big.bin"]


def test_a_server_whose_store_cannot_take_parts_or_sign_gets_and_gives_the_file_whole(
    tmp_path_factory, tmp_path, monkeypatch
):
    destination = tmp_path_factory.mktemp("local-destination")
    stock = {"ARTIFACT_FS_BUILTIN_SCHEMES": "*"}  # MLflow's local repository: no multipart
    with mlflow_server(tmp_path_factory.mktemp("local-server"), str(destination), stock) as running:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", running.url)
        monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
        monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(MiB))
        data = os.urandom(3 * MiB)
        (tmp_path / "w.bin").write_bytes(data)
        client = MlflowClient()
        run = client.create_run(client.create_experiment("whole"))
        client.log_artifact(run.info.run_id, str(tmp_path / "w.bin"))
        [stored] = [p for p in destination.rglob("w.bin")]
        assert stored.read_bytes() == data
        # nor sign URLs: the download asked for ranges is proxied instead
        monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "true")
        path = client.download_artifacts(run.info.run_id, "w.bin", str(tmp_path / "down"))
        assert open(path, "rb").read() == data
