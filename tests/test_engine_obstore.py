"""The obstore engine (``ARTIFACT_FS_ENGINE=obstore``) on the S3 rows: every setting lands in
obstore's configuration or is refused by name, and what it sends reaches a real server
(SeaweedFS). The repository contract, hostile names, integrity and corruption suites run on
this engine too (tests/test_backends.py, test_hostile.py, test_faults_integrity.py,
test_corruption.py)."""

from __future__ import annotations

import json
import os

import pytest
from mlflow.exceptions import MlflowException

import artifact_fs
from artifact_fs.errors import InvalidSettingError
from artifact_fs.repository import FsspecArtifactRepository

from .conftest import NEEDS_OBSTORE, new_bucket, run_without_obstore

pytestmark = NEEDS_OBSTORE

ENGINE = {"ARTIFACT_FS_ENGINE": "obstore"}


def _options(uri: str, **env: str) -> dict:
    return artifact_fs.resolve(uri, {**ENGINE, **env}).storage_options


def test_the_engine_is_picked_by_variable_and_unknown_engines_are_refused():
    assert artifact_fs.resolve("s3://b/p", {"ARTIFACT_FS_ENGINE": "fsspec"}).row.client.impl == "s3fs.S3FileSystem"
    assert artifact_fs.resolve("s3://b/p", ENGINE).row.client.impl.endswith("ObstoreS3FileSystem")
    with pytest.raises(InvalidSettingError, match="ARTIFACT_FS_ENGINE='rust'.*fsspec, obstore"):
        artifact_fs.resolve("s3://b/p", {"ARTIFACT_FS_ENGINE": "rust"})


@pytest.mark.parametrize(
    "uri", ["s3://b/p", "r2://b@acct.r2.cloudflarestorage.com/p", "b2://b@s3.eu.backblazeb2.com/p"]
)
def test_obstore_is_the_default_on_the_s3_rows_and_says_so(uri):
    resolved = artifact_fs.resolve(uri, {})
    assert resolved.row.variant == "obstore" and resolved.engine == "obstore, the default where it is installed"
    assert resolved.recipe is not None and "ARTIFACT_FS_ENGINE" not in resolved.recipe.settings
    assert artifact_fs.resolve("gs://b/p", {}).row.variant == "fsspec"  # gs, wasbs, abfss: asked for by name
    named = artifact_fs.resolve(uri, {"ARTIFACT_FS_ENGINE": "fsspec"})
    assert named.row.variant == "fsspec" and named.engine == "fsspec, named by ARTIFACT_FS_ENGINE"


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("MLFLOW_S3_UPLOAD_EXTRA_ARGS", '{"ACL": "bucket-owner-full-control"}'),
        ("MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION", "s3"),
    ],
)
def test_a_setting_obstore_cannot_honour_keeps_the_default_on_fsspec_saying_why(var, value):
    resolved = artifact_fs.resolve("s3://b/p", {var: value})
    assert resolved.row.variant == "fsspec" and resolved.engine.startswith(f"fsspec, as obstore cannot honour {var}")
    from artifact_fs.errors import NotOnThisEngineError

    with pytest.raises(NotOnThisEngineError, match=var):  # asked for by name: refused, never dropped
        artifact_fs.resolve("s3://b/p", {**ENGINE, var: value})
    with pytest.raises(InvalidSettingError, match="MLFLOW_S3_IGNORE_TLS"):  # a bad value is bad on both
        artifact_fs.resolve("s3://b/p", {var: value, "MLFLOW_S3_IGNORE_TLS": "maybe"})


def test_storage_options_given_as_they_are_keep_the_fsspec_engine(tmp_path):
    given = artifact_fs.resolve("s3://b/p", {}, key="k", client_kwargs={"region_name": "eu-west-1"})
    assert given.row.variant == "fsspec" and "storage options given" in given.engine
    profiles = tmp_path / "profiles.toml"
    profiles.write_text('[profiles.lake]\nmatch = "s3://b"\n[profiles.lake.storage_options]\nanon = true\n')
    profiled = artifact_fs.resolve("s3://b/p", {"ARTIFACT_FS_PROFILES": str(profiles)})
    assert profiled.row.variant == "fsspec" and profiled.storage_options["anon"] is True
    engine = 'engine = "obstore"\n'
    profiles.write_text(f'[profiles.lake]\nmatch = "s3://b"\n{engine}')
    assert artifact_fs.resolve("s3://b/p", {"ARTIFACT_FS_PROFILES": str(profiles)}).row.variant == "obstore"


