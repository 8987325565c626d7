"""The registry factory hands out exactly the mixins a store honours, and each one works on a
real server: multipart uploads through signed part URLs, presigned GETs and PUTs (SeaweedFS,
Azurite), and streamed uploads that never leave a partial artifact (local, memory, S3)."""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import io
import json
import os
import pathlib
import threading
import uuid

import pytest
import requests
from mlflow.entities.multipart_upload import MultipartUploadPart
from mlflow.exceptions import MlflowException
from mlflow.store.artifact import artifact_repo as mlflow_repo
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from artifact_fs import FsspecArtifactRepository
from artifact_fs.capabilities import composed_class

from .conftest import SCRUBBED, new_bucket
from .servers.azure import ACCOUNT
from .servers.mlflow import mlflow_server

MIXINS = ("StreamUploadMixin", "MultipartUploadMixin", "MultipartDownloadMixin", "PresignedUploadMixin")
ALL = set(MIXINS)
STREAM = {"StreamUploadMixin"}
MiB = 2**20
AZURE_KEY_ENV = {"AZURE_STORAGE_ACCESS_KEY": "a2V5"}

CASES = [
    ("s3://b/p", {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}, ALL),
    ("s3://b/p", {"MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION": "unsigned"}, STREAM),  # anonymous: nothing to sign with
    ("r2://b@acct.r2.cloudflarestorage.com/p", {}, ALL),
    ("b2://b@s3.eu-central-003.backblazeb2.com/p", {}, ALL),
    ("wasbs://c@acct.blob.core.windows.net/p", AZURE_KEY_ENV, ALL),
    ("abfss://c@acct.dfs.core.windows.net/p", AZURE_KEY_ENV, ALL),
    ("wasbs://c@acct.blob.core.windows.net/p", {"AZURE_STORAGE_SAS_TOKEN": "sv=x&sig=y"}, STREAM),  # no key: no SAS
    (
        "wasbs://c@acct.blob.core.windows.net/p",
        {"AZURE_STORAGE_CONNECTION_STRING": "AccountName=acct;AccountKey=a2V5"},
        ALL,
    ),
    ("gs://b/p", {"STORAGE_EMULATOR_HOST": "http://127.0.0.1:1"}, STREAM),  # anonymous: no signing key
    (
        "gs://b/p",
        {"GOOGLE_APPLICATION_CREDENTIALS": "{service_account}"},
        STREAM | {"MultipartDownloadMixin", "PresignedUploadMixin"},
    ),
    ("gs://b/p", {"GOOGLE_APPLICATION_CREDENTIALS": "{user_credentials}"}, STREAM),  # no private key: cannot sign
    ("/tmp/plain", {}, STREAM),
    ("file:///tmp/x", {}, STREAM),
    ("memory://x", {}, STREAM),
    ("sftp://user@host/p", {}, STREAM),
    ("ftp://host/p", {}, STREAM),
    ("hdfs://nn:8020/p", {}, STREAM),
]


def _honoured(repo) -> set[str]:
    return {name for name in MIXINS if isinstance(repo, getattr(mlflow_repo, name))}


@pytest.mark.parametrize(
    ("uri", "env", "expected"), CASES, ids=[f"{c[0].split(':')[0] or 'path'}-{i}" for i, c in enumerate(CASES)]
)
def test_factory_hands_out_exactly_the_mixins_the_store_honours(uri, env, expected, monkeypatch, tmp_path):
    files = {
        "service_account": _service_account_file(tmp_path, "http://127.0.0.1:1/token"),
        "user_credentials": tmp_path / "user.json",
    }
    files["user_credentials"].write_text(
        json.dumps({"type": "authorized_user", "refresh_token": "r", "client_id": "c"})
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(**files))
    repo = get_artifact_repository(uri)
    assert isinstance(repo, FsspecArtifactRepository)
    assert _honoured(repo) == expected
    assert type(get_artifact_repository(uri)) is type(repo)  # one class per combination, cached


def test_composed_classes_are_shared_and_named_after_their_mixins():
    full = composed_class(("MultipartUploadMixin", "MultipartDownloadMixin", "PresignedUploadMixin"))
    assert composed_class(()) is FsspecArtifactRepository
    assert full is composed_class(("MultipartUploadMixin", "MultipartDownloadMixin", "PresignedUploadMixin"))
    assert issubclass(full, FsspecArtifactRepository) and full.__name__ == "FsspecArtifactRepository"
    assert "MultipartUploadMixin" in full.__qualname__


