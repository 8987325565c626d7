"""Shared fixtures: a scrubbed environment for every test, and the real S3 servers.

Servers are started once per session (or reused when ``ARTIFACT_FS_TEST_*_ENDPOINT``
names one already running) and stopped at the end. A server that cannot start fails
the tests that need it; nothing is skipped.
"""

from __future__ import annotations

import os
import uuid

import pytest

from artifact_fs.backends import BUILTIN_SCHEMES_VAR, SCHEMES

from .servers import s3

#: Every variable the table reads, plus the SDKs' own, so no developer setting leaks in.
_ROWS = [*SCHEMES, *(alt for row in SCHEMES for alt in row.alternatives.values())]
SCRUBBED = {setting.var for row in _ROWS for setting in row.settings} | {
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
    yield


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    """A real SeaweedFS S3 gateway (credentials enforced)."""
    with s3.seaweedfs_server(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    """A real moto server process (S3 API, no credential checks)."""
    with s3.moto_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


def new_bucket(server) -> str:
    """A fresh bucket on ``server`` (one per test keeps tests independent)."""
    name = f"t-{uuid.uuid4().hex[:16]}"
    server.create_bucket(name)
    return name


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory):
    """A sqlite tracking store for one test module (its schema created once)."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path_factory.mktemp('tracking')}/mlflow.db"
    MlflowClient(uri).search_experiments()  # runs the migrations
    return uri