def test_without_obstore_the_s3_rows_run_on_fsspec_and_explain_says_why():
    code = "import artifact_fs\nr = artifact_fs.resolve('s3://b/p', {})\nprint(r.row.client.impl, '|', r.engine)\n"
    assert run_without_obstore(code).strip() == (
        "s3fs.S3FileSystem | fsspec, as obstore is not installed (pip install 'artifact_fs[obstore]')"
    )


def test_mlflow_s3_settings_map_onto_obstore_config():
    options = _options(
        "s3://b/p",
        MLFLOW_S3_ENDPOINT_URL="http://127.0.0.1:9000",
        AWS_ACCESS_KEY_ID="AKIA-made-up",
        AWS_SECRET_ACCESS_KEY="made-up-secret",
        AWS_SESSION_TOKEN="made-up-token",
        AWS_DEFAULT_REGION="eu-west-3",
        MLFLOW_S3_IGNORE_TLS="true",
        MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE="virtual",
        MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION="unsigned",
        MLFLOW_S3_EXPECTED_BUCKET_OWNER="123456789012",
        MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT="7",
        ARTIFACT_FS_PARTS_IN_FLIGHT="3",
    )
    config = options["config"]
    assert config["access_key_id"] == "AKIA-made-up" and config["secret_access_key"] == "made-up-secret"
    assert config["session_token"] == "made-up-token" and config["region"] == "eu-west-3"
    assert config["virtual_hosted_style_request"] is True and config["skip_signature"] is True
    assert options["endpoint_url"] == "http://127.0.0.1:9000"
    assert options["client_options"] == {"allow_invalid_certificates": True, "timeout": 7, "connect_timeout": 7}
    assert options["upload_args"] == {"ExpectedBucketOwner": "123456789012"}
    assert options["retry_config"]["max_retries"] == 0  # one retry budget: artifact_fs's


def test_secrets_of_the_obstore_engine_are_redacted():
    resolved = artifact_fs.resolve(
        "s3://b/p", {**ENGINE, "AWS_ACCESS_KEY_ID": "AKIA-made-up", "AWS_SECRET_ACCESS_KEY": "made-up-secret"}
    )
    assert "made-up-secret" not in repr(resolved) and "AKIA-made-up" not in repr(resolved)
    assert "made-up-secret" not in json.dumps(resolved.redacted(), default=str)


@pytest.mark.parametrize(
    ("var", "value", "named"),
    [
        ("MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION", "s3v2", "SigV4 only"),
        ("MLFLOW_S3_UPLOAD_EXTRA_ARGS", '{"ACL": "private"}', "ACL cannot be sent by obstore"),
        ("MLFLOW_S3_UPLOAD_EXTRA_ARGS", '{"SSECustomerKey": "k"}', "SSECustomerKey"),
    ],
)
def test_settings_the_engine_cannot_honour_are_refused_by_name(var, value, named):
    with pytest.raises(InvalidSettingError) as info:
        artifact_fs.resolve("s3://b/p", {**ENGINE, var: value})
    assert var in str(info.value) and "ARTIFACT_FS_ENGINE=obstore" in str(info.value) and named in str(info.value)


def test_r2_and_b2_uris_give_their_endpoint_region_and_addressing():
    r2 = _options("r2://bkt@acct.r2.cloudflarestorage.com/p")
    assert r2["endpoint_url"] == "https://acct.r2.cloudflarestorage.com"
    assert r2["config"]["region"] == "auto" and r2["config"]["virtual_hosted_style_request"] is True
    b2 = _options("b2://bkt@s3.us-west-004.backblazeb2.com/p")
    assert b2["config"]["region"] == "us-west-004" and b2["config"]["virtual_hosted_style_request"] is False


@pytest.mark.s3
def test_upload_args_reach_the_store(seaweedfs, monkeypatch, tmp_path):
    """Content headers, metadata and tags of MLFLOW_S3_UPLOAD_EXTRA_ARGS are on the object;
    the guessed Content-Type is used when the variable gives none."""
    for name, value in {**seaweedfs.env(), **ENGINE}.items():
        monkeypatch.setenv(name, value)
    extra = {"Metadata": {"team": "vision"}, "CacheControl": "max-age=60", "Tagging": "stage=dev&owner=ml"}
    monkeypatch.setenv("MLFLOW_S3_UPLOAD_EXTRA_ARGS", json.dumps(extra))
    bucket = new_bucket(seaweedfs)
    (tmp_path / "m.json").write_text("{}")
    FsspecArtifactRepository(f"s3://{bucket}/run").log_artifact(str(tmp_path / "m.json"))
    client = seaweedfs.boto3_client()
    head = client.head_object(Bucket=bucket, Key="run/m.json")
    assert head["ContentType"] == "application/json" and head["CacheControl"] == "max-age=60"
    assert head["Metadata"]["team"] == "vision"
    tags = {t["Key"]: t["Value"] for t in client.get_object_tagging(Bucket=bucket, Key="run/m.json")["TagSet"]}
    assert tags == {"stage": "dev", "owner": "ml"}


