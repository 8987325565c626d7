"""SFTP on a real OpenSSH sshd: the contract, known_hosts checks, ``~/.ssh/config`` aliases,
a password in the URI, reconnection, atomic overwrites, a hung server, one-readdir listings
and unchanged MLflow code. Every test has a throwaway ``HOME``: the real ``~/.ssh`` is never used.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import posixpath
import re
import shutil
import time

import asyncssh
import pytest
import sshfs
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

import artifact_fs
from artifact_fs import FsspecArtifactRepository
from artifact_fs.paths import TEMP_PREFIX

from .contract import RepositoryContract, _summary, _tree
from .contract import _write as write
from .servers.sftp import password_server, sshd_server

TIMEOUT = "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT"
KNOWN_HOSTS = "ARTIFACT_FS_SFTP_KNOWN_HOSTS"
HUNG_SERVER_BOUND = 60.0  #: seconds; "fails instead of hanging", deliberately generous


@pytest.fixture(scope="module")
def own_sshd(tmp_path_factory):
    """Our private sshd, logging every SFTP request: tests may pause it or cut its sessions."""
    # Not conftest's ``sshd``: this one logs SFTP requests, and is paused and has its sessions killed.
    with sshd_server(tmp_path_factory.mktemp("own-sshd"), sftp_log=True) as server:
        yield server


@pytest.fixture(autouse=True)
def dot_ssh(tmp_path_factory, monkeypatch):
    """A throwaway ``HOME`` with an empty ``~/.ssh``, no agent, and no cached connection."""
    home = tmp_path_factory.mktemp("home")  # not under tmp_path, which the contract uploads
    (home / ".ssh").mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    sshfs.SSHFileSystem.clear_instance_cache()  # connections are cached per options, not per HOME
    yield home / ".ssh"
    sshfs.SSHFileSystem.clear_instance_cache()


def trust(dot_ssh: pathlib.Path, server, *, key: bool = True, host: bool = True) -> None:
    """Put the client key in ``~/.ssh/id_ed25519`` and the server's host key in ``~/.ssh/known_hosts``."""
    if key:
        shutil.copy(server.client_key, dot_ssh / "id_ed25519")
    if host:
        (dot_ssh / "known_hosts").write_text(server.known_hosts_line())


def listing(repo, path=None):
    return _summary(repo.list_artifacts(path))


def checksums(directory) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in _tree(directory).items()}


class TestSFTP(RepositoryContract):
    """The contract over ``sftp://user@127.0.0.1:port/abs/path``; key and host key from ``~/.ssh``."""

    @pytest.fixture
    def container_uri(self, sftp, dot_ssh, tmp_path_factory):
        trust(dot_ssh, sftp)
        return sftp.uri(str(tmp_path_factory.mktemp("remote")))

    @pytest.fixture
    def artifact_uri(self, container_uri):
        return f"{container_uri}/mlruns/1/run/artifacts"


def test_unknown_or_changed_host_key_is_refused(sftp, dot_ssh, tmp_path):
    trust(dot_ssh, sftp, host=False)  # the client key would log in; the host is not known
    repo = get_artifact_repository(sftp.uri(str(tmp_path / "remote")))
    started = time.monotonic()
    with pytest.raises(MlflowException, match="Host key is not trusted") as info:
        repo.list_artifacts()
    assert time.monotonic() - started < HUNG_SERVER_BOUND
    assert "Failed to list artifacts in sftp://" in info.value.message
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().split()[:2]
    (dot_ssh / "known_hosts").write_text(f"[{sftp.host}]:{sftp.port} {' '.join(impostor)}\n")
    with pytest.raises(MlflowException, match="Host key is not trusted"):
        repo.log_artifact(write(tmp_path / "a.txt"))
    assert not (tmp_path / "remote").exists()


def test_known_hosts_file_named_by_the_environment(sftp, dot_ssh, tmp_path, monkeypatch):
    trust(dot_ssh, sftp, host=False)
    known = write(tmp_path / "elsewhere" / "known_hosts", sftp.known_hosts_line())
    monkeypatch.setenv(KNOWN_HOSTS, str(known))
    repo = get_artifact_repository(sftp.uri(str(tmp_path / "remote")))
    assert repo.resolved.storage_options["known_hosts"] == str(known)
    repo.log_artifact(write(tmp_path / "a.txt", b"abc"))
    assert listing(repo) == [("a.txt", False, 3)]
    assert not (dot_ssh / "known_hosts").exists()


def test_known_hosts_none_is_the_explicit_opt_out(sftp, dot_ssh, tmp_path, monkeypatch):
    trust(dot_ssh, sftp, host=False)
    monkeypatch.setenv(KNOWN_HOSTS, "none")
    repo = get_artifact_repository(sftp.uri(str(tmp_path / "remote")))
    assert repo.resolved.storage_options["known_hosts"] is None
    repo.log_artifact(write(tmp_path / "a.txt"))
    assert listing(repo) == [("a.txt", False, 1)]


