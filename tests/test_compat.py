"""The supported MLflow range, the shims for older releases, and declared minimum versions.

The same tests run on every MLflow and Python of the matrix (``scripts/matrix.sh``), so
each asserts what must hold on all of them.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from artifact_fs import FsspecArtifactRepository
from artifact_fs._compat import (
    SUPPORTED_MLFLOW,
    UnsupportedMlflowError,
    accepted_kwargs,
    check_mlflow_version,
    declared_requirements,
    mlflow_version,
)

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_supported_range_is_the_one_pyproject_declares():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'"mlflow-skinny{SUPPORTED_MLFLOW}"' in pyproject


def test_the_running_mlflow_is_in_the_supported_range():
    check_mlflow_version(mlflow_version())


@pytest.mark.parametrize("version", ["2.22.0", "2.22.5", "3.0.0", "3.1.4", "3.17.2", "3.99.0rc1"])
def test_versions_in_range_pass(version):
    check_mlflow_version(version)


@pytest.mark.parametrize("version", ["1.30.1", "2.21.3", "2.22.0rc0", "4.0.0"])
def test_versions_outside_the_range_are_refused_naming_it(version):
    with pytest.raises(UnsupportedMlflowError, match=r"MLflow 2\.22\.x to 3\.x .*mlflow-skinny>=2\.22,<4") as info:
        check_mlflow_version(version)
    assert version in str(info.value)


def test_repository_keeps_tracking_and_registry_uris_on_every_mlflow():
    repo = FsspecArtifactRepository("memory://compat/a", tracking_uri="http://tracking", registry_uri="http://registry")
    assert (repo.tracking_uri, repo.registry_uri) == ("http://tracking", "http://registry")
    assert repo.list_artifacts() == []


def test_escape_hatch_builds_mlflow_repositories_on_every_mlflow(monkeypatch, tmp_path):
    """MLflow's LocalArtifactRepository takes ``**kwargs`` but its base may not know the URIs."""
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

    monkeypatch.setenv("ARTIFACT_FS_BUILTIN_SCHEMES", "file")
    repo = get_artifact_repository(str(tmp_path / "store"))
    assert type(repo) is LocalArtifactRepository
    assert repo.list_artifacts() == []


def test_accepted_kwargs_follows_the_signature():
    def two(uri, tracking_uri=None):
        return uri

    def anything(uri, **kwargs):
        return uri

    assert accepted_kwargs(two, tracking_uri="t", registry_uri="r") == {"tracking_uri": "t"}
    assert accepted_kwargs(anything, tracking_uri="t", registry_uri="r") == {"tracking_uri": "t", "registry_uri": "r"}


def test_declared_minimums_come_from_the_installed_metadata():
    names = {req.name: str(req.specifier) for req in declared_requirements("s3")}
    assert set(names) <= {"s3fs", "obstore"} and names["s3fs"].startswith(">=")  # obstore: Python 3.11+
    assert "fsspec" in {req.name for req in declared_requirements(None)}


def test_a_backend_older_than_the_declared_minimum_is_refused_naming_it(tmp_path):
    """A dist-info saying s3fs 2023.1.0 shadows the real one: opening the store names the minimum."""
    fake = tmp_path / "site" / "s3fs-2023.1.0.dist-info"
    fake.mkdir(parents=True)
    (fake / "METADATA").write_text("Metadata-Version: 2.1\nName: s3fs\nVersion: 2023.1.0\n")
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path / "site")!r})
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
        try:
            get_artifact_repository("s3://bucket/path").list_artifacts()
        except Exception as exc:
            print(type(exc).__name__, exc.error_code, exc.message)
        """
    )
    env = {**os.environ, "ARTIFACT_FS_ENGINE": "fsspec"}  # the engine that imports s3fs
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, env=env).stdout
    assert out.startswith("MlflowException INVALID_STATE"), out
    assert "s3fs>=" in out and "s3fs 2023.1.0 is installed" in out and "pip install --upgrade 'artifact_fs[s3]'" in out


def test_fsspec_kwarg_strings_are_parsed_as_newer_fsspec_does():
    """fsspec < 2026.3 hands ``FSSPEC_S3_MAX_CONCURRENCY=32`` on as ``"32"``; newer as ``32``."""
    from artifact_fs._compat import parse_fsspec_kwarg_values

    env = {"FSSPEC_S3_MAX_CONCURRENCY": "32", "FSSPEC_S3_PROFILE": "dev", "FSSPEC_GCS_TOKEN": "anon"}
    as_old_fsspec = {"max_concurrency": "32", "profile": "dev"}
    assert parse_fsspec_kwarg_values(as_old_fsspec, env, "s3") == {"max_concurrency": 32, "profile": "dev"}
    assert parse_fsspec_kwarg_values({"max_concurrency": 32}, env, "s3") == {"max_concurrency": 32}