@pytest.mark.s3
def test_a_big_upload_records_its_part_size_and_is_checked_against_the_multipart_etag(seaweedfs, monkeypatch, tmp_path):
    for name, value in {**seaweedfs.env(), **ENGINE, "ARTIFACT_FS_VERIFY": "full"}.items():
        monkeypatch.setenv(name, value)
    bucket = new_bucket(seaweedfs)
    data = os.urandom(20 * 2**20)
    (tmp_path / "w.bin").write_bytes(data)
    repo = FsspecArtifactRepository(f"s3://{bucket}/run")
    repo.log_artifact(str(tmp_path / "w.bin"))
    head = seaweedfs.boto3_client().head_object(Bucket=bucket, Key="run/w.bin")
    assert head["ETag"].strip('"').endswith("-3") and head["Metadata"]["artifact-fs-part-size"] == str(8 * 2**20)
    assert repo.fs.recorded_part_size(f"{bucket}/run/w.bin") == 8 * 2**20
    (tmp_path / "down").mkdir()
    assert open(repo.download_artifacts("w.bin", str(tmp_path / "down")), "rb").read() == data


@pytest.mark.s3
def test_wrong_credentials_are_permission_denied_naming_no_secret(seaweedfs, monkeypatch, tmp_path):
    for name, value in {**seaweedfs.env(), **ENGINE, "AWS_SECRET_ACCESS_KEY": "wrong-made-up-secret"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(MlflowException) as info:
        FsspecArtifactRepository(f"s3://{new_bucket(seaweedfs)}/run").list_artifacts()
    assert info.value.error_code == "PERMISSION_DENIED" and "wrong-made-up-secret" not in info.value.message


def test_without_obstore_everything_imports_and_opening_names_the_extra():
    """obstore is an optional extra: nothing imports it until an obstore filesystem is opened."""
    code = (
        "import artifact_fs\n"
        "from artifact_fs import resolve\n"
        "from artifact_fs.opener import open_filesystem\n"
        "resolved = resolve('s3://b/p', {'ARTIFACT_FS_ENGINE': 'obstore'})\n"
        "try:\n"
        "    open_filesystem(resolved)\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = run_without_obstore(code)
    assert "BackendNotInstalledError" in out and "artifact_fs[obstore]" in out, out


#: a child that widens the race obstore's last hand-over runs at exit: the tokio thread that
#: wakes the loop with the last result is then up to 0.5 s late to return (as on a busy
#: machine), and returns at once when the interpreter starts to finalize (obstore_exit)
_SLOW_LAST_HANDOVER = """
import sys, threading, time
import fsspec.asyn
import artifact_fs, artifact_fs.obstore_exit as obstore_exit
if sys.argv[2] == "unguarded":
    obstore_exit.wait_for_handoffs = lambda *args: True
loop = fsspec.asyn.get_loop()
wake = loop._write_to_self
def late_wake():
    wake()
    if isinstance(threading.current_thread(), threading._DummyThread):  # obstore's thread
        late = time.monotonic() + 0.5
        while time.monotonic() < late and not sys.is_finalizing():
            time.sleep(0.001)
loop._write_to_self = late_wake
fs, path = artifact_fs.filesystem(sys.argv[1])
fs.ls(path)
"""


@pytest.mark.s3
@pytest.mark.parametrize("guarded", [True, False])
def test_a_process_exits_cleanly_after_its_last_obstore_call(seaweedfs, monkeypatch, guarded):
    """The interpreter waits for obstore's last hand-over before it finalizes: unguarded, a
    tokio thread asking for the GIL while it does ends the process with SIGABRT (CPython < 3.14)."""
    import signal
    import subprocess
    import sys

    env = {**os.environ, **seaweedfs.env(), **ENGINE}
    bucket = new_bucket(seaweedfs)
    seaweedfs.boto3_client().put_object(Bucket=bucket, Key="run/a.txt", Body=b"a")
    args = [sys.executable, "-c", _SLOW_LAST_HANDOVER, f"s3://{bucket}/run", "guarded" if guarded else "unguarded"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    if guarded:
        assert done.returncode == 0, done.stderr[-2000:]
    elif sys.version_info < (3, 14):  # 3.14 parks such a thread instead of ending it
        assert done.returncode == -signal.SIGABRT, "the race this guards against no longer aborts"
