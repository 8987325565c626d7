"""FTP (``ftp://``) through fsspec's FTPFileSystem against a real pyftpdlib server: the
contract (recursive directories, listing, download, recursive delete), atomic uploads,
passive mode, URL-decoded passwords, anonymous login, a hung server, and unchanged
MLflow code end to end.

The servers these tests start have a password with ``@`` and ``%``, so every test also
proves that the password in the URI is percent-decoded (``ftp://mlflow:p%40ss%25w0rd@host:port/``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pathlib
import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from artifact_fs import FsspecArtifactRepository
from artifact_fs.paths import TEMP_PREFIX

from .contract import RepositoryContract
from .servers.ftp import ftp_server

TIMEOUT_BOUND = 60  #: seconds a call on a hung server may take before the test calls it a hang
DEEP = "/".join(["d"] * 400)  #: a 400-level path of 799 characters (FTP servers take 1,024-byte paths)
DEEP_BOUND = 20  #: seconds logging one file into DEEP may take before the test calls it a hang


# conftest's ``ftp`` serves the ordinary tests; each server started here is special, as its comment says.


@pytest.fixture
def own_ftp(tmp_path_factory):
    """A pyftpdlib server of this test's own (it may be paused; its log is read)."""
    # Not conftest's: it is paused and its whole log read; its password surely has '@' and '%'.
    with ftp_server(tmp_path_factory.mktemp("ftp-own"), reuse=False) as server:
        yield server


@pytest.fixture
def anonymous_ftp(tmp_path_factory):
    """A pyftpdlib server that lets anonymous users write."""
    # Not conftest's: a server with anonymous write access instead of a user and password.
    with ftp_server(tmp_path_factory.mktemp("ftp-anon"), username=None, password=None, reuse=False) as server:
        yield server


class TestFTP(RepositoryContract):
    @pytest.fixture
    def container_uri(self, ftp):
        return ftp.uri(f"/{uuid.uuid4().hex}")

    @pytest.fixture
    def artifact_uri(self, container_uri):
        return f"{container_uri}/exp/run/artifacts"


@pytest.fixture(scope="module")
def home_ftp(tmp_path_factory):
    """A pyftpdlib server whose home ``/`` is the artifact root (emptied before each test)."""
    # Not conftest's: these tests empty the whole served directory, which others share there.
    with ftp_server(tmp_path_factory.mktemp("ftp-home"), reuse=False) as server:
        yield server


class TestFTPHomeRoot(RepositoryContract):
    """The artifact root is the login's home, ``/``: deleting everything keeps ``/`` itself."""

    @pytest.fixture
    def container_uri(self, home_ftp):
        for child in home_ftp.root.iterdir():  # every test starts with an empty home
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        return home_ftp.uri("/")

    @pytest.fixture
    def artifact_uri(self, container_uri):
        return container_uri


def _tree(directory) -> dict[str, str]:
    root = pathlib.Path(directory)
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*") if path.is_file()
    }  # fmt: skip


def test_password_in_the_uri_is_percent_decoded_and_never_shown(own_ftp, tmp_path, caplog):
    ftp = own_ftp  # ours, so its password surely has the characters URIs must encode
    assert "@" in ftp.password and "%" in ftp.password
    uri = ftp.uri(f"/{uuid.uuid4().hex}/run")
    assert "%40" in uri and "%25" in uri
    (tmp_path / "a.txt").write_text("a")
    caplog.set_level(logging.DEBUG)
    repo = get_artifact_repository(uri)
    repo.log_artifact(tmp_path / "a.txt")
    assert [i.path for i in repo.list_artifacts()] == ["a.txt"]
    wrong = get_artifact_repository(ftp.uri("/x", password="not-the-password-42"))
    with pytest.raises(MlflowException) as info:
        wrong.list_artifacts()
    for text in (info.value.message, repr(repo), repr(repo.resolved), repr(wrong), caplog.text):
        assert ftp.password not in text and quote(ftp.password, safe="") not in text
        assert "not-the-password-42" not in text


def test_nested_directories_are_created_recursively_and_uploads_are_atomic(own_ftp, tmp_path):
    src = tmp_path / "src"
    (src / "a" / "b" / "c").mkdir(parents=True)
    (src / "a" / "b" / "c" / "deep.txt").write_text("deep")
    (src / "empty-dir").mkdir()
    repo = get_artifact_repository(own_ftp.uri("/runs/1/artifacts"))
    repo.log_artifacts(src, "x/y")
    root = own_ftp.root / "runs" / "1" / "artifacts"
    assert (root / "x" / "y" / "a" / "b" / "c" / "deep.txt").read_text() == "deep"
    assert (root / "x" / "y" / "empty-dir").is_dir()
    (src / "a" / "b" / "c" / "deep.txt").write_text("overwritten")
    repo.log_artifacts(src, "x/y")  # rename over an existing file
    assert (root / "x" / "y" / "a" / "b" / "c" / "deep.txt").read_text() == "overwritten"
    assert not [p for p in own_ftp.root.rglob("*") if p.name.startswith(TEMP_PREFIX)]
    log = own_ftp.log()
    assert "STOR " in log and "RNFR " in log and "RNTO " in log  # uploaded under a temp name, renamed
    assert "PASV" in log and "PORT " not in log  # passive mode only


