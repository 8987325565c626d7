"""Batched transfers through ``mlflow server --app-name artifact-fs``: many small files in a
few requests, on a real tracking server proxying to SeaweedFS (uvicorn, MLflow's default,
and gunicorn, where the app is MLflow's Flask one). The client's side is
``backends/tracking_server_batches.py``, the server's ``server_app.py`` and ``server_batches.py``."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile

import pytest
import requests
from mlflow import MlflowClient
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from artifact_fs.backends.tracking_server_batches import BODY_MD5_HEADER, SMALL_FILE

from .conftest import SCRUBBED, bucket_objects, new_bucket, write_tree
from .corrupting_proxy import CorruptingProxy
from .recording_proxy import RecordingProxy
from .servers.mlflow import mlflow_server

pytestmark = pytest.mark.s3

MiB = 2**20
TREE = {
    **{f"ckpt/shard-{i:03d}.bin": hashlib.shake_256(f"s{i}".encode()).digest(1000 + 37 * i) for i in range(120)},
    "ckpt/nested/deeper/r\u00e9sum\u00e9 final.txt": "caf\u00e9".encode(),
    "ckpt/empty.bin": b"",
    "ckpt/odd&name=1;plus+.json": b'{"k": 1}',
    "ckpt/big/weights.bin": hashlib.shake_256(b"big").digest(SMALL_FILE + 12345),  # one request of its own
}


@pytest.fixture(scope="module", params=["uvicorn", "gunicorn"])
def server(request, seaweedfs, tmp_path_factory):
    """A tracking server on artifact_fs's app, proxying to its own bucket."""
    bucket = new_bucket(seaweedfs)
    env = {**seaweedfs.env(), "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    options = ("--gunicorn-opts", "--timeout 120") if request.param == "gunicorn" else ()
    workdir = tmp_path_factory.mktemp(f"batches-{request.param}")
    with mlflow_server(
        workdir, f"s3://{bucket}/mlartifacts", env, scrub=SCRUBBED, app_name="artifact-fs", options=options
    ) as running:
        yield running, bucket


def _files(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _tar(members: list[tuple[str, bytes]], kind: bytes = tarfile.REGTYPE) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            if kind != tarfile.REGTYPE:
                info.linkname = "/etc/passwd"
            archive.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return out.getvalue()


def _post_upload(url: str, path: str, body: bytes, md5: str | None = None) -> requests.Response:
    headers = {BODY_MD5_HEADER: md5 if md5 is not None else hashlib.md5(body).hexdigest()}
    return requests.post(f"{url}/api/2.0/artifact-fs/batches/upload", params={"path": path}, data=body, headers=headers)


def test_a_tree_of_small_files_goes_in_a_few_requests_and_round_trips(client, server, seaweedfs, tmp_path):
    running, bucket = server
    write_tree(tmp_path / "src", TREE)
    proxy = RecordingProxy(running.url)  # client -> proxy -> server: counts the requests
    try:
        os.environ["MLFLOW_TRACKING_URI"] = proxy.endpoint_url  # the client fixture's monkeypatch restores it
        run = client.create_run(client.create_experiment("batched-tree"))
        before = proxy.requests
        client.log_artifacts(run.info.run_id, str(tmp_path / "src" / "ckpt"), "ckpt")
        sent = proxy.requests - before
        prefix = f"mlartifacts/{run.info.experiment_id}/{run.info.run_id}/artifacts/"
        assert bucket_objects(seaweedfs, bucket, prefix) == TREE  # every name and byte exactly as written
        before = proxy.requests
        local = client.download_artifacts(run.info.run_id, "ckpt", str(tmp_path / "down"))
        fetched = proxy.requests - before
    finally:
        proxy.close()
    assert _files(tmp_path / "down" / "ckpt") == {k[len("ckpt/") :]: v for k, v in TREE.items()}
    assert local.endswith("ckpt")
    assert not [p for p in (tmp_path / "down").rglob("*") if ".tmp" in p.name or p.name.startswith(".")]
    # 124 files: one batch, the big file on its own, the capability and the verifying listings
    assert sent <= 12, f"{sent} requests for {len(TREE)} files"
    assert fetched <= 16, f"{fetched} requests for {len(TREE)} files"


def test_a_batch_corrupted_on_the_way_is_refused_and_sent_again(server, seaweedfs, tmp_path, monkeypatch):
    running, bucket = server
    proxy = CorruptingProxy(running.url)
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", proxy.endpoint_url)
        monkeypatch.delenv("ARTIFACT_FS_BUILTIN_SCHEMES", raising=False)
        client = MlflowClient()
        run = client.create_run(client.create_experiment("batched-corruption"))
        files = {f"f{i:02d}.bin": os.urandom(3000 + i) for i in range(20)}
        for name, data in files.items():
            (tmp_path / name).write_bytes(data)
        proxy.corrupt_next("request", match="batches/upload")
        client.log_artifacts(run.info.run_id, str(tmp_path), "d")
        assert [direction for direction, _ in proxy.flipped] == ["request"]
        prefix = f"mlartifacts/{run.info.experiment_id}/{run.info.run_id}/artifacts/d/"
        assert bucket_objects(seaweedfs, bucket, prefix) == files
        proxy.corrupt_next("response", match="batches/download")
        client.download_artifacts(run.info.run_id, "d", str(tmp_path / "down"))
        assert [direction for direction, _ in proxy.flipped] == ["request", "response"]
    finally:
        proxy.close()
    assert _files(tmp_path / "down" / "d") == files


@pytest.mark.parametrize(
    "members, culprit",
    [
        ([("ok.txt", b"fine"), ("../escape.txt", b"x")], "../escape.txt"),
        ([("/abs.txt", b"x")], "/abs.txt"),
        ([("a/../../b.txt", b"x")], "a/../../b.txt"),
        ([("ok.txt", b"1"), ("ok.txt", b"2")], "ok.txt"),
        ([("a", b"1"), ("a/b", b"2")], "a/b"),
        ([("back\\slash.txt", b"x")], "back\\\\slash.txt"),
    ],
)
def test_hostile_upload_batches_are_refused_whole_and_write_nothing(server, seaweedfs, members, culprit):
    running, bucket = server
    answer = _post_upload(running.url, "hostile/run", _tar(members))
    assert answer.status_code == 400, answer.text
    assert culprit in answer.json()["message"]
    assert bucket_objects(seaweedfs, bucket, "mlartifacts/hostile/") == {}


def test_links_bad_bodies_and_bad_directories_are_refused(server, seaweedfs):
    running, bucket = server
    for kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        answer = _post_upload(running.url, "hostile/links", _tar([("link.txt", b"")], kind))
        assert answer.status_code == 400 and "not a regular file" in answer.json()["message"]
    answer = _post_upload(running.url, "hostile/notar", b"this is no tar archive" * 100)
    assert answer.status_code == 400 and "tar" in answer.json()["message"]
    body = _tar([("ok.txt", b"fine")])
    answer = _post_upload(running.url, "hostile/md5", body, md5="0" * 32)
    assert answer.status_code == 400 and answer.json()["error_code"] == "CORRUPTED_IN_TRANSIT"
    answer = _post_upload(running.url, "hostile/md5", body, md5="")
    assert answer.status_code == 400 and BODY_MD5_HEADER in answer.json()["message"]
    answer = _post_upload(running.url, "../../outside", body)
    assert answer.status_code == 400 and "../../outside" in answer.json()["message"]
    assert bucket_objects(seaweedfs, bucket, "mlartifacts/hostile/") == {}
    assert not [key for key in bucket_objects(seaweedfs, bucket, "") if "outside" in key]


def test_download_batches_name_a_missing_file_and_refuse_bad_names(server):
    running, _ = server
    assert _post_upload(running.url, "dl/run", _tar([("here.txt", b"here")])).status_code == 200
    url = f"{running.url}/api/2.0/artifact-fs/batches/download"
    answer = requests.post(url, json={"path": "dl/run", "files": ["here.txt", "gone.txt"]})
    assert answer.status_code == 404 and "gone.txt" in answer.text
    for files in (["../../etc/passwd"], ["here.txt", "here.txt"], [f"f{i}" for i in range(1001)]):
        answer = requests.post(url, json={"path": "dl/run", "files": files})
        assert answer.status_code == 400, answer.text
    answer = requests.post(url, data=json.dumps(["not", "an", "object"]))
    assert answer.status_code == 400
    answer = requests.post(url, json={"path": "dl/run", "files": ["here.txt"]})
    with tarfile.open(fileobj=io.BytesIO(answer.content)) as archive:
        [member] = archive.getmembers()
        assert archive.extractfile(member).read() == b"here"
        assert member.pax_headers["ARTIFACT_FS.md5"] == hashlib.md5(b"here").hexdigest()
    assert answer.headers[BODY_MD5_HEADER] == hashlib.md5(answer.content).hexdigest()


def test_the_capability_is_asked_once_and_a_stock_server_gets_one_request_per_file(
    client, tmp_path_factory, tmp_path, monkeypatch
):
    run = client.create_run(client.create_experiment("capability"))
    repo = get_artifact_repository(run.info.artifact_uri)
    for i in range(3):
        (tmp_path / f"c{i}.txt").write_text(str(i))
    repo.log_artifacts(str(tmp_path), "c")
    assert repo.fs.batches is True
    destination = tmp_path_factory.mktemp("stock-destination")
    stock_env = {"ARTIFACT_FS_BUILTIN_SCHEMES": "*"}
    with mlflow_server(tmp_path_factory.mktemp("stock"), str(destination), stock_env) as stock:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", stock.url)
        stock_client = MlflowClient()
        stock_run = stock_client.create_run(stock_client.create_experiment("capability"))
        stock_repo = get_artifact_repository(stock_run.info.artifact_uri)
        stock_repo.log_artifacts(str(tmp_path), "c")
        assert stock_repo.fs.batches is False
        assert sorted(p.name for p in destination.rglob("c*.txt")) == ["c0.txt", "c1.txt", "c2.txt"]
