"""``runs://`` on a run whose artifact root is ``mlflow-artifacts:`` (a real ``mlflow server
--serve-artifacts``): every call goes through the tracking server's HTTP artifact API."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow import MlflowClient

import artifact_fs as af

from .servers.mlflow import mlflow_server

FRAME = pd.DataFrame({"x": [1, 2, 3]})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    destination = tmp_path_factory.mktemp("destination")
    # This module's own tracking server: it proxies to a local directory the tests read.
    with mlflow_server(tmp_path_factory.mktemp("mlflow"), str(destination)) as running:
        yield running, destination


def test_read_write_list_delete_through_the_proxy(server, monkeypatch, tmp_path):
    running, destination = server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", running.url)
    client = MlflowClient()
    run = client.create_run(client.create_experiment("proxied"))
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    run_id = run.info.run_id
    FRAME.to_parquet(f"runs://{run_id}/data/t.parquet")
    with af.open(f"runs:/{run_id}/data/notes.txt", "w") as f:
        f.write("hello")
    pd.testing.assert_frame_equal(pd.read_parquet(f"runs://{run_id}/data/t.parquet"), FRAME)
    assert af.ls(f"runs:/{run_id}/data") == [f"{run_id}/data/notes.txt", f"{run_id}/data/t.parquet"]
    assert [a.path for a in client.list_artifacts(run_id, "data")] == ["data/notes.txt", "data/t.parquet"]
    assert sorted(p.name for p in destination.rglob("*") if p.is_file()) == ["notes.txt", "t.parquet"]
    assert af.cp(f"runs:/{run_id}/data", tmp_path / "down", progress=False).files == 2
    assert (tmp_path / "down" / "notes.txt").read_text() == "hello"
    af.rm(f"runs:/{run_id}/data/notes.txt")
    assert af.ls(f"runs:/{run_id}/data") == [f"{run_id}/data/t.parquet"]
    with pytest.raises(FileNotFoundError):
        af.open(f"runs:/{run_id}/data/absent.txt").read()
    assert af.storage_options(f"runs:/{run_id}/data/t.parquet")[0] == f"runs://{run_id}/data/t.parquet"
    from artifact_fs.explain import explain

    explained = explain(f"runs:/{run_id}/data")
    assert explained["artifact_root"] == run.info.artifact_uri
    assert explained["implementation"] == "artifact_fs.backends.tracking_server_client.MlflowArtifactsFileSystem"
