"""Drop-in registration: entry points, MLflow's registry, the escape hatch, import cost."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points

import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from artifact_fs import FsspecArtifactRepository
from artifact_fs._compat import accepted_kwargs
from artifact_fs.backends import BUILTIN_SCHEMES_VAR, SCHEMES

from .test_resolve_settings import SAMPLE_URI

TARGET = "artifact_fs.entrypoints:mlflow_repository"


def test_entry_points_cover_exactly_the_table():
    declared = {ep.name: ep.value for ep in entry_points(group="mlflow.artifact_repository") if ep.value == TARGET}
    # plain paths ("") cannot be an entry-point name; the target claims them when loaded
    assert set(declared) == {row.name for row in SCHEMES if row.name}


@pytest.mark.parametrize("scheme", sorted(SAMPLE_URI))
def test_registry_returns_artifact_fs_for_every_scheme(scheme):
    repo = get_artifact_repository(SAMPLE_URI[scheme])
    assert isinstance(repo, FsspecArtifactRepository)  # composed with the mixins the store honours
    assert repo.resolved.scheme == scheme


def test_registry_passes_tracking_and_registry_uris():
    """Each MLflow passes what its registry takes (2.22 neither, 3.1 tracking_uri, newer both)."""
    uris = accepted_kwargs(get_artifact_repository, tracking_uri="http://tracking", registry_uri="http://registry")
    repo = get_artifact_repository("s3://b/p", **uris)
    assert (repo.tracking_uri, repo.registry_uri) == (uris.get("tracking_uri"), uris.get("registry_uri"))


@pytest.mark.parametrize(
    ("hatch", "uri", "builtin"),
    [
        ("s3", "s3://b/p", "S3ArtifactRepository"),
        ("gs,s3", "s3://b/p", "S3ArtifactRepository"),
        ("*", "s3://b/p", "S3ArtifactRepository"),
        ("file", "/tmp/plain", "LocalArtifactRepository"),
        ("file", "file:///tmp/x", "LocalArtifactRepository"),
        ("*", "/tmp/plain", "LocalArtifactRepository"),
    ],
)
def test_escape_hatch_hands_schemes_back_to_mlflow(monkeypatch, hatch, uri, builtin):
    monkeypatch.setenv(BUILTIN_SCHEMES_VAR, hatch)
    assert type(get_artifact_repository(uri)).__name__ == builtin


def test_escape_hatch_leaves_other_schemes_alone(monkeypatch):
    monkeypatch.setenv(BUILTIN_SCHEMES_VAR, "gs")
    assert isinstance(get_artifact_repository("s3://b/p"), FsspecArtifactRepository)


def test_bad_uri_fails_at_construction_with_mlflow_error():
    with pytest.raises(MlflowException) as info:
        get_artifact_repository("s3://bkt/a?b=c")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_bad_setting_fails_at_construction_naming_the_variable(monkeypatch):
    monkeypatch.setenv("MLFLOW_S3_UPLOAD_EXTRA_ARGS", "{not json")
    with pytest.raises(MlflowException, match="MLFLOW_S3_UPLOAD_EXTRA_ARGS") as info:
        get_artifact_repository("s3://b/p")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_repository_repr_hides_passwords():
    repo = get_artifact_repository("sftp://alice:hunter2@host/data")
    assert "hunter2" not in repr(repo) and "alice:***@host" in repr(repo)


HEAVY = ["s3fs", "gcsfs", "adlfs", "sshfs", "pyarrow", "pandas", "boto3", "botocore", "aiobotocore"]


def _modules_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nimport json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_entry_point_module_imports_nothing_heavy():
    loaded = _modules_after("import artifact_fs.entrypoints")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_building_a_repository_imports_no_backend():
    loaded = _modules_after(
        "from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository\n"
        "repo = get_artifact_repository('gs://bucket/path')\n"
        "repo = get_artifact_repository('wasbs://c@a.blob.core.windows.net/p')"
    )
    assert not loaded & {"gcsfs", "adlfs", "sshfs"}


def test_resolved_options_are_accepted_by_the_real_filesystems():
    """Every S3 and Azure option the table emits is a keyword the pinned backend accepts
    (instantiating does no network I/O for these two)."""
    from artifact_fs import resolve
    from artifact_fs.opener import open_filesystem

    s3_env = {
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_SESSION_TOKEN": "t",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "MLFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:1",
        "AWS_CA_BUNDLE": "/ca.pem",
        "MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION": "s3v4",
        "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE": "path",
        "MLFLOW_S3_UPLOAD_EXTRA_ARGS": '{"ACL": "private"}',
        "MLFLOW_S3_EXPECTED_BUCKET_OWNER": "1",
        "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT": "5",
    }
    fs = open_filesystem(resolve("s3://b/p", env=s3_env))
    assert fs.endpoint_url == "http://127.0.0.1:1" and fs.s3_additional_kwargs["ExpectedBucketOwner"] == "1"
    azure_env = {"AZURE_STORAGE_ACCESS_KEY": "a2V5", "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT": "5"}
    fs = open_filesystem(resolve("wasbs://c@acct.blob.core.windows.net/p", env=azure_env))
    assert fs.account_name == "acct" and fs.account_key == "a2V5"


def test_construction_opens_no_filesystem():
    repo = get_artifact_repository("s3://b/p")
    assert repo._fs is None


def test_missing_backend_names_the_extra_to_install():
    script = (
        "import sys; sys.modules['gcsfs'] = None\n"
        "from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository\n"
        "repo = get_artifact_repository('gs://bucket/path')\n"
        "try:\n    repo.list_artifacts()\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc.error_code, exc.message)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    assert out.startswith("MlflowException INVALID_STATE")
    assert "pip install 'artifact_fs[gcs]'" in out
