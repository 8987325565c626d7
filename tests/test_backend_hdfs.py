"""HDFS on a real Hadoop 2.7.3 NameNode + DataNode (tests/servers/hdfs.py) through hdfs-native:
the contract, URI forms, MLflow settings, the client switch, atomic overwrite, the timeout
against a stopped NameNode / DataNode, and unchanged MLflow code logging to ``hdfs://``."""

from __future__ import annotations

import hashlib
import os
import pathlib
import re
import signal
import time
import uuid

import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from artifact_fs import FsspecArtifactRepository
from artifact_fs.bounded_calls import BoundedCalls

from .contract import RepositoryContract
from .servers.hdfs import core_site, hdfs_server

#: Client-side variables hdfs-native (or the code under test) reads from the environment.
HADOOP_CLIENT_VARS = ("HADOOP_CONF_DIR", "HADOOP_HOME", "HADOOP_USER_NAME", "HADOOP_PROXY_USER", "KRB5CCNAME")
CLIENT_VAR = "ARTIFACT_FS_HDFS_CLIENT"
TIMEOUT = "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT"


@pytest.fixture
def own_hdfs(hdfs, tmp_path_factory):
    """A server whose processes these tests may pause: the session one, unless it is reused."""
    if hdfs.procs:
        yield hdfs
        return
    # A reused NameNode is not ours to SIGSTOP: start one of our own.
    with hdfs_server(tmp_path_factory.mktemp("hdfs-own"), reuse=False) as server:
        yield server


@pytest.fixture(autouse=True)
def hadoop_client_environment(monkeypatch):
    """No developer Hadoop setting leaks in, and none a test exports (``env:`` rows) leaks out."""
    for name in (*HADOOP_CLIENT_VARS, CLIENT_VAR):
        monkeypatch.setenv(name, "")  # records the value to restore (or to remove) afterwards
        monkeypatch.delenv(name)


def _unique(prefix: str = "t") -> str:
    return f"/{prefix}-{uuid.uuid4().hex[:12]}"


def _digests(directory) -> dict[str, str]:
    root = pathlib.Path(directory)
    return {
        str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest() for f in root.rglob("*") if f.is_file()
    }


# --- the contract, on the real NameNode ---------------------------------------------------


class TestHDFSContract(RepositoryContract):
    """``hdfs://127.0.0.1:PORT/<container>/root`` through hdfs-native."""

    @pytest.fixture
    def container_uri(self, hdfs):
        return hdfs.uri(_unique("contract"))

    @pytest.fixture
    def artifact_uri(self, container_uri):
        return f"{container_uri}/root"


class TestHDFSDefaultFileSystemContract(TestHDFSContract):
    """``hdfs:///<container>/root``: the NameNode comes from ``fs.defaultFS`` in $HADOOP_CONF_DIR."""

    @pytest.fixture(autouse=True)
    def default_fs(self, hdfs, tmp_path_factory, monkeypatch):
        conf = core_site(tmp_path_factory.mktemp("conf"), {"fs.defaultFS": hdfs.url})
        monkeypatch.setenv("HADOOP_CONF_DIR", str(conf))

    @pytest.fixture
    def container_uri(self):
        return f"hdfs://{_unique('default-fs')}"


# --- URI forms ------------------------------------------------------------------------------


def _round_trip(uri: str, tmp_path: pathlib.Path) -> list[str]:
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "f.txt").write_text("payload")
    repo = get_artifact_repository(uri)
    repo.log_artifact(tmp_path / "src" / "f.txt", "d")
    dst = tmp_path / f"dst-{uuid.uuid4().hex[:6]}"
    dst.mkdir()
    assert pathlib.Path(repo.download_artifacts("d/f.txt", str(dst))).read_text() == "payload"
    return [info.path for info in repo.list_artifacts("d")]


def test_single_slash_form_uses_the_default_file_system_from_extra_conf(hdfs, tmp_path, monkeypatch):
    path = _unique("single-slash")
    with pytest.raises(MlflowException, match="fs.defaultFS"):
        get_artifact_repository(f"hdfs:{path}").list_artifacts()  # no default file system anywhere
    monkeypatch.setenv("HADOOP_CONF_DIR", str(core_site(tmp_path / "conf", {"fs.defaultFS": "hdfs://127.0.0.1:9"})))
    monkeypatch.setenv("MLFLOW_PYARROW_EXTRA_CONF", f"fs.defaultFS={hdfs.url},dfs.replication=1")  # wins
    assert _round_trip(f"hdfs:{path}", tmp_path) == ["d/f.txt"]
    assert hdfs.fs().cat(f"{path}/d/f.txt") == b"payload"


