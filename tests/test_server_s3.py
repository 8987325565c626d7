"""End to end: a real ``mlflow server --artifacts-destination s3://...`` on SeaweedFS, driven by
MLflow's own client from other processes.

The server builds its one repository through artifact_fs's registry factory; these tests
check what clients see: proxied log / list / download / delete, multipart uploads that go
straight to the bucket, presigned downloads, the advertised capabilities, 16 concurrent
clients and ``mlflow gc``.
"""

from __future__ import annotations

import hashlib
import os

import pytest
import requests

from .conftest import SCRUBBED, new_bucket
from .servers.mlflow import mlflow_server, run_client

pytestmark = pytest.mark.s3

MiB = 2**20


@pytest.fixture(scope="module")
def bucket(seaweedfs):
    return new_bucket(seaweedfs)


@pytest.fixture(scope="module", params=["fsspec", "obstore"])
def server(request, seaweedfs, bucket, tmp_path_factory):
    """The server on either engine (ARTIFACT_FS_ENGINE): on obstore the server still signs
    multipart and download URLs (with s3fs) and streams uploads through obstore."""
    env = {**seaweedfs.env(), "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    env["ARTIFACT_FS_ENGINE"] = request.param
    # This module's own tracking server: it proxies to this module's bucket.
    with mlflow_server(tmp_path_factory.mktemp("mlflow-s3"), f"s3://{bucket}/mlartifacts", env, scrub=SCRUBBED) as srv:
        yield srv


def _objects(seaweedfs, bucket, prefix):
    """{key: size} of every object under ``prefix`` (all pages)."""
    client = seaweedfs.boto3_client()
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if not item["Key"].endswith("/"):
                found[item["Key"]] = item["Size"]
    return found


def _body(seaweedfs, bucket, key) -> bytes:
    return seaweedfs.boto3_client().get_object(Bucket=bucket, Key=key)["Body"].read()


def _new_run(server, name: str) -> dict:
    """A run created through the server; its artifact URI is ``mlflow-artifacts:/...``."""
    return run_client(
        server,
        f"""
        import mlflow
        with mlflow.start_run(run_name={name!r}) as run:
            pass
        emit({{"run_id": run.info.run_id, "artifact_uri": run.info.artifact_uri}})
        """,
    )


def test_server_info_advertises_multipart_transfers(server):
    info = server.get_json("/api/3.0/mlflow/server-info")
    assert info["multipart_uploads_enabled"] is True
    assert info["multipart_downloads_enabled"] is True


def test_log_list_download_delete_through_mlflow_artifacts(server, seaweedfs, bucket, tmp_path):
    result = run_client(
        server,
        """
        import os, tempfile, mlflow
        from mlflow.tracking import MlflowClient
        src = tempfile.mkdtemp()
        os.makedirs(os.path.join(src, "nested"))
        for name, data in {"a.txt": b"alpha", "nested/b.json": b"{}", "empty.bin": b""}.items():
            with open(os.path.join(src, name), "wb") as f:
                f.write(data)
        with mlflow.start_run() as run:
            mlflow.log_artifacts(src, "tree")
            mlflow.log_artifact(os.path.join(src, "a.txt"))
        client = MlflowClient()
        listed = sorted((f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run.info.run_id, "tree"))
        dst = tempfile.mkdtemp()
        local = client.download_artifacts(run.info.run_id, "tree", dst)
        got = {os.path.relpath(os.path.join(d, n), local): open(os.path.join(d, n), "rb").read().decode()
               for d, _, names in os.walk(local) for n in names}
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
        get_artifact_repository(run.info.artifact_uri).delete_artifacts("tree")
        after = [f.path for f in client.list_artifacts(run.info.run_id)]
        emit({"run": run.info.run_id, "uri": run.info.artifact_uri, "listed": listed, "got": got, "after": after})
        """,
    )
    assert result["uri"].startswith("mlflow-artifacts:/")
    assert result["listed"] == [["tree/a.txt", False, 5], ["tree/empty.bin", False, None], ["tree/nested", True, None]]
    assert result["got"] == {"a.txt": "alpha", "nested/b.json": "{}", "empty.bin": ""}
    assert result["after"] == ["a.txt"]
    keys = _objects(seaweedfs, bucket, "mlartifacts/")
    assert [key for key in keys if result["run"] in key] == [
        k for k in keys if k.endswith(f"{result['run']}/artifacts/a.txt")
    ]


def test_64_mib_multipart_upload_goes_straight_to_the_bucket(server, seaweedfs, bucket, tmp_path):
    data = hashlib.shake_256(b"artifact_fs-64MiB").digest(64 * MiB)
    big = tmp_path / "big.bin"
    big.write_bytes(data)
    run = _new_run(server, "multipart")
    before = server.io_bytes()
    result = run_client(
        server,
        f"""
        from unittest import mock
        import mlflow
        from mlflow.store.artifact import http_artifact_repo
        calls = []
        real = http_artifact_repo.HttpArtifactRepository.create_multipart_upload
        def spy(self, *args, **kwargs):
            response = real(self, *args, **kwargs)
            calls.append([c.url for c in response.credentials])
            return response
        with mock.patch.object(http_artifact_repo.HttpArtifactRepository, "create_multipart_upload", spy):
            with mlflow.start_run(run_id={run["run_id"]!r}):
                mlflow.log_artifact({str(big)!r}, "model")
        emit(calls)
        """,
        env={
            "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
            "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": str(16 * MiB),
            "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(8 * MiB),
        },
    )
    through_server = server.io_bytes() - before
    (part_urls,) = result  # one multipart upload, signed by the server, 8 parts
    assert len(part_urls) == 8
    assert all(url.startswith(seaweedfs.endpoint_url + f"/{bucket}/mlartifacts/") for url in part_urls)
    (key,) = [
        k for k in _objects(seaweedfs, bucket, "mlartifacts/") if k.endswith(f"{run['run_id']}/artifacts/model/big.bin")
    ]
    assert _body(seaweedfs, bucket, key) == data
    assert "-8" in seaweedfs.boto3_client().head_object(Bucket=bucket, Key=key)["ETag"]  # assembled from 8 parts
    assert through_server < 8 * MiB, f"{through_server} bytes passed through the server for a 64 MiB upload"


def test_presigned_download(server, seaweedfs, bucket, tmp_path):
    data = hashlib.shake_256(b"presigned").digest(3 * MiB + 17)
    run = _new_run(server, "presigned")
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "w.bin").write_bytes(data)
    run_client(
        server,
        f"""
        import mlflow
        with mlflow.start_run(run_id={run["run_id"]!r}):
            mlflow.log_artifact({str(tmp_path / "up" / "w.bin")!r})
        """,
    )
    relative = run["artifact_uri"].split("mlflow-artifacts:/", 1)[1].lstrip("/")
    answer = server.get_json(f"/api/2.0/mlflow-artifacts/presigned/{relative}/w.bin")
    assert answer["file_size"] == len(data)
    assert answer["url"].startswith(seaweedfs.endpoint_url + f"/{bucket}/mlartifacts/")
    got = requests.get(answer["url"], headers=answer.get("headers") or {}, timeout=30)
    assert got.status_code == 200 and got.content == data
    assert got.headers["Content-Disposition"] == 'attachment; filename="w.bin"'
    # MLflow's client takes the presigned path by itself (capabilities auto-detected) and the
    # bytes do not pass through the server.
    before = server.io_bytes()
    result = run_client(
        server,
        f"""
        import hashlib, mlflow
        path = mlflow.artifacts.download_artifacts(
            run_id={run["run_id"]!r}, artifact_path="w.bin", dst_path={str(tmp_path)!r}
        )
        emit(hashlib.sha256(open(path, "rb").read()).hexdigest())
        """,
        env={"MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE": str(MiB)},
    )
    assert result == hashlib.sha256(data).hexdigest()
    assert server.io_bytes() - before < len(data)


