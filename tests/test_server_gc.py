"""``mlflow gc`` removes every artifact of deleted runs stored straight on GCS, Azure Blob,
SFTP and FTP (the S3 case, through a tracking server, is in test_server_s3.py): runs are
logged by MLflow's client into an experiment whose artifact location is on the real
server, two are deleted (one never logged anything: gc must not fail on its missing
path), and ``mlflow gc`` runs in another process."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid

import mlflow
import pytest
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient

from .servers.azure import ACCOUNT

#: conftest's session fixture for each backend
FIXTURES = {"gcs": "fake_gcs", "azure": "azurite", "sftp": "sftp", "ftp": "ftp"}


@pytest.fixture
def servers(request):
    """``servers(name)``: the session's server for backend ``name`` (started on first use)."""
    return lambda name: request.getfixturevalue(FIXTURES[name])


def _location(name, server, monkeypatch, tmp_path) -> str:
    """An artifact location on ``server`` with the environment set up to reach it."""
    if name == "gcs":
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        bucket = f"t-{uuid.uuid4().hex[:16]}"
        server.create_bucket(bucket)
        return f"gs://{bucket}/mlruns"
    if name == "azure":
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", server.connection_string())
        return f"wasbs://{server.create_container()}@{ACCOUNT}.blob.core.windows.net/mlruns"
    if name == "ftp":
        return server.uri(f"/gc-{uuid.uuid4().hex[:8]}")
    home = tmp_path / "home"  # sftp: its key and host key in a throwaway ~/.ssh
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(server.client_key, home / ".ssh" / "id_ed25519")
    (home / ".ssh" / "known_hosts").write_text(server.known_hosts_line())
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    remote = tmp_path / "sftp-root"
    remote.mkdir(parents=True)
    return server.uri(f"{remote}/mlruns")


BACKENDS = ("gcs", "azure", "sftp", "ftp")


def test_mlflow_gc_removes_artifacts_of_deleted_runs(servers, monkeypatch, tmp_path):
    """One tracking store, one experiment per backend, one ``mlflow gc`` for all of them."""
    src = tmp_path / "src"
    (src / "model" / "sub").mkdir(parents=True)
    for index in range(5):
        (src / "model" / "sub" / f"w{index}.bin").write_bytes(bytes([index]) * 100)
    (src / "model" / "MLmodel").write_text("flavors: {}")
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking)
    runs: dict[str, dict] = {}
    try:
        client = MlflowClient()
        for name in BACKENDS:
            location = _location(name, servers(name), monkeypatch, tmp_path / name)
            experiment = mlflow.create_experiment(f"gc-{name}", artifact_location=location)
            runs[name] = {}
            for label in ("doomed", "empty", "keep"):
                with mlflow.start_run(experiment_id=experiment) as run:
                    if label != "empty":
                        mlflow.log_artifacts(str(src))
                runs[name][label] = run.info
            client.delete_run(runs[name]["doomed"].run_id)
            client.delete_run(runs[name]["empty"].run_id)  # never logged anything: a missing path
    finally:
        mlflow.set_tracking_uri(None)
    for name in BACKENDS:  # there is something to collect
        assert get_artifact_repository(runs[name]["doomed"].artifact_uri).list_artifacts(), name
    done = subprocess.run(
        [sys.executable, "-m", "mlflow", "gc", "--backend-store-uri", tracking, "--tracking-uri", tracking],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    for name in BACKENDS:
        doomed = get_artifact_repository(runs[name]["doomed"].artifact_uri)
        assert doomed.list_artifacts() == [], name
        assert not doomed.fs.exists(doomed._remote("model/sub/w0.bin")), name
        kept = get_artifact_repository(runs[name]["keep"].artifact_uri)
        assert [f.path for f in kept.list_artifacts("model")] == ["model/MLmodel", "model/sub"], name