def _service_account_file(directory: pathlib.Path, token_uri: str) -> pathlib.Path:
    """A service-account key made here (RSA, like Google's), whose tokens come from ``token_uri``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = directory / f"sa-{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "test-project", "private_key_id": "k1", "private_key": pem.decode(),
        "client_email": "artifacts@test-project.iam.gserviceaccount.com", "client_id": "1", "token_uri": token_uri,
    }))  # fmt: skip
    return path


# --- the presigning mixins on real servers ---------------------------------------------------


@pytest.fixture(params=["s3", "azure"])
def store(request, monkeypatch):
    """(artifact URI, reader of a stored object's bytes) on SeaweedFS or Azurite."""
    if request.param == "s3":
        server = request.getfixturevalue("seaweedfs")
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        bucket = new_bucket(server)
        client = server.boto3_client()
        return f"s3://{bucket}/root", lambda key: client.get_object(Bucket=bucket, Key=f"root/{key}")["Body"].read()
    server = request.getfixturevalue("azurite")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", server.connection_string())
    container = server.create_container()
    blobs = server.service_client().get_container_client(container)
    return f"wasbs://{container}@{ACCOUNT}.blob.core.windows.net/root", lambda key: blobs.download_blob(
        f"root/{key}"
    ).readall()


def test_multipart_upload_with_signed_part_urls(store):
    uri, read = store
    repo = get_artifact_repository(uri)
    assert _honoured(repo) == ALL
    data = hashlib.shake_256(b"parts").digest(11 * MiB)
    chunks = [data[i : i + 5 * MiB] for i in range(0, len(data), 5 * MiB)]
    started = repo.create_multipart_upload("/client/side/model.bin", len(chunks), "models")
    parts = []
    for credential, chunk in zip(started.credentials, chunks):
        answer = requests.put(credential.url, data=chunk, headers=credential.headers, timeout=60)
        assert answer.status_code in (200, 201), answer.text
        parts.append(MultipartUploadPart(credential.part_number, answer.headers.get("ETag"), credential.url))
    assert repo.list_artifacts("models") == []  # nothing visible before completion
    repo.complete_multipart_upload("/client/side/model.bin", started.upload_id, parts[::-1], "models")
    assert read("models/model.bin") == data
    assert [f.path for f in repo.list_artifacts("models")] == ["models/model.bin"]


def test_aborted_multipart_upload_leaves_nothing(store):
    uri, _read = store
    repo = get_artifact_repository(uri)
    started = repo.create_multipart_upload("C:\\Users\\me\\w.bin", 1, "x")  # a Windows client's path
    credential = started.credentials[0]
    assert requests.put(credential.url, data=b"partial", timeout=60).status_code in (200, 201)
    repo.abort_multipart_upload("C:\\Users\\me\\w.bin", started.upload_id, "x")
    assert repo.list_artifacts("x") == []


def test_presigned_put_and_get(store):
    uri, read = store
    repo = get_artifact_repository(uri)
    upload = repo.create_presigned_upload_url("dir/table.json", expiration=120)
    answer = requests.put(upload.presigned_url, data=b'{"a": 1}', headers=upload.headers, timeout=60)
    assert answer.status_code in (200, 201), answer.text
    assert read("dir/table.json") == b'{"a": 1}'
    download = repo.get_download_presigned_url("dir/table.json", expiration=60)
    assert download.file_size == 8
    ranged = requests.get(download.url, headers={**download.headers, "Range": "bytes=2-4"}, timeout=60)
    assert ranged.status_code == 206 and ranged.content == b'a":'
    with pytest.raises(MlflowException) as missing:
        repo.get_download_presigned_url("dir/absent.json")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert "No such artifact: " in missing.value.message and "absent.json' does not exist" in missing.value.message
    with pytest.raises(MlflowException, match="Invalid artifact path"):
        repo.create_presigned_upload_url("../escape.json")


# --- streamed uploads ----------------------------------------------------------------------


class _Broken(io.RawIOBase):
    """A request body that fails after ``size`` bytes (a client that hung up)."""

    def __init__(self, size: int):
        self.left = size

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.left <= 0:
            raise ConnectionResetError("client went away")
        count = min(len(buffer), self.left)
        buffer[:count] = b"x" * count
        self.left -= count
        return count


@pytest.fixture(params=["local", "memory", "s3"])
def stream_repo(request, tmp_path, monkeypatch):
    if request.param == "local":
        return get_artifact_repository(str(tmp_path / "root"))
    if request.param == "memory":
        return get_artifact_repository(f"memory://stream-{uuid.uuid4().hex}/root")  # id(tmp_path) can be reused
    server = request.getfixturevalue("seaweedfs")
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    return get_artifact_repository(f"s3://{new_bucket(server)}/root")


def test_stream_upload_sync_and_async(stream_repo, tmp_path):
    data = hashlib.shake_256(b"stream").digest(9 * MiB + 3)  # more than one S3 part
    stream_repo.log_artifact_from_stream(io.BytesIO(data), "ignored/dir/a.bin", "s")

    async def chunks():
        for start in range(0, len(data), MiB):
            yield data[start : start + MiB]

    asyncio.run(stream_repo.log_artifact_from_async_stream(chunks(), "b.bin", None))
    assert [(f.path, f.file_size) for f in stream_repo.list_artifacts("s")] == [("s/a.bin", len(data))]
    got = pathlib.Path(stream_repo.download_artifacts("b.bin", str(tmp_path)))
    assert got.read_bytes() == data


def test_failed_stream_leaves_no_artifact(stream_repo):
    with pytest.raises(MlflowException, match="client went away"):
        stream_repo.log_artifact_from_stream(io.BufferedReader(_Broken(9 * MiB)), "cut.bin", "s")

    async def cut():
        yield b"x" * MiB
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        asyncio.run(stream_repo.log_artifact_from_async_stream(cut(), "cut2.bin", "s"))
    assert stream_repo.list_artifacts("s") == []
    if stream_repo.row.paths.local:  # no temporary file left behind either
        assert not os.path.exists(stream_repo.resolved.root) or os.listdir(stream_repo.resolved.root) in ([], ["s"])
        assert (
            not os.path.isdir(os.path.join(stream_repo.resolved.root, "s"))
            or os.listdir(os.path.join(stream_repo.resolved.root, "s")) == []
        )


def test_stream_upload_refuses_paths_outside_the_root(stream_repo):
    with pytest.raises(MlflowException, match="Invalid artifact path"):
        stream_repo.log_artifact_from_stream(io.BytesIO(b"x"), "a.txt", "../../escape")


class _TokenEndpoint(http.server.BaseHTTPRequestHandler):
    """Stands in for Google's OAuth token endpoint: any service-account assertion gets a token."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"access_token": "test-token", "expires_in": 3600, "token_type": "Bearer"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def token_uri():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/token"
    server.shutdown()


def test_gcs_signed_get_and_put_with_a_service_account(fake_gcs, token_uri, tmp_path, monkeypatch):
    for name, value in fake_gcs.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(_service_account_file(tmp_path, token_uri)))
    bucket = f"t-{uuid.uuid4().hex[:16]}"
    fake_gcs.create_bucket(bucket)
    repo = get_artifact_repository(f"gs://{bucket}/root")
    assert _honoured(repo) == {"StreamUploadMixin", "MultipartDownloadMixin", "PresignedUploadMixin"}
    upload = repo.create_presigned_upload_url("d/table.json")
    assert upload.presigned_url.startswith(f"{fake_gcs.endpoint_url}/{bucket}/root/d/table.json?")
    assert "X-Goog-Signature=" in upload.presigned_url and upload.headers == {"Content-Type": "application/json"}
    assert requests.put(upload.presigned_url, data=b'{"a": 1}', headers=upload.headers, timeout=30).ok
    download = repo.get_download_presigned_url("d/table.json")
    assert download.file_size == 8 and "X-Goog-Algorithm=GOOG4-RSA-SHA256" in download.url
    ranged = requests.get(download.url, headers={"Range": "bytes=2-4"}, timeout=30)
    assert ranged.status_code == 206 and ranged.content == b'a":'
    with pytest.raises(MlflowException) as missing:
        repo.get_download_presigned_url("d/absent.json")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert "absent.json' does not exist" in missing.value.message, missing.value.message


@pytest.mark.s3
def test_tracking_server_says_a_presigned_download_of_a_missing_file_does_not_exist(seaweedfs, tmp_path_factory):
    """Through ``mlflow server``: HTTP 404, RESOURCE_DOES_NOT_EXIST, and a message that says so
    (not just the store's path)."""
    env = {**seaweedfs.env(), "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    destination = f"s3://{new_bucket(seaweedfs)}/mlartifacts"
    # A tracking server of this test's own: it proxies to this test's bucket.
    with mlflow_server(tmp_path_factory.mktemp("mlflow-presign"), destination, env, scrub=SCRUBBED) as server:
        client = requests.Session()
        client.trust_env = False  # no proxy between the test and 127.0.0.1
        answer = client.get(f"{server.url}/api/2.0/mlflow-artifacts/presigned/1/run/artifacts/absent.bin", timeout=60)
    body = answer.json()
    assert (answer.status_code, body["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST"), body
    assert "No such artifact: " in body["message"] and "absent.bin' does not exist" in body["message"], body


def test_one_repository_serves_sixteen_threads_even_over_ftp(pyftpdlib, tmp_path):
    """A tracking server shares its repository between request threads: FTP's client (one
    control connection) is not thread-safe, so each thread gets its own."""
    from concurrent.futures import ThreadPoolExecutor

    # ``pyftpdlib`` (always ours), not ``ftp``: as before, 16 logins at once never go to a reused server.
    repo = get_artifact_repository(pyftpdlib.uri(f"/{uuid.uuid4().hex}/shared"))

    def client(number: int) -> bool:
        data = hashlib.shake_256(str(number).encode()).digest(40_000 + number)
        repo.log_artifact_from_stream(io.BytesIO(data), f"f{number}.bin", f"c{number}")
        got = repo.download_artifacts(f"c{number}/f{number}.bin", str(tmp_path / "dl" / str(number)))
        return pathlib.Path(got).read_bytes() == data and [f.path for f in repo.list_artifacts(f"c{number}")] == [
            f"c{number}/f{number}.bin"
        ]

    for number in range(48):
        (tmp_path / "dl" / str(number)).mkdir(parents=True)
    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(client, range(48)))


def test_no_credentials_to_sign_with_means_mlflows_not_supported_error(seaweedfs, monkeypatch):
    """MLflow's clients fall back to a plain upload on exactly this error (matched by message)."""
    from mlflow.exceptions import _UnsupportedMultipartUploadException

    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", seaweedfs.endpoint_url)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role either: botocore has nothing
    repo = get_artifact_repository(f"s3://{new_bucket(seaweedfs)}/root")
    with pytest.raises(_UnsupportedMultipartUploadException) as raised:
        repo.create_multipart_upload("/client/big.bin", 2, "m")
    assert raised.value.message == _UnsupportedMultipartUploadException.MESSAGE


def test_upload_extra_args_reach_presigned_puts_and_multipart_uploads(seaweedfs, monkeypatch):
    """Every header signed into a presigned PUT comes back in ``headers`` (read from botocore's
    model); multipart uploads get Content-Type and the extra args when they are started."""
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLFLOW_S3_UPLOAD_EXTRA_ARGS", '{"Metadata": {"team": "ml"}, "ServerSideEncryption": "AES256"}')
    bucket = new_bucket(seaweedfs)
    repo = get_artifact_repository(f"s3://{bucket}/root")
    upload = repo.create_presigned_upload_url("t.json")
    assert upload.headers == {
        "Content-Type": "application/json",
        "x-amz-meta-team": "ml",
        "x-amz-server-side-encryption": "AES256",
    }
    assert requests.put(upload.presigned_url, data=b"{}", headers=upload.headers, timeout=30).ok
    started = repo.create_multipart_upload("/c/model.json", 1)
    answer = requests.put(started.credentials[0].url, data=b'{"k": 1}', timeout=30)
    repo.complete_multipart_upload("/c/model.json", started.upload_id, [MultipartUploadPart(1, answer.headers["ETag"])])
    client = seaweedfs.boto3_client()
    for key in ("root/t.json", "root/model.json"):
        head = client.head_object(Bucket=bucket, Key=key)
        assert (head["ContentType"], head["Metadata"], head["ServerSideEncryption"]) == (
            "application/json",
            {"team": "ml"},
            "AES256",
        ), key