def test_sixteen_concurrent_clients(server, seaweedfs, bucket):
    run = _new_run(server, "concurrent")
    result = run_client(
        server,
        f"""
        import hashlib, os, tempfile
        from concurrent.futures import ThreadPoolExecutor
        from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

        def client(number):
            repo = MlflowArtifactsRepository({run["artifact_uri"]!r}, tracking_uri=TRACKING_URI)
            data = hashlib.shake_256(str(number).encode()).digest(256 * 1024 + number)
            src = os.path.join(tempfile.mkdtemp(), f"c{{number}}.bin")
            open(src, "wb").write(data)
            repo.log_artifact(src, f"client{{number}}")
            dst = repo.download_artifacts(f"client{{number}}/c{{number}}.bin", tempfile.mkdtemp())
            assert open(dst, "rb").read() == data, number
            return [f.path for f in repo.list_artifacts(f"client{{number}}")]

        with ThreadPoolExecutor(16) as pool:
            emit(list(pool.map(client, range(16))))
        """,
        timeout=150,  # a server that deadlocks under concurrent streamed uploads fails here
    )
    assert result == [[f"client{n}/c{n}.bin"] for n in range(16)]
    keys = _objects(seaweedfs, bucket, "mlartifacts/")
    assert len([k for k in keys if f"{run['run_id']}/artifacts/client" in k]) == 16


def test_gc_removes_every_artifact_of_deleted_runs(server, seaweedfs, bucket, tmp_path):
    runs = run_client(
        server,
        """
        import os, tempfile, mlflow
        src = tempfile.mkdtemp()
        open(os.path.join(src, "kept.txt"), "w").write("x")
        ids = {}
        for name in ("doomed", "keep", "empty"):
            with mlflow.start_run(run_name=name) as run:
                if name != "empty":
                    mlflow.log_artifact(os.path.join(src, "kept.txt"), "d")
            ids[name] = run.info.run_id
        emit(ids)
        """,
    )
    fs = __import__("s3fs").S3FileSystem(**seaweedfs.storage_options())
    doomed_prefix = next(k for k in _objects(seaweedfs, bucket, "mlartifacts/") if runs["doomed"] in k).rsplit(
        "/d/", 1
    )[0]
    many = tmp_path / "many"
    many.mkdir()
    for number in range(1100):  # more than one 1,000-key listing page
        (many / f"f{number:04d}.txt").write_text(str(number))
    fs.put(str(many) + "/", f"{bucket}/{doomed_prefix}/many/", recursive=True)
    assert len(_objects(seaweedfs, bucket, doomed_prefix + "/")) == 1101
    run_client(
        server,
        f"""
        import subprocess, sys
        from mlflow.tracking import MlflowClient
        client = MlflowClient()
        client.delete_run({runs["doomed"]!r})
        client.delete_run({runs["empty"]!r})
        command = [sys.executable, "-m", "mlflow", "gc", "--backend-store-uri", {server.backend_store_uri!r},
                   "--tracking-uri", TRACKING_URI]
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        """,
    )
    remaining = _objects(seaweedfs, bucket, "mlartifacts/")
    assert not [k for k in remaining if runs["doomed"] in k or runs["empty"] in k]
    assert [k for k in remaining if runs["keep"] in k]
