"""Filesystems and repositories travel to worker processes by pickle (Dask, Ray, Spark's Python
workers) with no secret in the pickle; where they are unpickled, credentials are read again
(environment, profiles file, SDK chain) and the driver's non-secret settings come along."""

from __future__ import annotations

import base64
import json
import os
import pickle
import subprocess
import sys
import textwrap

import cloudpickle
import pytest
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

import artifact_fs as af
from artifact_fs.backends import SCHEMES
from artifact_fs.protocols import ModelsFileSystem, RunsFileSystem
from artifact_fs.repository import FsspecArtifactRepository
from tests.conftest import new_bucket
from tests.servers.azure import ACCOUNT, KEY

PICKLERS = {"pickle": pickle.dumps, "cloudpickle": cloudpickle.dumps}

#: one artifact URI per scheme row (a row missing here fails the table test below)
EXAMPLES = {
    "": "/tmp/artifact-fs-pickle/run",
    "file": "file:///tmp/artifact-fs-pickle/run",
    "memory": "memory://pickle/run",
    "s3": "s3://bucket/exp/1/artifacts",
    "r2": "r2://bucket@0123456789abcdef.r2.cloudflarestorage.com/exp/1",
    "b2": "b2://bucket@s3.us-west-004.backblazeb2.com/exp/1",
    "wasbs": "wasbs://c@acct.blob.core.windows.net/exp/1",
    "abfss": "abfss://c@acct.dfs.core.windows.net/exp/1",
    "gs": "gs://bucket/exp/1",
    "sftp": "sftp://me:Uri-Password-1@127.0.0.1:1/exp/1",
    "ftp": "ftp://me:Uri-Password-2@127.0.0.1:1/exp/1",
    "hdfs": "hdfs://127.0.0.1:1/exp/1",
    "viewfs": "viewfs://cluster/exp/1",
    "mlflow-artifacts": "mlflow-artifacts://127.0.0.1:1/exp/1",
    "http": "http://127.0.0.1:1/api/2.0/mlflow-artifacts/artifacts/exp/1",
    "https": "https://127.0.0.1:1/api/2.0/mlflow-artifacts/artifacts/exp/1",
}


def _secret_env(row) -> dict[str, str]:
    """A made-up value for every secret variable of ``row`` (recognisable in a pickle)."""
    values = {s.var: f"Secret{i:04d}{s.var}".replace("_", "") for i, s in enumerate(row.client.settings) if s.secret}
    if "AZURE_STORAGE_CONNECTION_STRING" in values:  # a well-formed one, its key the secret
        key = base64.b64encode(b"AzureKeyInPickle" * 4).decode()
        values["AZURE_STORAGE_CONNECTION_STRING"] = f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={key}"
    return values


def _no_secret_in(blob: bytes, secrets) -> None:
    for value in secrets:
        for text in {value, *(part.partition("=")[2] for part in value.split(";") if "Key=" in part)}:
            assert text.encode() not in blob, f"{text!r} travelled in the pickle"


def test_every_row_has_an_example():
    assert set(EXAMPLES) == {row.name for row in SCHEMES}


@pytest.mark.parametrize("row", SCHEMES, ids=lambda row: row.name or "local")
@pytest.mark.parametrize("picker", PICKLERS)
def test_every_rows_repository_pickles_without_its_secrets(row, picker, monkeypatch):
    secrets = _secret_env(row)
    for name, value in {**secrets, "MLFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:9"}.items():
        monkeypatch.setenv(name, value)
    uri = EXAMPLES[row.name]
    repo = get_artifact_repository(uri)
    blob = PICKLERS[picker](repo)
    _no_secret_in(blob, [*secrets.values(), "Uri-Password-1", "Uri-Password-2"])
    again = pickle.loads(blob)
    assert type(again) is type(repo)  # the same MLflow mixins (the tracking server's capabilities)
    assert again.artifact_uri == uri.replace(":Uri-Password-1@", "@").replace(":Uri-Password-2@", "@")
    assert again.resolved.url == repo.resolved.url
    if row.name == "s3":
        assert again.resolved.storage_options["endpoint_url"] == "http://127.0.0.1:9"