def test_viewfs_mount_table_reaches_the_namenode(hdfs, tmp_path, monkeypatch):
    target = _unique("viewfs-target")
    mounts = {"link./data": f"{hdfs.url}{target}", "linkFallback": f"{hdfs.url}/"}
    conf = core_site(tmp_path / "conf", {f"fs.viewfs.mounttable.cluster.{k}": v for k, v in mounts.items()})
    monkeypatch.setenv("HADOOP_CONF_DIR", str(conf))
    assert get_artifact_repository("viewfs://cluster/data/run").resolved.url == "viewfs://cluster/data/run"
    assert _round_trip("viewfs://cluster/data/run", tmp_path) == ["d/f.txt"]
    assert hdfs.fs().cat(f"{target}/run/d/f.txt") == b"payload"


# --- settings (what each variable becomes, for both clients: tests/test_resolve_settings.py) ---


def test_unknown_client_is_an_mlflow_error():
    os.environ[CLIENT_VAR] = "java"
    with pytest.raises(MlflowException, match=CLIENT_VAR) as info:
        get_artifact_repository("hdfs://nn/p")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_pyarrow_client_is_used_at_run_time_when_asked_for(hdfs):
    """pyarrow needs libhdfs.so, which no package registry ships: the switch must reach it."""
    os.environ[CLIENT_VAR] = "pyarrow"
    repo = get_artifact_repository(hdfs.uri(_unique("pyarrow")))
    assert repo.row.client.impl == "fsspec.implementations.arrow.HadoopFileSystem"
    try:
        listed = repo.list_artifacts()
    except MlflowException as exc:  # where libhdfs.so is missing: pyarrow's error, not hdfs-native's
        assert re.search("libjvm|libhdfs", exc.message), exc.message
    else:  # a machine with a Hadoop install: pyarrow really lists the (empty) root
        assert listed == []


def test_kerberos_user_is_the_owner_hdfs_records(hdfs, tmp_path, monkeypatch):
    (tmp_path / "f.txt").write_text("x")
    root = _unique("owners")
    for user in ("alice", "bob"):
        monkeypatch.setenv("MLFLOW_KERBEROS_USER", user)
        get_artifact_repository(hdfs.uri(f"{root}/{user}")).log_artifact(tmp_path / "f.txt")
    fs = hdfs.fs()
    assert [fs.info(f"{root}/{user}/f.txt")["owner"] for user in ("alice", "bob")] == ["alice", "bob"]


# --- HDFS specifics: atomic overwrite, names hdfs-native cannot carry ------------------------


def test_overwrite_replaces_atomically_where_a_plain_rename_fails(hdfs, tmp_path):
    fs = hdfs.fs()
    root = _unique("overwrite")
    fs.pipe_file(f"{root}/a", b"a")
    fs.pipe_file(f"{root}/b", b"b")
    with pytest.raises(FileExistsError):
        fs.mv(f"{root}/a", f"{root}/b")  # HDFS refuses to rename onto an existing file...
    repo = get_artifact_repository(hdfs.uri(root))
    for content in ("one", "two!"):
        (tmp_path / "b").write_text(content)
        repo.log_artifact(tmp_path / "b")  # ...so the row renames with overwrite=True
    assert fs.cat(f"{root}/b") == b"two!"
    assert sorted(fs.ls(root, detail=False)) == [f"{root}/a", f"{root}/b"]  # no temporary name left


@pytest.mark.parametrize("name", ["hash#tag.txt", "query?.txt", "semi;colon.txt"])
def test_names_hdfs_native_would_cut_short_are_refused(hdfs, tmp_path, name):
    fs = hdfs.fs()
    root = _unique("refused")
    (tmp_path / name).write_text("x")
    repo = get_artifact_repository(hdfs.uri(root))
    with pytest.raises(MlflowException, match="cannot carry") as info:
        repo.log_artifact(tmp_path / name)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert not fs.exists(root)
    from hdfs_native import Client

    with Client(f"hdfs://127.0.0.1:{hdfs.rpc_port}").create(f"{root}/d/{name}") as handle:  # written by another tool
        handle.write(b"x")
    assert fs.info(f"{root}/d")["type"] == "directory"
    with pytest.raises(MlflowException, match="cannot carry"):
        repo.list_artifacts("d")  # listing it would show a name cut short
    (dst := tmp_path / "dst").mkdir()
    with pytest.raises(MlflowException, match="cannot carry"):
        repo.download_artifacts("d", str(dst))  # downloading it would fetch another file
    assert os.listdir(dst) == []


# --- MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT against a stopped NameNode / DataNode -----------


