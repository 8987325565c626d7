"""HDFS on a real Hadoop 2.7.3 NameNode + DataNode (tests/server_hdfs.py), through hdfs-native.

The contract suite, the URI forms (explicit NameNode, default file system, viewfs), every
MLflow setting for both clients (hdfs-native, the default, and pyarrow's, chosen with
``ARTIFACT_FS_HDFS_CLIENT``), atomic overwrite, the transfer timeout against a stopped
NameNode and DataNode, and unchanged MLflow tracking code logging to ``hdfs://``.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import signal
import time
import uuid

import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

import artifact_fs
from artifact_fs import FsspecArtifactRepository, InvalidSettingError, resolve
from artifact_fs.opener import BoundedCalls, keyword_arguments, open_filesystem

from .contract import RepositoryContract
from .server_hdfs import hdfs_server

#: Client-side variables hdfs-native (or the code under test) reads from the environment.
HADOOP_CLIENT_VARS = ("HADOOP_CONF_DIR", "HADOOP_HOME", "HADOOP_USER_NAME", "HADOOP_PROXY_USER", "KRB5CCNAME")
CLIENT_VAR = "ARTIFACT_FS_HDFS_CLIENT"
TIMEOUT = "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT"


@pytest.fixture(scope="session")
def hdfs(tmp_path_factory):
    """A real NameNode + DataNode for the whole session (or the one ARTIFACT_FS_TEST_HDFS_URL names)."""
    with hdfs_server(tmp_path_factory.mktemp("hdfs")) as server:
        yield server


@pytest.fixture
def own_hdfs(hdfs, tmp_path_factory):
    """A server whose processes these tests may pause: the session one, unless it is reused."""
    if hdfs.procs:
        yield hdfs
        return
    with hdfs_server(tmp_path_factory.mktemp("hdfs-own"), reuse=False) as server:
        yield server


@pytest.fixture(autouse=True)
def hadoop_client_environment():
    """No developer Hadoop setting leaks in, and none a test exports (``env:`` rows) leaks out."""
    saved = {name: os.environ.pop(name) for name in (*HADOOP_CLIENT_VARS, CLIENT_VAR) if name in os.environ}
    yield
    for name in (*HADOOP_CLIENT_VARS, CLIENT_VAR):
        os.environ.pop(name, None)
    os.environ.update(saved)


def _fs(server):
    """A plain hdfs-native filesystem on ``server``, independent of the code under test."""
    from hdfs_native.fsspec import HdfsFileSystem

    return HdfsFileSystem(host="127.0.0.1", port=server.rpc_port, skip_instance_cache=True)


def _unique(prefix: str = "t") -> str:
    return f"/{prefix}-{uuid.uuid4().hex[:12]}"


def _tree_digests(directory) -> dict[str, str]:
    out = {}
    for dirpath, _dirs, files in os.walk(directory):
        for name in files:
            full = os.path.join(dirpath, name)
            out[os.path.relpath(full, directory)] = hashlib.sha256(pathlib.Path(full).read_bytes()).hexdigest()
    return out


def _core_site(directory: pathlib.Path, properties: dict[str, str]) -> pathlib.Path:
    directory.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"<property><name>{k}</name><value>{v}</value></property>" for k, v in properties.items())
    (directory / "core-site.xml").write_text(f"<configuration>{rows}</configuration>")
    return directory


# --- the contract, on the real NameNode ---------------------------------------------------


class TestHDFSContract(RepositoryContract):
    """``hdfs://127.0.0.1:PORT/<container>/root`` through hdfs-native."""

    @pytest.fixture
    def container_uri(self, hdfs):
        return hdfs.uri(_unique("contract"))

    @pytest.fixture
    def artifact_uri(self, container_uri):
        return f"{container_uri}/root"


class TestHDFSDefaultFileSystemContract(RepositoryContract):
    """``hdfs:///<container>/root``: the NameNode comes from ``fs.defaultFS`` in $HADOOP_CONF_DIR."""

    @pytest.fixture(autouse=True)
    def default_fs(self, hdfs, tmp_path_factory, monkeypatch):
        conf = _core_site(tmp_path_factory.mktemp("conf"), {"fs.defaultFS": hdfs.url})
        monkeypatch.setenv("HADOOP_CONF_DIR", str(conf))

    @pytest.fixture
    def container_uri(self):
        return f"hdfs://{_unique('default-fs')}"

    @pytest.fixture
    def artifact_uri(self, container_uri):
        return f"{container_uri}/root"


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
    monkeypatch.setenv("MLFLOW_PYARROW_EXTRA_CONF", f"fs.defaultFS={hdfs.url},dfs.replication=1")
    assert _round_trip(f"hdfs:{path}", tmp_path) == ["d/f.txt"]
    assert _fs(hdfs).cat(f"{path}/d/f.txt") == b"payload"


