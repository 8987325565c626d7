"""R2 and B2 (S3 rows whose endpoint comes from the URI) on the real S3 servers, and the
upload/download timeout bounding a call against a stalled server."""

from __future__ import annotations

import os
import signal
import time

import pytest
from mlflow.exceptions import MlflowException

from artifact_fs import FsspecArtifactRepository

from .conftest import new_bucket
from .contract import RepositoryContract
from .servers.s3 import moto_server

pytestmark = pytest.mark.s3


class EndpointFromURIContract(RepositoryContract):
    """The URI names a public endpoint; the test points that endpoint at a local server
    with an explicit override (the highest layer), keeping everything else of the row."""

    uri_template = ""
    server_fixture = "moto"

    @pytest.fixture
    def server(self, request):
        return request.getfixturevalue(self.server_fixture)

    @pytest.fixture
    def bucket(self, server):
        return new_bucket(server)

    @pytest.fixture
    def local_options(self, server):
        return {
            "endpoint_url": server.endpoint_url,
            "key": server.key,
            "secret": server.secret,
            "config_kwargs": {"s3": {"addressing_style": "path"}},  # 127.0.0.1 has no bucket subdomains
        }

    @pytest.fixture
    def artifact_uri(self, bucket):
        return self.uri_template.format(bucket=bucket) + "/mlruns/1/run/artifacts"

    @pytest.fixture
    def container_uri(self, bucket):
        return f"s3://{bucket}"

    @pytest.fixture
    def repo(self, artifact_uri, local_options):
        return FsspecArtifactRepository(artifact_uri, **local_options)

    @pytest.fixture
    def outside(self, server, bucket, artifact_uri):
        root = artifact_uri.split("@", 1)[1].split("/", 1)[1]

        def snapshot():
            listed = server.boto3_client().list_objects_v2(Bucket=bucket).get("Contents", [])
            return {o["Key"] for o in listed if not o["Key"].startswith(root)}

        return snapshot


class TestR2OnMoto(EndpointFromURIContract):
    uri_template = "r2://{bucket}@acct0123456789.r2.cloudflarestorage.com"

    def test_row_keeps_r2_semantics(self, repo):
        options = repo.resolved.storage_options
        assert options["fixed_upload_size"] is True and options["client_kwargs"]["region_name"] == "auto"
        assert repo.resolved.sources["endpoint_url"] == "override"


class TestB2OnSeaweedFS(EndpointFromURIContract):
    uri_template = "b2://{bucket}@s3.us-west-004.backblazeb2.com"
    server_fixture = "seaweedfs"

    def test_region_comes_from_the_endpoint(self, repo):
        assert repo.resolved.storage_options["client_kwargs"]["region_name"] == "us-west-004"


def _summary_sizes(infos):
    return [(info.path, info.file_size) for info in infos]


def _moto_pid(server) -> int:
    port = server.endpoint_url.rsplit(":", 1)[1]
    out = os.popen(f"pgrep -f 'moto_server -H 127.0.0.1 -p {port}'").read().split()
    assert out, "the test's own moto server process was not found"
    return int(out[0])


def test_timeout_bounds_a_call_to_a_stalled_server(tmp_path, monkeypatch):
    # Its own moto, not conftest's: this one is SIGSTOPped.
    with moto_server(tmp_path / "stalled") as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT", "2")
        bucket = new_bucket(server)
        (tmp_path / "a.txt").write_text("a")
        repo = FsspecArtifactRepository(f"s3://{bucket}/root")
        repo.log_artifact(tmp_path / "a.txt")
        pid = _moto_pid(server)
        os.kill(pid, signal.SIGSTOP)
        try:
            dst = tmp_path / "dst"
            dst.mkdir()
            calls = (
                lambda: repo.list_artifacts("sub"),
                lambda: repo.download_artifacts("a.txt", str(dst)),
                lambda: repo.log_artifact(tmp_path / "a.txt", "x"),  # a PUT: no Expect: 100-continue wait
            )
            for call in calls:
                started = time.monotonic()
                with pytest.raises(MlflowException, match="(?i)timeout|timed out"):
                    call()
                assert time.monotonic() - started < 30  # a few requests of 2 s each, not a hang
        finally:
            os.kill(pid, signal.SIGCONT)
        # the same repository works again; a PUT that timed out on the client may still have
        # been applied by the server once it resumed, but only ever as a whole object
        assert [i.path for i in repo.list_artifacts()] in (["a.txt"], ["a.txt", "x"])
        if len(repo.list_artifacts()) == 2:
            assert _summary_sizes(repo.list_artifacts("x")) == [("x/a.txt", 1)]