def test_ssh_config_alias_supplies_host_port_user_and_key(sftp, dot_ssh, tmp_path):
    key = tmp_path / "keys" / "not-a-default-name"
    key.parent.mkdir()
    shutil.copy(sftp.client_key, key)
    config = f"Host myalias\n  HostName {sftp.host}\n  Port {sftp.port}\n  User {sftp.user}\n  IdentityFile {key}\n"
    (dot_ssh / "config").write_text(config)
    trust(dot_ssh, sftp, key=False)
    uri = f"sftp://myalias{tmp_path / 'remote'}"
    # The resolver passes only what the URI says, so nothing overrides the config.
    options = artifact_fs.resolve(uri).storage_options
    assert options["host"] == "myalias"
    assert not {"port", "username", "password", "client_keys", "config"} & set(options)
    repo = get_artifact_repository(uri)
    repo.log_artifact(write(tmp_path / "a.txt", b"via alias"))
    assert listing(repo) == [("a.txt", False, 9)]
    assert (tmp_path / "remote" / "a.txt").read_bytes() == b"via alias"
    # Control: without the config the alias names no host.
    (dot_ssh / "config").unlink()
    sshfs.SSHFileSystem.clear_instance_cache()
    with pytest.raises(MlflowException):
        get_artifact_repository(uri).list_artifacts()


def test_password_in_uri_is_url_decoded_and_never_shown(dot_ssh, tmp_path, monkeypatch):
    # OpenSSH would need a system account with a known password: asyncssh's server checks it.
    with password_server("alice", "p@ss") as server:
        monkeypatch.setenv(KNOWN_HOSTS, str(write(tmp_path / "known_hosts", server.known_hosts_line())))
        uri = f"sftp://alice:p%40ss@{server.host}:{server.port}{tmp_path / 'remote'}"
        repo = get_artifact_repository(uri)
        repo.log_artifact(write(tmp_path / "a.txt", b"pw"))
        assert listing(repo) == [("a.txt", False, 2)]
        assert (tmp_path / "remote" / "a.txt").read_bytes() == b"pw"
        wrong = get_artifact_repository(uri.replace("p%40ss", "p%40sx"))
        with pytest.raises(MlflowException) as info:
            wrong.list_artifacts()
        assert info.value.error_code == "PERMISSION_DENIED"
        for text in (info.value.message, repr(repo), repr(wrong), repr(repo.resolved), repo.redacted_uri):
            assert "p@s" not in text and "p%40s" not in text
        sshfs.SSHFileSystem.clear_instance_cache()


def test_dropped_connection_is_reestablished(own_sshd, dot_ssh, tmp_path):
    trust(dot_ssh, own_sshd)
    uri = own_sshd.uri(str(tmp_path / "remote"))
    repo = get_artifact_repository(uri)
    repo.log_artifact(write(tmp_path / "a.txt"))
    first = repo.fs
    assert own_sshd.kill_sessions() > 0
    try:
        repo.log_artifact(write(tmp_path / "b.txt", b"bb"))
    except MlflowException:  # the drop may be noticed by this call: one clean error at most
        repo.log_artifact(write(tmp_path / "b.txt", b"bb"))
    assert repo.fs is not first and first.client.is_closed()
    assert listing(repo) == [("a.txt", False, 1), ("b.txt", False, 2)]
    assert listing(get_artifact_repository(uri)) == listing(repo)  # a new repository is not handed the dead one


def test_timeout_setting_bounds_connecting_and_silence():
    keys = ("connect_timeout", "keepalive_interval", "keepalive_count_max")
    for env, expected in [({}, (30, 15, 1)), ({TIMEOUT: "10"}, (10, 5, 1)), ({TIMEOUT: "-1"}, (None, None, 1))]:
        options = artifact_fs.resolve("sftp://h/p", env=env).storage_options
        assert tuple(options[key] for key in keys) == expected