def test_extra_conf_wins_over_hadoop_conf_dir(hdfs, tmp_path, monkeypatch):
    monkeypatch.setenv("HADOOP_CONF_DIR", str(_core_site(tmp_path / "conf", {"fs.defaultFS": "hdfs://127.0.0.1:9"})))
    monkeypatch.setenv("MLFLOW_PYARROW_EXTRA_CONF", f"fs.defaultFS={hdfs.url}")
    path = _unique("conf-precedence")
    assert _round_trip(f"hdfs://{path}", tmp_path) == ["d/f.txt"]
    assert _fs(hdfs).exists(f"{path}/d/f.txt")


def test_viewfs_mount_table_reaches_the_namenode(hdfs, tmp_path, monkeypatch):
    target = _unique("viewfs-target")
    conf = _core_site(tmp_path / "conf", {
        "fs.viewfs.mounttable.cluster.link./data": f"{hdfs.url}{target}",
        "fs.viewfs.mounttable.cluster.linkFallback": f"{hdfs.url}/",
    })  # fmt: skip
    monkeypatch.setenv("HADOOP_CONF_DIR", str(conf))
    repo = get_artifact_repository("viewfs://cluster/data/run")
    assert repo.resolved.url == "viewfs://cluster/data/run"
    assert _round_trip("viewfs://cluster/data/run", tmp_path) == ["d/f.txt"]
    assert _fs(hdfs).cat(f"{target}/run/d/f.txt") == b"payload"


# --- settings, for both clients -------------------------------------------------------------

NATIVE_ENV = {
    "MLFLOW_KERBEROS_TICKET_CACHE": "FILE:/tmp/krb5cc_test",
    "MLFLOW_KERBEROS_USER": "alice",
    "MLFLOW_PYARROW_EXTRA_CONF": "dfs.replication=2, fs.defaultFS=hdfs://nn:8020",
    TIMEOUT: "7",
}


def test_mlflow_settings_for_hdfs_native():
    resolved = resolve("hdfs://nn:8020/p", env=NATIVE_ENV)
    assert resolved.row.impl == "hdfs_native.fsspec.HdfsFileSystem"
    assert resolved.fs_environment == {"KRB5CCNAME": "FILE:/tmp/krb5cc_test", "HADOOP_USER_NAME": "alice"}
    assert resolved.fs_attributes == {"call_timeout": 7}
    assert keyword_arguments(resolved) == {
        "skip_instance_cache": True,  # hdfs-native reads HADOOP_CONF_DIR & co. when a client is built
        "host": "nn",
        "port": 8020,
        "dfs.replication": "2",
        "fs.defaultFS": "hdfs://nn:8020",
        "dfs.client.socket-timeout": "7000",
    }


def test_mlflow_settings_for_pyarrow_when_asked_for():
    resolved = resolve("hdfs://nn:8020/p", env={**NATIVE_ENV, CLIENT_VAR: "PyArrow"})
    assert resolved.row.impl == "fsspec.implementations.arrow.HadoopFileSystem"
    assert resolved.storage_options == {
        "host": "hdfs://nn",
        "port": 8020,
        "kerb_ticket": "FILE:/tmp/krb5cc_test",
        "user": "alice",
        "extra_conf": {"dfs.replication": "2", "fs.defaultFS": "hdfs://nn:8020"},
    }
    assert resolved.fs_environment == {} and resolved.fs_attributes == {}
    assert resolve("hdfs:/p", env={CLIENT_VAR: "pyarrow"}).storage_options == {"host": "default", "port": 0}
    viewfs = resolve("viewfs://cluster/p", env={CLIENT_VAR: "pyarrow"})
    assert (viewfs.protocol, viewfs.storage_options) == ("hdfs", {"host": "viewfs://cluster", "port": 0})
    assert resolve("hdfs://nn/p", env={CLIENT_VAR: "hdfs-native"}).row.impl == "hdfs_native.fsspec.HdfsFileSystem"


