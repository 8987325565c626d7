"""``artifact-fs`` driven as a subprocess against SeaweedFS: commands, ``--json``, exit codes,
one-line errors, secrets never printed, and a progress bar only on a terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest
from mlflow import MlflowClient

from artifact_fs import cli

from .conftest import new_bucket

SCRIPT = os.path.join(os.path.dirname(sys.executable), "artifact-fs")


@pytest.fixture
def env(seaweedfs, monkeypatch):
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    return dict(os.environ)


@pytest.fixture
def bucket(seaweedfs):
    return new_bucket(seaweedfs)


def run(*args: str, env=None, stderr=subprocess.PIPE) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SCRIPT, *args],
        capture_output=stderr is subprocess.PIPE,
        stderr=None if stderr is subprocess.PIPE else stderr,
        text=True,
        timeout=120,
        env=env,
    )


def as_json(*args: str, env=None):
    done = run(*args, "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def in_process(capsys, *args: str):
    """``artifact-fs --json ARGS`` run in this process (same code path, no interpreter start-up)."""
    assert cli.main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_upload_list_measure_print_download_delete(env, bucket, tmp_path, capsys):
    local = tmp_path / "out"
    (local / "sub").mkdir(parents=True)
    (local / "a.txt").write_text("alpha")
    (local / "sub" / "b.txt").write_text("beta!")
    remote = f"s3://{bucket}/exp/1"
    assert as_json("cp", str(local), remote, env=env) == {"files": 2, "bytes": 10, "destination": remote}
    assert as_json("ls", remote, env=env) == [
        {"path": "a.txt", "is_dir": False, "size": 5},
        {"path": "sub", "is_dir": True, "size": None},
    ]
    assert [row["path"] for row in in_process(capsys, "ls", "-R", remote)] == ["a.txt", "sub/b.txt"]
    assert in_process(capsys, "du", remote) == {"uri": remote, "bytes": 10, "files": 2}
    assert cli.main(["cat", f"{remote}/sub/b.txt"]) == 0
    assert capsys.readouterr().out == "beta!"
    assert in_process(capsys, "cp", f"{remote}/sub", str(tmp_path / "back"))["files"] == 1
    assert (tmp_path / "back" / "b.txt").read_text() == "beta!"
    assert run("rm", remote, env=env).returncode == cli.EXIT_USAGE  # a directory needs -r
    assert in_process(capsys, "rm", "-r", remote) == {"removed": remote}
    assert run("ls", remote, env=env).returncode == cli.EXIT_NOT_FOUND


def test_store_to_store_and_runs_uris(env, bucket, tmp_path, capsys):
    tracking = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking)
    run_id = client.create_run(
        client.create_experiment("cli", artifact_location=str(tmp_path / "local-store"))
    ).info.run_id
    (tmp_path / "t.csv").write_text("x\n1\n")
    assert in_process(capsys, "cp", str(tmp_path / "t.csv"), f"s3://{bucket}/src/t.csv")["files"] == 1
    assert (
        run("cp", f"s3://{bucket}/src/", f"runs:/{run_id}/copied", "--tracking-uri", tracking, env=env).returncode == 0
    )
    assert client.list_artifacts(run_id, "copied")[0].path == "copied/t.csv"
    assert cli.main(["cat", f"runs:/{run_id}/copied/t.csv", "--tracking-uri", tracking]) == 0
    assert capsys.readouterr().out == "x\n1\n"
    explained = in_process(capsys, "resolve", f"runs:/{run_id}/copied", "--tracking-uri", tracking)
    assert explained["artifact_root"] == client.get_run(run_id).info.artifact_uri


def test_errors_are_one_line_with_meaningful_exit_codes(env, bucket):
    cases = [
        (("ls", f"s3://{bucket}/missing"), cli.EXIT_NOT_FOUND, "FileNotFoundError"),
        (("ls", "nosuchscheme://x/y"), cli.EXIT_USAGE, "unsupported artifact URI"),
        (("cat", "s3://bucket/a?versionId=1"), cli.EXIT_USAGE, "query or fragment"),
    ]
    for args, code, text in cases:
        done = run(*args, env=env)
        assert (done.returncode, len(done.stderr.strip().splitlines())) == (code, 1), done.stderr
        assert text in done.stderr and "Traceback" not in done.stderr
    assert run("frobnicate", env=env).returncode == cli.EXIT_USAGE  # argparse's usage error


def test_resolve_explain_names_sources_and_redacts_secrets(env):
    done = run("resolve", "--explain", "s3://bucket/p", env=env)
    assert done.returncode == 0, done.stderr
    assert "environment MLFLOW_S3_ENDPOINT_URL" in done.stdout and env["MLFLOW_S3_ENDPOINT_URL"] in done.stdout
    assert "from environment AWS_SECRET_ACCESS_KEY" in done.stdout and "'***'" in done.stdout
    assert env["AWS_SECRET_ACCESS_KEY"] not in done.stdout
    data = as_json("resolve", "s3://bucket/p", env=env)
    row = next(r for r in data["options"] if r["source"] == "environment AWS_SECRET_ACCESS_KEY")
    assert row["value"] == "***" and row["option"] in ("secret", "config.secret_access_key")  # s3fs's, obstore's
    assert data["engine"].split(",")[0] in ("obstore", "fsspec")
    assert env["AWS_SECRET_ACCESS_KEY"] not in json.dumps(data)


def test_progress_bar_on_a_terminal_only(env, bucket, tmp_path):
    (tmp_path / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    remote = f"s3://{bucket}/p/big.bin"
    piped = run("cp", str(tmp_path / "big.bin"), remote, env=env)
    assert piped.returncode == 0 and piped.stderr == ""
    main, secondary = pty.openpty()
    try:
        done = subprocess.run(
            [SCRIPT, "cp", remote, str(tmp_path / "down.bin")],
            stdout=subprocess.PIPE,
            stderr=secondary,
            env=env,
            timeout=120,
        )
        os.close(secondary)
        shown = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(main)
    assert done.returncode == 0
    assert b"download" in shown and b"1/1 files" in shown and b"3.00M" in shown, shown
    assert (tmp_path / "down.bin").read_bytes() == (tmp_path / "big.bin").read_bytes()
