"""The factory's remembered ``resolve``: a hit only when nothing it reads has changed.

Each test builds repositories through MLflow's registry (the path ``mlflow server``
takes for every request) and changes one input between two constructions.
"""

from __future__ import annotations

import os

import fsspec.config
import pytest
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from artifact_fs import resolve, resolve_memo

URI = "s3://memo-bucket/runs"


@pytest.fixture(autouse=True)
def _fresh_memo(monkeypatch):
    monkeypatch.setenv("ARTIFACT_FS_ENGINE", "fsspec")  # the tests read s3fs's option names
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

    first = resolve(URI)
    first.storage_options["endpoint_url"] = "http://changed-by-caller"
    assert "endpoint_url" not in resolve(URI).storage_options
    assert endpoint() is None


# --- per store: resolved once, moved to each URI ----------------------------------------

STORE = "s3://memo-bucket/exp/1"


def test_two_uris_of_one_store_share_its_resolution_but_not_their_roots(monkeypatch):
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:1111")
    a = get_artifact_repository(f"{STORE}/run-a/artifacts")
    b = get_artifact_repository(f"{STORE}/run-b/artifacts")
    assert b.resolved.storage_options is a.resolved.storage_options  # the store's, resolved once
    assert (a.resolved.root, b.resolved.root) == (
        "memo-bucket/exp/1/run-a/artifacts",
        "memo-bucket/exp/1/run-b/artifacts",
    )
    assert b.resolved.url == "s3://memo-bucket/exp/1/run-b/artifacts"
    assert b.resolved.uri == b.artifact_uri == f"{STORE}/run-b/artifacts"
    assert b.resolved.recipe.uri == f"{STORE}/run-b/artifacts"  # a pickle or filesystem travels to its own root
    assert b.resolved.redacted() == {**resolve(f"{STORE}/run-b/artifacts").redacted()}  # what resolve says now


def test_a_bucket_with_its_own_profile_is_another_store(monkeypatch, tmp_path):
    path = tmp_path / "profiles.toml"
    path.write_text('[profiles.other]\nmatch = "s3://memo-other"\nendpoint_url = "http://127.0.0.1:6666"\n')
    os.chmod(path, 0o600)
    monkeypatch.setenv("ARTIFACT_FS_PROFILES", str(path))
    plain = resolve_memo.resolve_for_repository("s3://memo-bucket/x")
    beside = resolve_memo.resolve_for_repository("s3://memo-third/y")  # nothing of S3's depends on the bucket
    own = resolve_memo.resolve_for_repository("s3://memo-other/z")
    assert beside.storage_options is plain.storage_options and beside.root == "memo-third/y"
    assert own.storage_options is not plain.storage_options and own.profile.name == "other"
    assert (own.storage_options["endpoint_url"], own.root) == ("http://127.0.0.1:6666", "memo-other/z")


def test_another_host_or_user_is_another_store_and_keeps_its_own_secret():
    one = resolve_memo.resolve_for_repository("sftp://alice:Pw-One-1@h1:2222/runs/1")
    two = resolve_memo.resolve_for_repository("sftp://alice:Pw-One-1@h1:2222/runs/2")
    other_user = resolve_memo.resolve_for_repository("sftp://bob:Pw-Two-2@h1:2222/runs/3")
    other_host = resolve_memo.resolve_for_repository("sftp://alice:Pw-One-1@h2:2222/runs/4")
    assert two.storage_options is one.storage_options and two.root == "/runs/2"
    assert other_user.storage_options["username"] == "bob" and other_user.storage_options["password"] == "Pw-Two-2"
    assert other_user.secret_values == ("Pw-Two-2",) and "Pw-One-1" not in repr(other_user.recipe)
    assert other_host.storage_options["host"] == "h2" and other_host.url == "sftp://h2:2222/runs/4"
    assert "Pw-One-1" not in other_host.recipe.uri