def test_unknown_client_is_refused_with_the_choices():
    with pytest.raises(InvalidSettingError, match=f"{CLIENT_VAR}.*hdfs-native, pyarrow"):
        resolve("hdfs://nn/p", env={CLIENT_VAR: "java"})
    os.environ[CLIENT_VAR] = "java"
    with pytest.raises(MlflowException) as info:
        get_artifact_repository("hdfs://nn/p")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_pyarrow_client_is_used_at_run_time_when_asked_for(hdfs):
    """pyarrow needs libhdfs.so, which no package registry ships: the switch must reach it."""
    os.environ[CLIENT_VAR] = "pyarrow"
    repo = get_artifact_repository(hdfs.uri(_unique("pyarrow")))
    assert repo.row.impl == "fsspec.implementations.arrow.HadoopFileSystem"
    with pytest.raises(MlflowException, match="libjvm|libhdfs"):  # not an hdfs-native error
        repo.list_artifacts()


def test_ticket_cache_and_user_are_exported_for_hdfs_native_only_when_opened():
    """hdfs-native reads them only from the environment (its Kerberos via GSSAPI's KRB5CCNAME)."""
    env = {"MLFLOW_KERBEROS_TICKET_CACHE": "FILE:/tmp/krb5cc_test", "MLFLOW_KERBEROS_USER": "alice"}
    resolved = resolve("hdfs://127.0.0.1:9/p", env=env)
    assert "KRB5CCNAME" not in os.environ  # resolving is pure
    fs = open_filesystem(resolved)  # no I/O: the client connects on first use
    assert os.environ["KRB5CCNAME"] == "FILE:/tmp/krb5cc_test" and os.environ["HADOOP_USER_NAME"] == "alice"
    assert fs is not open_filesystem(resolved)  # private: never handed to a repository with other settings


def test_kerberos_user_is_the_owner_hdfs_records(hdfs, tmp_path, monkeypatch):
    (tmp_path / "f.txt").write_text("x")
    root = _unique("owners")
    for user in ("alice", "bob"):
        monkeypatch.setenv("MLFLOW_KERBEROS_USER", user)
        get_artifact_repository(hdfs.uri(f"{root}/{user}")).log_artifact(tmp_path / "f.txt")
    fs = _fs(hdfs)
    assert [fs.info(f"{root}/{user}/f.txt")["owner"] for user in ("alice", "bob")] == ["alice", "bob"]


# --- HDFS specifics: atomic overwrite, names hdfs-native cannot carry ------------------------


def test_overwrite_replaces_atomically_where_a_plain_rename_fails(hdfs, tmp_path):
    fs = _fs(hdfs)
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
    fs = _fs(hdfs)
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
    dst = tmp_path / "dst"
    dst.mkdir()
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
                call()
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
    dst = tmp_path / "dst"
    dst.mkdir()
    datanode = own_hdfs.procs["datanode"]
    os.kill(datanode.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(MlflowException):
            repo.download_artifacts("big.bin", str(dst))
        elapsed = time.monotonic() - started
    finally:
        os.kill(datanode.pid, signal.SIGCONT)
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
        "model/weights.bin": os.urandom(2 * 1024 * 1024 + 3),
        "model/empty.bin": b"",
        "model/nested/deeper/zero": b"",
        "model/.config": b"hidden=1",
        "données/résumé é.txt": "ünïcödé ✓".encode(),
        "日本語/ファイル.txt": b"\xe3\x81\x82",
        ".dotdir/.env": b"K=V",
        "top.txt": b"top",
    }
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
        local = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="outputs", dst_path=str(tmp_path / "dl")
        )
        assert _tree_digests(local) == _tree_digests(src)
        repo = get_artifact_repository(run.info.artifact_uri)
        assert isinstance(repo, FsspecArtifactRepository)
        assert run.info.artifact_uri == hdfs.uri(f"{root}/{run.info.run_id}/artifacts")
        fs = _fs(hdfs)
        assert fs.cat(f"{root}/{run.info.run_id}/artifacts/outputs/données/résumé é.txt") == files["données/résumé é.txt"]
        repo.delete_artifacts("outputs/model")
        assert [i.path for i in client.list_artifacts(run.info.run_id, "outputs")] == [
            f"outputs/{name}" for name in sorted(top) if name != "model"
        ]
        repo.delete_artifacts()
        assert client.list_artifacts(run.info.run_id) == []
        assert artifact_fs.filesystem(hdfs.uri(root))[0].exists(f"{root}/{run.info.run_id}/artifacts") is False
    finally:
        mlflow.set_tracking_uri(None)