@pytest.mark.parametrize("row", [r for r in SCHEMES if r.name not in ("sftp", "ftp")], ids=lambda r: r.name or "local")
def test_every_rows_filesystem_pickles_without_its_secrets(row, monkeypatch):
    """(SFTP and FTP clients connect when built: their filesystems are checked on real servers below.)"""
    secrets = _secret_env(row)
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    if row.name == "viewfs":  # hdfs-native needs a mount table to build a viewfs client
        monkeypatch.setenv("MLFLOW_PYARROW_EXTRA_CONF", "fs.viewfs.mounttable.cluster.linkFallback=hdfs://127.0.0.1:1/")
    fs, _path = af.filesystem(EXAMPLES[row.name])
    for picker in PICKLERS.values():
        blob = picker(fs)
        _no_secret_in(blob, secrets.values())
        assert type(pickle.loads(blob)) is type(fs)


@pytest.mark.parametrize("picker", PICKLERS)
def test_explicit_secret_options_stay_behind(picker):
    repo = FsspecArtifactRepository("s3://bucket/run", key="Explicit-Key-1", secret="Explicit-Secret-1", anon=False)
    blob = PICKLERS[picker](repo)
    _no_secret_in(blob, ["Explicit-Key-1", "Explicit-Secret-1"])
    assert pickle.loads(blob).resolved.recipe.options == {"anon": False}


@pytest.mark.parametrize("cls", [RunsFileSystem, ModelsFileSystem])
@pytest.mark.parametrize("picker", PICKLERS)
def test_runs_and_models_filesystems_pickle_without_secrets(cls, picker):
    fs = cls(
        tracking_uri="http://alice:Tracking-Password@127.0.0.1:1",
        storage_options={"key": "Store-Key-1", "secret": "Store-Secret-1", "endpoint_url": "http://127.0.0.1:2"},
    )
    blob = PICKLERS[picker](fs)
    _no_secret_in(blob, ["Tracking-Password", "Store-Key-1", "Store-Secret-1"])
    again = pickle.loads(blob)
    assert type(again) is cls
    assert again.tracking_uri == "http://alice@127.0.0.1:1"
    assert again.overrides == {"endpoint_url": "http://127.0.0.1:2"}


# --- unpickled in a fresh process, with other credentials ---------------------------------

CHILD = textwrap.dedent(
    """
    import json, pickle, sys
    obj = pickle.load(open(sys.argv[1], "rb"))
    try:
        if hasattr(obj, "list_artifacts"):
            found = sorted(i.path for i in obj.list_artifacts())
        else:
            found = sorted(p.rsplit("/", 1)[-1] for p in obj.ls(sys.argv[2], detail=False))
        print(json.dumps({"found": found}))
    except Exception as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
    """
)


def _unpickled_elsewhere(tmp_path, blob: bytes, env: dict[str, str], path: str = "") -> dict:
    """Unpickle ``blob`` in a new interpreter whose environment is only ``env`` (plus what
    Python needs), list what it points at, and return what happened."""
    (tmp_path / "obj.pickle").write_bytes(blob)
    base = {name: os.environ[name] for name in ("PATH", "HOME", "PYTHONPATH") if name in os.environ}
    base["ARTIFACT_FS_PROFILES"] = "none"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "obj.pickle"), path],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _logged_then_pickled(uri: str, tmp_path, what: str, dumps) -> bytes:
    """Log ``a.txt`` under ``uri``, then pickle the repository or the store's filesystem."""
    (tmp_path / "a.txt").write_text("a")
    repo = get_artifact_repository(uri)
    repo.log_artifact(str(tmp_path / "a.txt"))
    return dumps(repo if what == "repository" else af.filesystem(uri)[0])


