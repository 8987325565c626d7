"""Shared fixtures: a scrubbed environment for every test, the real servers, a tracking store.

Each server (S3: SeaweedFS and moto; Azurite over HTTP and HTTPS; fake-gcs-server; OpenSSH;
pyftpdlib; HDFS) is started here once per session, from its module in ``tests/servers/``,
or reused when an ``ARTIFACT_FS_TEST_*`` variable names one already running, and stopped
at the end. A server that cannot start fails the tests that need it; nothing is skipped.
"""

from __future__ import annotations

import os
import sys
import uuid

import pytest

from artifact_fs.backends import BUILTIN_SCHEMES_VAR, SCHEMES

from .servers.azure import azurite_server
from .servers.ftp import ftp_server, reused_ftp_server
from .servers.gcs import gcs_server
from .servers.hdfs import hdfs_server
from .servers.s3 import moto_server, seaweedfs_server
from .servers.sftp import reused_sftp_server, sshd_server

#: tests of the obstore engine: obstore >= 0.12.1 needs Python 3.11 (pyproject's ``obstore`` extra)
NEEDS_OBSTORE = pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="the obstore engine needs obstore >= 0.12.1, which is not installable on Python < 3.11",
)

#: ``ARTIFACT_FS_TEST_ENGINE=obstore`` runs every test with that engine (a test that sets its own still wins)
TEST_ENGINE_VAR = "ARTIFACT_FS_TEST_ENGINE"


def run_without_obstore(code: str) -> str:
    """Run ``code`` in a fresh interpreter where ``import obstore`` fails (as where it is not
    installed); its standard output. The child must exit cleanly."""
    import subprocess

    child = "import sys; sys.modules['obstore'] = None\n" + code
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def resolve_on_fsspec(uri, env=None, **overrides):
    """:func:`artifact_fs.resolve` on the fsspec engine unless ``env`` names another: for tests
    of the table of the rows' own clients (s3fs's option names; the obstore engine's table is
    checked in tests/test_engine_obstore.py)."""
    from artifact_fs import resolve

    given = os.environ if env is None else env
    return resolve(uri, {"ARTIFACT_FS_ENGINE": "fsspec", **given}, **overrides)


#: Every variable the table reads, plus the SDKs' own, so no developer setting leaks in.
_ROWS = [*SCHEMES, *(alt for row in SCHEMES for alt in row.alternatives.values())]
SCRUBBED = {setting.var for row in _ROWS for setting in row.client.settings} | {
    BUILTIN_SCHEMES_VAR,
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "MLFLOW_TRACKING_URI",
    "ARTIFACT_FS_CACHE_DIR",
    "MLFLOW_REGISTRY_URI",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCOUNT_NAME",
    "ARTIFACT_FS_HDFS_CLIENT",
    "ARTIFACT_FS_ENGINE",
    "HADOOP_CONF_DIR",
    "HADOOP_USER_NAME",
    "KRB5CCNAME",
    "ARTIFACT_FS_PROFILES",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """Remove every setting artifact_fs reads, and point AWS config files at nothing."""
    for name in list(os.environ):
        if name in SCRUBBED or name.startswith("FSSPEC_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("BOTO_CONFIG", "/dev/null")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-xdg-config"))  # no user profiles file
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if os.environ.get(TEST_ENGINE_VAR):  # the whole suite again on one engine (docs/engines.md)
        monkeypatch.setenv("ARTIFACT_FS_ENGINE", os.environ[TEST_ENGINE_VAR])
    yield


