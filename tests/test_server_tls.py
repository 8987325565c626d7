"""TLS on every path, against SeaweedFS serving S3 over HTTPS with a CA made by the test:
the storage client honours ``AWS_CA_BUNDLE`` and ``MLFLOW_S3_IGNORE_TLS``, every URL the
server hands out names the configured ``https://`` endpoint, and MLflow's client uploads
parts and downloads ranges over verified TLS through a real ``mlflow server``."""

from __future__ import annotations

import hashlib
import os

import pytest
import requests
from mlflow.entities.multipart_upload import MultipartUploadPart
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from .conftest import SCRUBBED, new_bucket
from .servers.mlflow import mlflow_server, run_client
from .servers.s3_tls import seaweedfs_tls_server

pytestmark = pytest.mark.s3

MiB = 2**20


@pytest.fixture(scope="module")
def tls_s3(tmp_path_factory):
    # A second SeaweedFS, not conftest's ``seaweedfs``: its S3 gateway speaks TLS (this module's only user).
    with seaweedfs_tls_server(tmp_path_factory.mktemp("seaweedfs-tls")) as server:
        yield server


@pytest.fixture
def bucket(tls_s3):
    return new_bucket(tls_s3)


@pytest.fixture
def s3_env(tls_s3, monkeypatch):
    """The server's endpoint and credentials, but no trust settings yet."""
    for name, value in tls_s3.env().items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_storage_client_verifies_against_aws_ca_bundle(tls_s3, bucket, s3_env, tmp_path):
    (tmp_path / "a.txt").write_text("alpha")
    s3_env.setenv("MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT", "10")  # one attempt: fail fast
    with pytest.raises(MlflowException, match="(?i)certificate"):
        get_artifact_repository(f"s3://{bucket}/untrusted").log_artifact(tmp_path / "a.txt")
    s3_env.setenv("AWS_CA_BUNDLE", tls_s3.ca_file)
    trusted = get_artifact_repository(f"s3://{bucket}/trusted")
    trusted.log_artifact(tmp_path / "a.txt")
    assert [f.path for f in trusted.list_artifacts()] == ["a.txt"]


def test_ignore_tls_turns_verification_off(tls_s3, bucket, s3_env, tmp_path):
    (tmp_path / "a.txt").write_text("alpha")
    s3_env.setenv("MLFLOW_S3_IGNORE_TLS", "true")
    s3_env.setenv("AWS_CA_BUNDLE", "/nonexistent/ca.pem")  # ignored: MLFLOW_S3_IGNORE_TLS wins
    repo = get_artifact_repository(f"s3://{bucket}/insecure")
    repo.log_artifact(tmp_path / "a.txt")
    assert [f.path for f in repo.list_artifacts()] == ["a.txt"]


def test_signed_urls_name_the_https_endpoint_and_work_over_verified_tls(tls_s3, bucket, s3_env):
    s3_env.setenv("AWS_CA_BUNDLE", tls_s3.ca_file)
    repo = get_artifact_repository(f"s3://{bucket}/signed")
    data = hashlib.shake_256(b"tls-parts").digest(6 * MiB)
    started = repo.create_multipart_upload("big.bin", 2, "m")
    parts = []
    for credential, chunk in zip(started.credentials, (data[: 5 * MiB], data[5 * MiB :])):
        assert credential.url.startswith(f"{tls_s3.endpoint_url}/{bucket}/signed/m/big.bin?")
        with pytest.raises(requests.exceptions.SSLError):  # real TLS: an untrusting client refuses it
            requests.put(credential.url, data=b"", verify=True, timeout=30)
        answer = requests.put(credential.url, data=chunk, verify=tls_s3.ca_file, timeout=60)
        assert answer.status_code == 200, answer.text
        parts.append(MultipartUploadPart(credential.part_number, answer.headers["ETag"], credential.url))
    repo.complete_multipart_upload("big.bin", started.upload_id, parts, "m")
    download = repo.get_download_presigned_url("m/big.bin")
    assert download.url.startswith(f"{tls_s3.endpoint_url}/") and download.file_size == len(data)
    assert requests.get(download.url, verify=tls_s3.ca_file, timeout=60).content == data
    upload = repo.create_presigned_upload_url("m/small.txt")
    assert upload.presigned_url.startswith(f"{tls_s3.endpoint_url}/")
    assert requests.put(upload.presigned_url, data=b"s", headers=upload.headers, verify=tls_s3.ca_file, timeout=30).ok


def test_mlflow_server_on_a_tls_store(tls_s3, tmp_path):
    bucket = new_bucket(tls_s3)
    env = {
        **tls_s3.env(), "AWS_CA_BUNDLE": tls_s3.ca_file,
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }  # fmt: skip
    data = hashlib.shake_256(b"tls-e2e").digest(12 * MiB)
    (tmp_path / "w.bin").write_bytes(data)
    # A tracking server of this test's own: it proxies to the TLS store and trusts its CA.
    with mlflow_server(tmp_path / "server", f"s3://{bucket}/mlartifacts", env, scrub=SCRUBBED) as server:
        code = f"""
            import hashlib, tempfile, mlflow
            with mlflow.start_run() as run:
                mlflow.log_artifact({str(tmp_path / "w.bin")!r}, "m")
            path = mlflow.artifacts.download_artifacts(
                run_id=run.info.run_id, artifact_path="m/w.bin", dst_path=tempfile.mkdtemp()
            )
            emit(hashlib.sha256(open(path, "rb").read()).hexdigest())
            """
        multipart = {
            "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true", "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": str(8 * MiB),
            "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(5 * MiB), "MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE": str(4 * MiB),
        }  # fmt: skip
        before = server.io_bytes()
        # the client trusts the store's CA: parts go up and ranges come down over verified TLS
        assert (
            run_client(server, code, {**multipart, "REQUESTS_CA_BUNDLE": tls_s3.ca_file})
            == hashlib.sha256(data).hexdigest()
        )
        # MLflow's own switch for clients that cannot verify the store
        assert (
            run_client(server, code, {**multipart, "MLFLOW_S3_IGNORE_TLS": "true"}) == hashlib.sha256(data).hexdigest()
        )
        assert server.io_bytes() - before < 2 * len(data)  # four 12 MiB transfers, none through the server
        # (a client that neither trusts nor ignores the CA is refused: see the signed-URL test above)