@pytest.mark.s3
@pytest.mark.parametrize("what", ["repository", "filesystem"])
def test_s3_unpickled_elsewhere_uses_that_processes_credentials(seaweedfs, monkeypatch, tmp_path, what):
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    bucket = new_bucket(seaweedfs)
    blob = _logged_then_pickled(f"s3://{bucket}/run", tmp_path, what, cloudpickle.dumps)
    _no_secret_in(blob, [seaweedfs.key, seaweedfs.secret])
    # the worker has no endpoint setting of its own: the driver's travelled; its credentials are its own
    wrong = _unpickled_elsewhere(
        tmp_path, blob, {"AWS_ACCESS_KEY_ID": "nobody", "AWS_SECRET_ACCESS_KEY": "wrong"}, f"{bucket}/run"
    )
    assert wrong.get("error"), wrong
    assert seaweedfs.secret not in wrong["message"]
    right = {"AWS_ACCESS_KEY_ID": seaweedfs.key, "AWS_SECRET_ACCESS_KEY": seaweedfs.secret}
    assert _unpickled_elsewhere(tmp_path, blob, right, f"{bucket}/run") == {"found": ["a.txt"]}


@pytest.mark.parametrize("what", ["repository", "filesystem"])
def test_azure_unpickled_elsewhere_uses_that_processes_key(azurite, monkeypatch, tmp_path, what):
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string())
    container = azurite.create_container()
    blob = _logged_then_pickled(
        f"wasbs://{container}@{ACCOUNT}.blob.core.windows.net/run", tmp_path, what, pickle.dumps
    )
    _no_secret_in(blob, [KEY])
    wrong_key = base64.b64encode(b"w" * 64).decode()
    wrong = _unpickled_elsewhere(
        tmp_path, blob, {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string(wrong_key)}, f"{container}/run"
    )
    assert wrong.get("error") and KEY not in wrong["message"], wrong
    right = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string()}
    assert _unpickled_elsewhere(tmp_path, blob, right, f"{container}/run") == {"found": ["a.txt"]}


def test_an_ftp_password_travels_by_the_workers_profile_not_by_pickle(ftp, tmp_path):
    uri = ftp.uri("/pickled")
    repo = get_artifact_repository(uri)
    (tmp_path / "a.txt").write_text("a")
    repo.log_artifact(str(tmp_path / "a.txt"))
    blob = cloudpickle.dumps(repo)
    _no_secret_in(blob, [ftp.password])
    without = _unpickled_elsewhere(tmp_path, blob, {})
    assert without.get("error") and ftp.password not in without["message"], without
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(
        f'[profiles.ftp]\nmatch = "ftp://{ftp.host}:{ftp.port}"\n'
        f"[profiles.ftp.storage_options]\npassword = {json.dumps(ftp.password)}\n"
    )
    os.chmod(profiles, 0o600)
    assert _unpickled_elsewhere(tmp_path, blob, {"ARTIFACT_FS_PROFILES": str(profiles)}) == {"found": ["a.txt"]}


def test_a_runs_filesystem_carries_the_roots_it_looked_up(tracking_uri, tmp_path):
    """A worker reading a run the driver already located neither asks the tracking server
    again nor imports MLflow (1-2 s per worker process); an alias is never carried."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.create_experiment(f"carried-{tmp_path.name}", artifact_location=str(tmp_path / "art"))
    run_id = client.create_run(experiment).info.run_id
    (tmp_path / "t.txt").write_text("hello")
    client.log_artifact(run_id, str(tmp_path / "t.txt"), "d")
    fs = RunsFileSystem(tracking_uri=tracking_uri)
    assert fs.cat(f"{run_id}/d/t.txt") == b"hello"
    (tmp_path / "obj.pickle").write_bytes(pickle.dumps(fs))
    child = (
        "import pickle, sys; fs = pickle.load(open(sys.argv[1], 'rb'));"
        "print(fs.cat(sys.argv[2]).decode(), any(m.startswith('mlflow') for m in sys.modules))"
    )
    # the tracking store is unreachable where it is unpickled: the root travelled
    env = {"PATH": os.environ["PATH"], "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}
    done = subprocess.run(
        [sys.executable, "-c", child, str(tmp_path / "obj.pickle"), f"{run_id}/d/t.txt"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["hello", "False"]  # read, and MLflow never imported
    assert ModelsFileSystem.fixed_key("churn/3") and not ModelsFileSystem.fixed_key("churn@champion")