def test_a_profile_of_a_path_prefix_applies_only_under_it(monkeypatch, tmp_path):
    path = tmp_path / "profiles.toml"
    path.write_text('[profiles.team]\nmatch = "s3://memo-bucket/team"\nendpoint_url = "http://127.0.0.1:5555"\n')
    os.chmod(path, 0o600)
    monkeypatch.setenv("ARTIFACT_FS_PROFILES", str(path))
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:1111")
    for _round in range(2):  # the second round comes from the memos
        assert endpoint("s3://memo-bucket/other/run-1") == "http://127.0.0.1:1111"
        assert endpoint("s3://memo-bucket/team/run-2") == "http://127.0.0.1:5555"
        assert endpoint("s3://memo-bucket/teammate/run-3") == "http://127.0.0.1:1111"  # a prefix, not a segment
        assert endpoint("s3://memo-bucket/team/run-4") == "http://127.0.0.1:5555"
        assert endpoint("s3://memo-bucket/run-5") == "http://127.0.0.1:1111"


def test_an_environment_change_between_two_new_uris_is_seen(monkeypatch):
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:1111")
    assert endpoint(f"{STORE}/run-1") == "http://127.0.0.1:1111"
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:2222")
    assert endpoint(f"{STORE}/run-2") == "http://127.0.0.1:2222"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")  # any variable: a new store resolution
    assert get_artifact_repository(f"{STORE}/run-3").resolved.storage_options["client_kwargs"] == {
        "region_name": "eu-west-3"
    }


def test_a_client_switch_between_two_new_uris_picks_the_other_row(monkeypatch):
    first = resolve_memo.resolve_for_repository("hdfs://nn:8020/runs/1")
    monkeypatch.setenv("ARTIFACT_FS_HDFS_CLIENT", "pyarrow")
    second = resolve_memo.resolve_for_repository("hdfs://nn:8020/runs/2")
    assert first.row is not second.row and second.row.variant == "pyarrow"
    assert second.root == resolve("hdfs://nn:8020/runs/2").root


@pytest.mark.parametrize(
    "bad",
    [
        "s3://memo-bucket/exp/1/run?x=1",
        "s3://memo-bucket/exp/1/\x01run",
        "s3://memo-bucket:notaport/run",
        "s3://user@memo-bucket/run",
    ],
)
def test_a_bad_uri_of_a_remembered_store_fails_as_resolve_says(bad):
    from mlflow.exceptions import MlflowException

    resolve_memo.resolve_for_repository(f"{STORE}/good")  # the store is remembered
    with pytest.raises(Exception) as expected:
        resolve(bad)
    with pytest.raises(MlflowException) as got:
        get_artifact_repository(bad)
    assert str(expected.value) in got.value.message


def test_a_relative_path_follows_the_working_directory(monkeypatch, tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    monkeypatch.chdir(tmp_path / "one")
    assert get_artifact_repository("mlruns/0/r/artifacts").resolved.root == f"{tmp_path}/one/mlruns/0/r/artifacts"
    monkeypatch.chdir(tmp_path / "two")
    assert get_artifact_repository("mlruns/0/r/artifacts").resolved.root == f"{tmp_path}/two/mlruns/0/r/artifacts"
    assert get_artifact_repository("file:mlruns/0/s").resolved.root == f"{tmp_path}/two/mlruns/0/s"


# --- the base class's pool and queue, built on first use ---------------------------------


def test_the_base_classs_pool_and_queue_are_built_on_first_use_for_this_repository(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    repo = get_artifact_repository(f"{tmp_path}/runs/1")
    assert "thread_pool" not in vars(repo) and "_async_logging_queue" not in vars(repo)
    logged = []
    repo.log_artifact = lambda local, artifact_path=None: logged.append((os.path.basename(local), artifact_path))
    repo._async_logging_queue._artifact_logging_func("plot.png", "figures")  # MLflow's handler, bound to repo
    assert logged == [("plot.png", "figures")]
    assert isinstance(repo.thread_pool, ThreadPoolExecutor) and repo.thread_pool is repo.thread_pool
    assert repo.artifact_uri == f"{tmp_path}/runs/1" and repo.tracking_uri is None