def test_anonymous_login_round_trip(anonymous_ftp, tmp_path):
    (tmp_path / "f.bin").write_bytes(b"\x00\x01anonymous")
    repo = get_artifact_repository(anonymous_ftp.uri("/pub/run"))
    repo.log_artifact(tmp_path / "f.bin", "d")
    dst = tmp_path / "dst"
    dst.mkdir()
    assert pathlib.Path(repo.download_artifacts("d/f.bin", str(dst))).read_bytes() == b"\x00\x01anonymous"
    repo.delete_artifacts("d")
    assert repo.list_artifacts() == []
    assert "USER anonymous" in anonymous_ftp.log()


def test_a_hung_server_fails_within_the_timeout(own_ftp, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT", "3")
    (tmp_path / "a.txt").write_text("a")
    repo = get_artifact_repository(own_ftp.uri("/run"))
    repo.log_artifact(tmp_path / "a.txt")  # connected and working
    assert repo.fs.timeout == 3
    fresh = get_artifact_repository(own_ftp.uri("/run"))  # will connect while the server hangs
    with own_ftp.paused():
        calls = (repo.list_artifacts, lambda: repo.log_artifact(tmp_path / "a.txt", "again"), fresh.list_artifacts)
        for call in calls:
            started = time.monotonic()
            with pytest.raises(MlflowException) as info:
                call()
            elapsed = time.monotonic() - started
            assert elapsed < TIMEOUT_BOUND, f"took {elapsed:.1f} s"
            assert info.value.error_code == "TEMPORARILY_UNAVAILABLE", info.value.message
            print(f"FTP, timeout 3 s: failed after {elapsed:.1f} s")
    # Resumed, the same repository works again: it noticed its connection timed out and
    # opened a new one. (The upload that timed out may have completed meanwhile.)
    assert "a.txt" in [i.path for i in repo.list_artifacts()]
    assert "a.txt" in [i.path for i in fresh.list_artifacts()]


def test_a_connection_the_server_dropped_is_replaced(tmp_path_factory, tmp_path):
    # MLflow caches a repository per run, so hours may pass between two calls; FTP servers
    # drop idle clients (pyftpdlib and vsftpd after 300 s; here after 1 s).
    # Its own server: one that drops a client after 1 s of silence.
    with ftp_server(tmp_path_factory.mktemp("ftp-idle"), idle_timeout=1, reuse=False) as server:
        (tmp_path / "a.txt").write_text("a")
        repo = get_artifact_repository(server.uri("/run"))
        repo.log_artifact(tmp_path / "a.txt")
        first = repo.fs
        deadline = time.monotonic() + 30
        while "421 Control connection timed out" not in server.log():
            assert time.monotonic() < deadline, server.log()[-2000:]
            time.sleep(0.2)
        repo.log_artifact(tmp_path / "a.txt", "later")
        assert [i.path for i in repo.list_artifacts()] == ["a.txt", "later"]
        assert repo.fs is not first


# --- directories: made by MKD first, race-free, no listings ------------------------------


def _sha(path) -> str:
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def test_threads_logging_into_one_new_directory_all_arrive(ftp, tmp_path):
    # Issue 14: one repository (a connection per thread), 8 threads, one new directory.
    # fsspec's makedirs lists, then sends MKD: a directory another connection made in
    # between failed the upload with "550 File exists".
    repo = get_artifact_repository(ftp.uri(f"/{uuid.uuid4().hex}/run"))
    files = []
    for i in range(8):
        files.append(tmp_path / f"f{i}.bin")
        files[-1].write_bytes(os.urandom(50_000 + i))
    start = threading.Barrier(len(files), timeout=60)

    def log(path):
        assert repo.fs is not None  # this thread's connection, opened before the start
        start.wait()
        repo.log_artifact(path, "new/dir")

    with ThreadPoolExecutor(len(files)) as pool:
        for future in [pool.submit(log, path) for path in files]:
            future.result()
    assert sorted(i.path for i in repo.list_artifacts("new/dir")) == sorted(f"new/dir/{p.name}" for p in files)
    (tmp_path / "dst").mkdir()
    local = repo.download_artifacts("new/dir", str(tmp_path / "dst"))
    assert _tree(local) == {p.name: _sha(p) for p in files}


def test_a_400_level_path_is_logged_within_the_bound_listed_and_downloaded(own_ftp, tmp_path):
    # Issue 14: fsspec's makedirs asked about each missing level by listing every level
    # above it (100 levels: 10,000 listings, 17 s; 400 levels: 160,000 listings, 396 s).
    assert len(DEEP) == 799
    (tmp_path / "f.txt").write_text("deep")
    repo = get_artifact_repository(own_ftp.uri(f"/{uuid.uuid4().hex}"))
    outcome: list[BaseException | None] = []

    def log():
        try:
            repo.log_artifact(tmp_path / "f.txt", DEEP)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            outcome.append(exc)

    started = time.monotonic()
    worker = threading.Thread(target=log, daemon=True)  # our own server: it dies with it
    worker.start()
    worker.join(DEEP_BOUND)
    assert outcome, f"log_artifact into a 400-level path took over {DEEP_BOUND} s"
    if outcome[0] is not None:
        raise outcome[0]
    print(f"FTP, 400-level path: logged in {time.monotonic() - started:.2f} s")
    log_text = own_ftp.log()
    assert log_text.count("<- MLSD ") + log_text.count("<- LIST ") < 10  # directories made without listings
    assert [i.path for i in repo.list_artifacts(DEEP)] == [f"{DEEP}/f.txt"]
    (tmp_path / "dst").mkdir()
    (tmp_path / "one").mkdir()
    local = pathlib.Path(repo.download_artifacts(DEEP, str(tmp_path / "dst")))
    assert (local / "f.txt").read_text() == "deep"
    assert pathlib.Path(repo.download_artifacts(f"{DEEP}/f.txt", str(tmp_path / "one"))).read_text() == "deep"


def test_a_directory_the_server_refuses_to_make_fails_clearly(tmp_path_factory, tmp_path):
    # A 550 is not always "exists": one with no directory there afterwards is the server's
    # refusal, and says so (PERMISSION_DENIED, the directory, the server's reply).
    # Its own server: a read-only login.
    with ftp_server(tmp_path_factory.mktemp("ftp-read-only"), writable=False, reuse=False) as server:
        (server.root / "runs").mkdir()
        (tmp_path / "a.txt").write_text("a")
        repo = get_artifact_repository(server.uri("/runs/1/artifacts"))
        with pytest.raises(MlflowException) as info:
            repo.log_artifact(tmp_path / "a.txt", "new")
        assert info.value.error_code == "PERMISSION_DENIED", info.value.message
        assert "'/runs/1'" in info.value.message and "550 Not enough privileges" in info.value.message
        assert "<- STOR " not in server.log()
        assert [p.name for p in (server.root / "runs").iterdir()] == []


# --- MLflow end to end --------------------------------------------------------------------

TREE = {
    "model/weights.bin": os.urandom(300_000),
    "model/empty.bin": b"",
    "model/.config": b"dot-file",
    "model/sub/deeper/z\u00e9ro.txt": b"",
    "model/donn\u00e9es/na\u00efve r\u00e9sum\u00e9.txt": "caf\u00e9".encode(),
    "model/\u65e5\u672c\u8a9e.json": b'{"k": 1}',
}


def test_unchanged_mlflow_code_logs_through_artifact_fs(own_ftp, tmp_path, monkeypatch):
    import mlflow
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    src = tmp_path / "src"
    for name, data in TREE.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("ftp-e2e", artifact_location=own_ftp.uri("/mlruns"))
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_artifacts(str(src / "model"), "model")
            mlflow.log_text("inline", "texts/inline.txt")
        client = MlflowClient()
        assert [(i.path, i.is_dir) for i in client.list_artifacts(run.info.run_id)] == [
            ("model", True),
            ("texts", True),
        ]
        listed = {(i.path, i.is_dir, i.file_size) for i in client.list_artifacts(run.info.run_id, "model")}
        assert ("model/empty.bin", False, 0) in listed and ("model/.config", False, 8) in listed
        assert ("model/donn\u00e9es", True, None) in listed and ("model/sub", True, None) in listed
        local = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="model", dst_path=str(tmp_path / "dl")
        )
        expected = {name.removeprefix("model/"): hashlib.sha256(data).hexdigest() for name, data in TREE.items()}
        assert _tree(local) == expected
        on_server = own_ftp.root / "mlruns" / run.info.run_id / "artifacts"
        assert _tree(on_server / "model") == expected  # the server's own files, byte for byte
        repo = get_artifact_repository(run.info.artifact_uri)
        assert isinstance(repo, FsspecArtifactRepository)
        repo.delete_artifacts("model")  # MLflow's own FTP repository cannot delete
        assert [i.path for i in client.list_artifacts(run.info.run_id)] == ["texts"]
        assert not (on_server / "model").exists()
        repo.delete_artifacts()
        assert client.list_artifacts(run.info.run_id) == []
    finally:
        mlflow.set_tracking_uri(None)