# --- the real servers: each started once per session (or reused) and always stopped -------
# tests/servers/<module>.py runs each; a test that needs one of its own (paused, killed,
# with other options) starts it itself with that module's context manager.


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    """A real SeaweedFS S3 gateway (credentials enforced)."""
    with seaweedfs_server(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    """A real moto server process (S3 API, no credential checks)."""
    with moto_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(scope="session")
def azurite(tmp_path_factory):
    """Azurite's blob service over HTTP (or the one ``ARTIFACT_FS_TEST_AZURITE_ENDPOINT`` names)."""
    with azurite_server(tmp_path_factory.mktemp("azurite")) as server:
        yield server


@pytest.fixture(scope="session")
def azurite_https(tmp_path_factory):
    """Azurite over HTTPS, with the CA that signed its certificate (adlfs's account-key and SAS routes)."""
    with azurite_server(tmp_path_factory.mktemp("azurite-https"), https=True) as server:
        yield server


@pytest.fixture(scope="session")
def fake_gcs(tmp_path_factory):
    """fake-gcs-server, a GCS emulator (or the one ``ARTIFACT_FS_TEST_GCS_ENDPOINT`` names)."""
    with gcs_server(tmp_path_factory.mktemp("gcs")) as server:
        yield server


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """Our own OpenSSH sshd, never a reused one: its served files are this machine's."""
    with sshd_server(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture(scope="session")
def sftp(request):
    """An SFTP server: the one ``ARTIFACT_FS_TEST_SFTP_ENDPOINT`` names, else ``sshd``."""
    return reused_sftp_server() or request.getfixturevalue("sshd")


@pytest.fixture(scope="session")
def pyftpdlib(tmp_path_factory):
    """Our own pyftpdlib server, never a reused one: its served directory (``root``) is here."""
    with ftp_server(tmp_path_factory.mktemp("ftp"), reuse=False) as server:
        yield server


@pytest.fixture(scope="session")
def ftp(request):
    """An FTP server: the one ``ARTIFACT_FS_TEST_FTP_URL`` names, else ``pyftpdlib``."""
    return reused_ftp_server() or request.getfixturevalue("pyftpdlib")


@pytest.fixture(scope="session")
def hdfs(tmp_path_factory):
    """A real NameNode + DataNode (or the NameNode ``ARTIFACT_FS_TEST_HDFS_URL`` names)."""
    with hdfs_server(tmp_path_factory.mktemp("hdfs")) as server:
        yield server


# --- helpers and the tracking store ------------------------------------------------------


def new_bucket(server) -> str:
    """A fresh bucket on ``server`` (one per test keeps tests independent)."""
    name = f"t-{uuid.uuid4().hex[:16]}"
    server.create_bucket(name)
    return name


@pytest.fixture(name="client")
def tracking_client(server, monkeypatch):
    """MLflow's client of the test module's ``server`` (a ``(running tracking server, bucket)``
    pair), with artifact_fs answering the proxied schemes."""
    from mlflow import MlflowClient

    running, _ = server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", running.url)
    monkeypatch.delenv("ARTIFACT_FS_BUILTIN_SCHEMES", raising=False)
    return MlflowClient()


#: seconds a call on a hung server may take before a test calls it a hang
TIMEOUT_BOUND = 60


def calls_on_a_paused_server(server, repo, tmp_path, label: str) -> dict[str, Exception]:
    """Log, list and download ``a.txt`` (already logged in ``repo``) while ``server`` is
    paused (SIGSTOP: connections accepted, nothing answered): each call must fail with an
    ``MlflowException`` within :data:`TIMEOUT_BOUND`, and the repository works again once
    the server is resumed. The errors, by call."""
    import time

    from mlflow.exceptions import MlflowException

    calls = {
        "log_artifact": lambda: repo.log_artifact(tmp_path / "a.txt", "again"),
        "list_artifacts": repo.list_artifacts,
        "download_artifacts": lambda: repo.download_artifacts("a.txt", str(tmp_path)),
    }
    errors = {}
    for name, call in calls.items():
        with server.paused():
            started = time.monotonic()
            with pytest.raises(MlflowException) as info:
                call()
            elapsed = time.monotonic() - started
        print(f"{label}: {name} failed after {elapsed:.1f} s")
        assert elapsed < TIMEOUT_BOUND, f"{name} took {elapsed:.1f} s"
        errors[name] = info.value
    assert "a.txt" in [i.path for i in repo.list_artifacts()]  # resumed: works again
    return errors


def write_tree(root, tree: dict[str, bytes]) -> None:
    """Write ``tree`` (relative ``/`` path -> bytes) under the directory ``root``."""
    for name, data in tree.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def bucket_objects(server, bucket: str, prefix: str) -> dict[str, bytes]:
    """Every object under ``prefix`` in ``bucket`` on the S3 ``server`` (folder markers left
    out), by its key after the prefix."""
    s3 = server.boto3_client()
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
        if not item["Key"].endswith("/")
    ]
    return {key[len(prefix) :]: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory):
    """A sqlite tracking store for one test module (its schema created once)."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path_factory.mktemp('tracking')}/mlflow.db"
    MlflowClient(uri).search_experiments()  # runs the migrations
    return uri