@pytest.mark.parametrize("timeout", ["4", None], ids=["timeout-4s", "defaults"])
def test_hung_server_fails_instead_of_hanging(own_sshd, dot_ssh, tmp_path, monkeypatch, timeout):
    if timeout:
        monkeypatch.setenv(TIMEOUT, timeout)
    # Generous bounds: 3x the setting (the defaults would take 30 s), else one minute.
    bound = 3 * float(timeout) if timeout else HUNG_SERVER_BOUND
    trust(dot_ssh, own_sshd)
    uri = own_sshd.uri(str(tmp_path / "remote"))
    repo = get_artifact_repository(uri)
    repo.log_artifact(write(tmp_path / "a.txt"))  # connected
    with own_sshd.paused():
        started = time.monotonic()
        with pytest.raises(MlflowException, match="not responding"):
            repo.list_artifacts()  # an open connection: SSH keepalives notice the silence
        open_elapsed = time.monotonic() - started
        if timeout:  # a new connection: bounded by connect_timeout (30 s by default)
            started = time.monotonic()
            with pytest.raises(MlflowException) as info:
                get_artifact_repository(uri).list_artifacts()
            connect_elapsed = time.monotonic() - started
            assert info.value.error_code == "TEMPORARILY_UNAVAILABLE"
            print(f"hung server ({timeout}): new connection failed after {connect_elapsed:.1f} s")
            assert connect_elapsed < bound
    print(f"hung server ({timeout or 'defaults'}): open connection failed after {open_elapsed:.1f} s")
    assert open_elapsed < bound
    assert listing(repo) == [("a.txt", False, 1)]  # the server is back: the same repository reconnects


def test_overwrite_publishes_by_posix_rename_of_a_temp_name(own_sshd, dot_ssh, tmp_path):
    trust(dot_ssh, own_sshd)
    remote = tmp_path / "remote"
    repo = get_artifact_repository(own_sshd.uri(str(remote)))
    offset = len(own_sshd.sftp_log())
    repo.log_artifact(write(tmp_path / "f.txt", b"one"))
    repo.log_artifact(write(tmp_path / "f.txt", b"two!"))
    assert listing(repo) == [("f.txt", False, 4)]
    assert (remote / "f.txt").read_bytes() == b"two!"
    assert os.listdir(remote) == ["f.txt"]
    log = own_sshd.sftp_log()[offset:]
    renames = re.findall(r'posix-rename old "([^"]+)" new "([^"]+)"', log)
    assert [new for _old, new in renames] == [str(remote / "f.txt")] * 2
    assert all(posixpath.basename(old).startswith(TEMP_PREFIX) for old, _new in renames)
    assert f'open "{remote / "f.txt"}"' not in log  # never written under its final name


def test_listing_is_one_readdir_not_a_round_trip_per_entry(own_sshd, dot_ssh, tmp_path):
    trust(dot_ssh, own_sshd)
    source = tmp_path / "src"
    for i in range(30):
        write(source / f"f{i:02d}.txt", b"x" * i)
    write(source / "sub" / "g.txt")
    repo = get_artifact_repository(own_sshd.uri(str(tmp_path / "remote")))
    repo.log_artifacts(source)
    offset = len(own_sshd.sftp_log())
    infos = repo.list_artifacts()
    assert len(infos) == 31 and infos[-1].is_dir and infos[5].file_size == 5
    requests = [line.split(" ")[0] for line in own_sshd.sftp_log()[offset:].splitlines()]
    assert requests == ["opendir", "closedir"]


def test_unchanged_mlflow_code_logs_through_artifact_fs(sftp, dot_ssh, tmp_path, monkeypatch):
    import mlflow
    from mlflow.tracking import MlflowClient

    trust(dot_ssh, sftp)
    remote = tmp_path / "remote"
    source = tmp_path / "src"
    files = {
        "model/weights.bin": os.urandom(300_000),
        "model/empty.bin": b"",
        "model/.config": b"dot",
        "données/résumé ü.txt": "ünïcödé".encode(),
        "deep/a/b/c/zero": b"",
        ".hidden": b"h",
    }
    for name, data in files.items():
        write(source / name, data)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("sftp-e2e", artifact_location=sftp.uri(f"{remote}/mlruns"))
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_artifacts(str(source))
        run_id = run.info.run_id
        assert run.info.artifact_uri == sftp.uri(f"{remote}/mlruns/{run_id}/artifacts")
        client = MlflowClient()
        top = [(i.path, i.is_dir, i.file_size) for i in client.list_artifacts(run_id)]
        assert top == [(".hidden", False, 1), ("deep", True, None), ("données", True, None), ("model", True, None)]
        assert [(i.path, i.file_size) for i in client.list_artifacts(run_id, "model")] == [
            ("model/.config", 3), ("model/empty.bin", 0), ("model/weights.bin", 300_000)
        ]  # fmt: skip
        local = mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(tmp_path / "dl"))
        assert checksums(local) == checksums(source)
        assert checksums(remote / "mlruns" / run_id / "artifacts") == checksums(source)
        repo = get_artifact_repository(run.info.artifact_uri)
        assert isinstance(repo, FsspecArtifactRepository)
        repo.delete_artifacts("model")
        assert [i.path for i in client.list_artifacts(run_id)] == [".hidden", "deep", "données"]
        repo.delete_artifacts()
        assert client.list_artifacts(run_id) == []
        assert not (remote / "mlruns" / run_id / "artifacts").exists()
    finally:
        mlflow.set_tracking_uri(None)
