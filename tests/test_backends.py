"""The contract on every backend this issue runs end to end: local paths, file://,
memory://, and S3 on two real servers (SeaweedFS with enforced credentials, moto)."""

from __future__ import annotations

import uuid

import pytest

from .conftest import NEEDS_OBSTORE, new_bucket
from .contract import RepositoryContract


class TestLocalPath(RepositoryContract):
    @pytest.fixture
    def container_uri(self, tmp_path):
        return str(tmp_path / "store")

    @pytest.fixture
    def artifact_uri(self, container_uri):
        return f"{container_uri}/exp/run/artifacts"


class TestFileURI(RepositoryContract):
    @pytest.fixture
    def container_uri(self, tmp_path):
        return (tmp_path / "store").as_uri()

    @pytest.fixture
    def artifact_uri(self, container_uri):
        return f"{container_uri}/exp/run/artifacts"


class TestMemory(RepositoryContract):
    @pytest.fixture
    def container_uri(self):
        return f"memory://{uuid.uuid4().hex}"

    @pytest.fixture
    def artifact_uri(self, container_uri):
        return f"{container_uri}/exp/run/artifacts"


class S3Contract(RepositoryContract):
    """S3 through MLflow's own settings: the endpoint and keys come from the environment."""

    server_fixture = ""
    engine = ""  # ARTIFACT_FS_ENGINE ("": the default, obstore where it is installed)

    @pytest.fixture
    def server(self, request, monkeypatch):
        server = request.getfixturevalue(self.server_fixture)
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        if self.engine:
            monkeypatch.setenv("ARTIFACT_FS_ENGINE", self.engine)
        return server

    @pytest.fixture
    def bucket(self, server):
        return new_bucket(server)

    @pytest.fixture
    def container_uri(self, bucket):
        return f"s3://{bucket}"

    @pytest.fixture
    def artifact_uri(self, bucket):
        return f"s3://{bucket}/mlruns/1/run/artifacts"


@pytest.mark.s3
class TestSeaweedFS(S3Contract):
    server_fixture = "seaweedfs"
    engine = "fsspec"  # s3fs; the default (obstore) is TestSeaweedFSObstore


@pytest.mark.s3
class TestMoto(S3Contract):
    server_fixture = "moto"
    engine = "fsspec"


@pytest.mark.s3
class TestSeaweedFSBucketRoot(S3Contract):
    """A repository rooted at the bucket itself (MLflow's GCS/Blob get this wrong)."""

    server_fixture = "seaweedfs"
    engine = "fsspec"

    @pytest.fixture
    def artifact_uri(self, bucket):
        return f"s3://{bucket}"

    @pytest.fixture
    def outside(self):
        return lambda: set()


@NEEDS_OBSTORE
@pytest.mark.s3
class TestSeaweedFSObstore(S3Contract):
    """The whole contract again on the obstore engine."""

    server_fixture = "seaweedfs"
    engine = "obstore"


@NEEDS_OBSTORE
@pytest.mark.s3
class TestMotoObstore(S3Contract):
    server_fixture = "moto"
    engine = "obstore"


@NEEDS_OBSTORE
@pytest.mark.s3
class TestSeaweedFSBucketRootObstore(TestSeaweedFSBucketRoot):
    engine = "obstore"
