"""Two S3 servers in one MLflow client process, told apart by a profiles file.

SeaweedFS (credentials enforced) is the team's store, configured through MLflow's usual
variables; moto's server is an archive on another endpoint with other credentials,
configured by the README's "Several stores at once" example. Each server sits behind a
recording proxy, so the test sees which access key ids reached which server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from .conftest import new_bucket
from .recording_proxy import RecordingProxy

README = Path(__file__).resolve().parent.parent / "README.md"
ARCHIVE_KEY, ARCHIVE_SECRET = "ARCHIVEKEYID", "archive-secret-value"  # moto accepts any


def readme_example() -> tuple[str, str]:
    """The TOML and Python blocks of the README's "Several stores at once" section."""
    section = README.read_text().split("## Several stores at once", 1)[1].split("\n## ", 1)[0]
    toml = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    python = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    return toml, python


@pytest.fixture
def proxies(seaweedfs, moto):
    team, archive = RecordingProxy(seaweedfs.endpoint_url), RecordingProxy(moto.endpoint_url)
    yield team, archive
    team.close()
    archive.close()


def test_one_client_process_logs_to_two_servers_with_their_own_credentials(tmp_path, seaweedfs, moto, proxies):
    team_proxy, archive_proxy = proxies
    team_bucket, archive_bucket = new_bucket(seaweedfs), new_bucket(moto)
    toml, python = readme_example()
    toml = toml.replace("http://minio.archive.example:9000", archive_proxy.endpoint_url)
    toml = toml.replace('"s3://archive-artifacts"', f'"s3://{archive_bucket}"')
    python = python.replace("s3://team-artifacts/", f"s3://{team_bucket}/").replace(
        "s3://archive-artifacts/", f"s3://{archive_bucket}/"
    )
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(toml)
    profiles.chmod(0o600)
    script = tmp_path / "example.py"
    script.write_text(
        python
        + textwrap.dedent("""
        import json
        runs = mlflow.search_runs([main, archive], output_format="list")
        print(json.dumps({r.info.experiment_id: r.info.artifact_uri for r in runs}))
    """)
    )

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
    env.update(seaweedfs.env(), MLFLOW_S3_ENDPOINT_URL=team_proxy.endpoint_url)
    env.update(ARTIFACT_FS_PROFILES=str(profiles), ARCHIVE_KEY=ARCHIVE_KEY, ARCHIVE_SECRET=ARCHIVE_SECRET)
    env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]

    # each run's artifact landed on its own server, and only there
    team_keys = _keys(seaweedfs, team_bucket)
    archive_keys = _keys(moto, archive_bucket)
    assert [k for k in team_keys if k.endswith("model/weights.txt")] and len(team_keys) == 1, team_keys
    assert [k for k in archive_keys if k.endswith("model/weights.txt")] and len(archive_keys) == 1, archive_keys
    body = moto.boto3_client().get_object(Bucket=archive_bucket, Key=archive_keys[0])["Body"].read()
    assert body == b"weights"

    # and each server saw only its own credentials
    assert team_proxy.key_ids == {seaweedfs.key}
    assert archive_proxy.key_ids == {ARCHIVE_KEY}
    assert ARCHIVE_SECRET not in done.stdout + done.stderr


def test_the_profile_is_also_used_to_read_back(tmp_path, seaweedfs, moto, proxies):
    """Download and list through MLflow's client: reads resolve through the same profile."""
    _team_proxy, archive_proxy = proxies
    bucket = new_bucket(moto)
    key = f"runs/{uuid.uuid4().hex}/artifacts/data/table.csv"
    moto.boto3_client().put_object(Bucket=bucket, Key=key, Body=b"a,b\n1,2\n")
    profiles = _archive_profile(tmp_path, f"s3://{bucket}/runs", archive_proxy.endpoint_url)
    code = textwrap.dedent(f"""
        import mlflow.artifacts, pathlib, sys
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
        root = "s3://{bucket}/{key.rsplit("/data/", 1)[0]}"
        print([f.path for f in get_artifact_repository(root).list_artifacts("data")])
        local = mlflow.artifacts.download_artifacts(artifact_uri=root + "/data/table.csv", dst_path=sys.argv[1])
        print(pathlib.Path(local).read_text())
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
    env.update(
        seaweedfs.env(), ARTIFACT_FS_PROFILES=str(profiles), ARCHIVE_KEY=ARCHIVE_KEY, ARCHIVE_SECRET=ARCHIVE_SECRET
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "dl")], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "['data/table.csv']" in done.stdout and "a,b\n1,2" in done.stdout
    assert archive_proxy.key_ids == {ARCHIVE_KEY}


def _keys(server, bucket: str) -> list[str]:
    listing = server.boto3_client().list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_mlflow_server_resolves_its_destination_through_a_profile(tmp_path, moto, proxies):
    """``mlflow server`` with no S3 variables at all: the profile alone says where and who."""
    from .conftest import SCRUBBED
    from .servers.mlflow import mlflow_server, run_client

    _team_proxy, archive_proxy = proxies
    bucket = new_bucket(moto)
    profiles = _archive_profile(tmp_path, f"s3://{bucket}", archive_proxy.endpoint_url, region="us-east-1")
    env = {
        "ARTIFACT_FS_PROFILES": str(profiles),
        "ARCHIVE_KEY": ARCHIVE_KEY,
        "ARCHIVE_SECRET": ARCHIVE_SECRET,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    # A tracking server of this test's own: its destination resolves through the profile alone.
    with mlflow_server(tmp_path / "server", f"s3://{bucket}/proxied", env, scrub=SCRUBBED) as server:
        result = run_client(
            server,
            """
            import mlflow
            with mlflow.start_run() as run:
                mlflow.log_text("through the server", "notes/readme.txt")
            listed = mlflow.MlflowClient().list_artifacts(run.info.run_id, "notes")
            emit({"run": run.info.run_id, "listed": [f.path for f in listed]})
        """,
            env={"ARTIFACT_FS_PROFILES": "none"},
        )
    assert result["listed"] == ["notes/readme.txt"]
    keys = _keys(moto, bucket)
    assert (
        keys
        == [k for k in keys if k.startswith("proxied/") and k.endswith(f"{result['run']}/artifacts/notes/readme.txt")]
        and keys
    )
    assert archive_proxy.key_ids == {ARCHIVE_KEY}


def _archive_profile(tmp_path, match: str, endpoint_url: str, **extra: str):
    """A private profiles file with one entry for the archive server (credentials by reference)."""
    lines = [f'{key} = "{value}"' for key, value in extra.items()]
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(
        "\n".join(
            [
                "[profiles.archive]",
                f'match = "{match}"',
                f'endpoint_url = "{endpoint_url}"',
                *lines,
                'access_key_id = "env:ARCHIVE_KEY"',
                'secret_access_key = "env:ARCHIVE_SECRET"',
                "",
            ]
        )
    )
    profiles.chmod(0o600)
    return profiles
