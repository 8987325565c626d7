"""Secrets never leak: URI passwords, access keys, secret keys, session tokens, connection
strings (account keys) are absent from every ``repr``/``str`` of artifact_fs objects, every
log record at any level (DEBUG included: botocore logs request headers there), every
exception message and traceback, and everything a subprocess (the library, then the
``artifact-fs`` CLI) writes to stdout and stderr, for a succeeding run and a failing one.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import traceback
from urllib.parse import quote

import pytest
from mlflow.exceptions import MlflowException

from artifact_fs import FsspecArtifactRepository

from .conftest import new_bucket
from .servers.ftp import ftp_server
from .servers.sftp import password_server

KEY, SECRET, TOKEN = "AKIASECRETSCANKEY0001", "SecretScan/Secret+Value0001", "SessionTokenSecretScan0001"
CS_KEY = "U2VjcmV0U2NhbkFjY291bnRLZXkwMDAxU2VjcmV0U2NhbkFjY291bnRLZXkwMDAx"  # not Azurite's key: a refused one


def forms(*secrets: str) -> set[str]:
    """Each secret as written, and percent-encoded (as it sits in a URI)."""
    return {f for s in secrets for f in (s, quote(s, safe=""))}


def scan(texts, secrets) -> None:
    leaks = [(secret, text[:300]) for text in texts for secret in forms(*secrets) if secret in text]
    assert not leaks, leaks


def exercise(repo, tmp_path, fail: bool):
    """A run of every call; returns the exceptions raised (a failing run raises on each)."""
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "a.txt").write_text("a")
    dst = tmp_path / "dst"
    dst.mkdir(exist_ok=True)
    errors = []
    for call in (
        lambda: repo.log_artifact(str(src / "a.txt")),
        lambda: repo.log_artifacts(str(src), "tree"),
        lambda: repo.list_artifacts(),
        lambda: repo.download_artifacts("a.txt", str(dst)),
        lambda: repo.delete_artifacts("tree"),
    ):
        try:
            call()
        except MlflowException as exc:
            errors.append(exc)
    assert bool(errors) == fail, errors
    return errors


def emitted(repo, errors, caplog) -> list[str]:
    texts = [repr(repo), str(repo), repr(repo.resolved), str(repo.resolved), repr(repo._fs), repo.redacted_uri]
    texts += [str(repo.resolved.redacted()), str(repo.resolved.sources)]
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]
    for exc in errors:
        texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    return texts


@pytest.fixture
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG)  # every logger: botocore, s3fs, aiobotocore, adlfs, azure, asyncssh
    return caplog


@pytest.mark.s3
@pytest.mark.parametrize("fail", [False, True], ids=["succeeding", "failing"])
def test_s3_keys_and_session_token(moto, seaweedfs, monkeypatch, tmp_path, debug_logs, fail):
    """moto takes any key and token (a succeeding run); SeaweedFS checks them (a failing run)."""
    server = seaweedfs if fail else moto
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    monkeypatch.setenv("ARTIFACT_FS_RETRIES", "0")
    repo = FsspecArtifactRepository(f"s3://{new_bucket(server)}/run")
    errors = exercise(repo, tmp_path, fail)
    assert any(KEY[:4] in r.getMessage() or "Authorization" in r.getMessage() for r in debug_logs.records) or fail
    scan(emitted(repo, errors, debug_logs), [KEY, SECRET, TOKEN])


@pytest.mark.parametrize("fail", [False, True], ids=["succeeding", "failing"])
def test_azure_connection_string(azurite, monkeypatch, tmp_path, debug_logs, fail):
    container = azurite.create_container()
    key = CS_KEY if fail else azurite.connection_string().split("AccountKey=")[1].split(";")[0]
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string(key))
    monkeypatch.setenv("MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT", "10")
    repo = FsspecArtifactRepository(f"wasbs://{container}@devstoreaccount1.blob.core.windows.net/run")
    errors = exercise(repo, tmp_path, fail)
    scan(emitted(repo, errors, debug_logs), [key, azurite.connection_string(key)])


@pytest.mark.parametrize("fail", [False, True], ids=["succeeding", "failing"])
def test_sftp_password_in_the_uri(tmp_path, monkeypatch, debug_logs, fail):
    password = "Pw/Secret@Scan%0001"
    # asyncssh's password server: OpenSSH would need a system account with a known password.
    with password_server("scanner", password) as server:
        known = tmp_path / "known_hosts"
        known.write_text(server.known_hosts_line())
        monkeypatch.setenv("ARTIFACT_FS_SFTP_KNOWN_HOSTS", str(known))
        monkeypatch.setenv("HOME", str(tmp_path))
        given = "Wrong/Secret@Scan%0002" if fail else password
        uri = f"sftp://scanner:{quote(given, safe='')}@{server.host}:{server.port}{tmp_path / 'remote'}"
        repo = FsspecArtifactRepository(uri)
        errors = exercise(repo, tmp_path, fail)
        scan(emitted(repo, errors, debug_logs), [given, password])


@pytest.mark.parametrize("fail", [False, True], ids=["succeeding", "failing"])
def test_ftp_password_in_the_uri(tmp_path_factory, tmp_path, debug_logs, fail):
    # Its own server: one whose password is a known secret to scan for.
    with ftp_server(tmp_path_factory.mktemp("ftp-secrets"), password="Ftp@Secret%Scan1", reuse=False) as server:
        given = "Ftp@Wrong%Scan2" if fail else server.password
        repo = FsspecArtifactRepository(server.uri("/run", password=given))
        errors = exercise(repo, tmp_path, fail)
        scan(emitted(repo, errors, debug_logs), [given, server.password])


# --- everything a process prints -------------------------------------------------------------

SCRIPT = textwrap.dedent(
    """
    import logging, sys, tempfile, pathlib
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    from artifact_fs import FsspecArtifactRepository
    src = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    src.write_text("a")
    repo = FsspecArtifactRepository(sys.argv[1])
    print(repr(repo), repo.resolved)
    repo.log_artifact(str(src))
    print(repo.list_artifacts())
    """
)


@pytest.mark.s3
def test_a_subprocess_and_the_cli_print_no_secret(moto, seaweedfs, tmp_path):
    """DEBUG logging to stderr, tracebacks of the failing run, the CLI with ``--debug``."""
    outputs = []
    for server, fails in ((moto, False), (seaweedfs, True)):
        bucket = new_bucket(server)
        env = {
            **os.environ, "MLFLOW_S3_ENDPOINT_URL": server.endpoint_url, "AWS_ACCESS_KEY_ID": KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": TOKEN, "ARTIFACT_FS_RETRIES": "0",
        }  # fmt: skip
        uri = f"s3://{bucket}/run"
        runs = [[sys.executable, "-c", SCRIPT, uri]]
        cli = [os.path.join(os.path.dirname(sys.executable), "artifact-fs"), "--debug"]
        (tmp_path / "f.txt").write_text("f")
        runs += [cli + ["resolve", uri], cli + ["cp", str(tmp_path / "f.txt"), f"{uri}/f.txt"], cli + ["ls", uri]]
        for command in runs:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
            assert (done.returncode != 0) == (fails and command[-2:] != ["resolve", uri]), (
                command,
                done.stderr[-2000:],
            )
            outputs += [done.stdout, done.stderr]
    assert any("DEBUG" in text for text in outputs)
    scan(outputs, [KEY, SECRET, TOKEN])