def test_timeout_bounds_calls_to_a_stopped_namenode(own_hdfs, tmp_path, monkeypatch):
    (tmp_path / "f.txt").write_text("x")
    monkeypatch.setenv(TIMEOUT, "5")
    uri = own_hdfs.uri(_unique("stalled"))
    repo = get_artifact_repository(uri)
    repo.log_artifact(tmp_path / "f.txt")
    assert isinstance(repo.fs, BoundedCalls)
    timings = {}
    with own_hdfs.paused_namenode():
        for name, call in {
            "list_artifacts": repo.list_artifacts,
            "log_artifact": lambda: repo.log_artifact(tmp_path / "f.txt", "again"),
            "download_artifacts": lambda: repo.download_artifacts("f.txt", str(tmp_path)),
            "new repository": lambda: get_artifact_repository(uri).list_artifacts(),
        }.items():
            started = time.monotonic()
            with pytest.raises(MlflowException) as info:
                returned = call()
                pytest.fail(f"{name} returned {returned!r} with the NameNode stopped ({own_hdfs.state('namenode')})")
            timings[name] = time.monotonic() - started
            assert info.value.error_code == "TEMPORARILY_UNAVAILABLE", info.value.message
    print(f"\nstopped NameNode, {TIMEOUT}=5: failed after " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    assert max(timings.values()) < 60
    # Answers again once resumed (the abandoned requests may still run then, as after any client timeout).
    assert "f.txt" in [i.path for i in repo.list_artifacts()]


def test_timeout_bounds_reads_from_a_stopped_datanode(own_hdfs, tmp_path, monkeypatch):
    """``dfs.client.socket-timeout`` (hdfs-native's DataNode timeout) comes from the MLflow setting."""
    data = os.urandom(3 * 1024 * 1024)
    (tmp_path / "big.bin").write_bytes(data)
    monkeypatch.setenv(TIMEOUT, "5")
    repo = get_artifact_repository(own_hdfs.uri(_unique("stalled-dn")))
    repo.log_artifact(tmp_path / "big.bin")
    (dst := tmp_path / "dst").mkdir()
    os.kill(own_hdfs.procs["datanode"].pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(MlflowException):
            repo.download_artifacts("big.bin", str(dst))
        elapsed = time.monotonic() - started
    finally:
        os.kill(own_hdfs.procs["datanode"].pid, signal.SIGCONT)
    print(f"\nstopped DataNode, {TIMEOUT}=5: download failed after {elapsed:.1f} s")
    assert elapsed < 60
    assert os.listdir(dst) == []  # no partial file under the final name
    assert pathlib.Path(repo.download_artifacts("big.bin", str(dst))).read_bytes() == data


# --- acceptance: unchanged MLflow code ----------------------------------------------------


def test_unchanged_mlflow_code_logs_to_hdfs(hdfs, tmp_path, monkeypatch):
    import mlflow
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    src = tmp_path / "outputs"
    files = {
        "model/weights.bin": os.urandom(2 * 1024 * 1024 + 3), "model/empty.bin": b"", "model/nested/deeper/zero": b"",
        "model/.config": b"hidden=1", "données/résumé é.txt": "ünïcödé ✓".encode(),
        "日本語/ファイル.txt": b"\xe3\x81\x82",
        ".dotdir/.env": b"K=V", "top.txt": b"top",
    }  # fmt: skip
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    root = _unique("mlruns")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("hdfs-e2e", artifact_location=hdfs.uri(root))
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_artifacts(str(src), "outputs")
        client = MlflowClient()
        top = {name.split("/")[0]: "/" in name for name in files}  # first segment → is a directory
        assert [(i.path, i.is_dir) for i in client.list_artifacts(run.info.run_id, "outputs")] == [
            (f"outputs/{name}", is_dir) for name, is_dir in sorted(top.items())
        ]
        assert [(i.path, i.file_size) for i in client.list_artifacts(run.info.run_id, "outputs/model")] == [
            ("outputs/model/.config", 8), ("outputs/model/empty.bin", 0),
            ("outputs/model/nested", None), ("outputs/model/weights.bin", 2 * 1024 * 1024 + 3),
        ]  # fmt: skip
        local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="outputs", dst_path="dl")
        assert _digests(local) == _digests(src)
        assert run.info.artifact_uri == hdfs.uri(f"{root}/{run.info.run_id}/artifacts")
        stored = f"{root}/{run.info.run_id}/artifacts/outputs/données/résumé é.txt"
        assert hdfs.fs().cat(stored) == files["données/résumé é.txt"]
        repo = get_artifact_repository(run.info.artifact_uri)
        assert isinstance(repo, FsspecArtifactRepository)
        repo.delete_artifacts("outputs/model")
        assert [i.path for i in client.list_artifacts(run.info.run_id, "outputs")] == [
            f"outputs/{name}" for name in sorted(top) if name != "model"
        ]
        repo.delete_artifacts()
        assert client.list_artifacts(run.info.run_id) == []
        assert hdfs.fs().exists(f"{root}/{run.info.run_id}/artifacts") is False
    finally:
        mlflow.set_tracking_uri(None)
