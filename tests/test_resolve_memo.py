"""The factory's remembered ``resolve``: a hit only when nothing it reads has changed.

Each test builds repositories through MLflow's registry (the path ``mlflow server``
takes for every request) and changes one input between two constructions.
"""

from __future__ import annotations

import os

import fsspec.config
import pytest
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from artifact_fs import resolve_memo

URI = "s3://memo-bucket/runs"


@pytest.fixture(autouse=True)
def _fresh_memo():
    resolve_memo.clear()
    yield
    resolve_memo.clear()


def endpoint(uri: str = URI) -> str | None:
    return get_artifact_repository(uri).resolved.storage_options.get("endpoint_url")


def test_same_inputs_give_the_same_result_once_resolved(monkeypatch):
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:1111")
    first = get_artifact_repository(URI).resolved
    assert get_artifact_repository(URI).resolved is first


def test_a_changed_variable_is_seen_by_the_next_repository(monkeypatch):
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:1111")
    assert endpoint() == "http://127.0.0.1:1111"
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:2222")
    assert endpoint() == "http://127.0.0.1:2222"
    monkeypatch.delenv("MLFLOW_S3_ENDPOINT_URL")
    assert endpoint() is None


def test_a_bad_variable_after_a_good_one_still_fails_loudly(monkeypatch):
    from mlflow.exceptions import MlflowException

    monkeypatch.setenv("MLFLOW_S3_IGNORE_TLS", "true")
    get_artifact_repository(URI)
    monkeypatch.setenv("MLFLOW_S3_IGNORE_TLS", "maybe")
    with pytest.raises(MlflowException, match="MLFLOW_S3_IGNORE_TLS"):
        get_artifact_repository(URI)


def test_an_edited_profiles_file_is_seen(monkeypatch, tmp_path):
    path = tmp_path / "profiles.toml"
    monkeypatch.setenv("ARTIFACT_FS_PROFILES", str(path))
    assert endpoint() is None  # no file yet
    path.write_text('[profiles.a]\nmatch = "s3://memo-bucket"\nendpoint_url = "http://127.0.0.1:3333"\n')
    os.chmod(path, 0o600)
    assert endpoint() == "http://127.0.0.1:3333"
    path.write_text('[profiles.a]\nmatch = "s3://memo-bucket"\nendpoint_url = "http://127.0.0.1:4444/"\n')
    assert endpoint().rstrip("/") == "http://127.0.0.1:4444"


def test_a_rotated_secret_file_is_read_again(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("first-secret")
    path = tmp_path / "profiles.toml"
    path.write_text(
        f'[profiles.a]\nmatch = "s3://memo-bucket"\naccess_key_id = "AKIDMEMO"\nsecret_access_key = "file:{secret}"\n'
    )
    os.chmod(path, 0o600)
    monkeypatch.setenv("ARTIFACT_FS_PROFILES", str(path))
    assert get_artifact_repository(URI).resolved.storage_options["secret"] == "first-secret"
    secret.write_text("second-secret")  # same size and, on a coarse clock, the same mtime
    assert get_artifact_repository(URI).resolved.storage_options["secret"] == "second-secret"


def test_fsspec_configuration_changes_are_seen(monkeypatch):
    monkeypatch.setitem(fsspec.config.conf, "s3", {"default_block_size": 1234})
    assert get_artifact_repository(URI).resolved.storage_options["default_block_size"] == 1234
    monkeypatch.setitem(fsspec.config.conf, "s3", {"default_block_size": 5678})
    assert get_artifact_repository(URI).resolved.storage_options["default_block_size"] == 5678


def test_the_public_resolve_is_never_shared(monkeypatch):
    from artifact_fs import resolve

    first = resolve(URI)
    first.storage_options["endpoint_url"] = "http://changed-by-caller"
    assert "endpoint_url" not in resolve(URI).storage_options
    assert endpoint() is None
