"""``runs://`` and ``models://`` with pandas, pyarrow, polars, fsspec and UPath, on real stores.

Runs live in a sqlite-backed tracking store; their artifact roots are a local directory,
a SeaweedFS bucket and a fake-gcs-server bucket. Every test checks that the bytes lie in
the store itself (read back with the store's own client), so nothing goes through a copy.
"""

from __future__ import annotations

import os
import uuid
import warnings

import fsspec
import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pytest
from mlflow import MlflowClient

import artifact_fs as af

from .conftest import new_bucket

FRAME = pd.DataFrame({"id": [1, 2, 3], "name": ["a", "b", "c"]})


class Store:
    """An artifact root on one backend and a way to read an object with the store's own client."""

    def __init__(self, location: str, env: dict[str, str], read):
        self.location, self.env, self.read = location, env, read


def _local(tmp_path, request) -> Store:
    root = tmp_path / "local-artifacts"
    return Store(str(root), {}, lambda relative: (root / relative).read_bytes())


def _seaweedfs(tmp_path, request) -> Store:
    server = request.getfixturevalue("seaweedfs")
    bucket = new_bucket(server)
    client = server.boto3_client()
    return Store(
        f"s3://{bucket}/mlruns",
        server.env(),
        lambda relative: client.get_object(Bucket=bucket, Key=f"mlruns/{relative}")["Body"].read(),
    )


def _gcs(tmp_path, request) -> Store:
    server = request.getfixturevalue("fake_gcs")
    bucket = f"t-{uuid.uuid4().hex[:16]}"
    server.create_bucket(bucket)

    def read(relative):
        import urllib.parse
        import urllib.request

        name = urllib.parse.quote(f"mlruns/{relative}", safe="")
        with urllib.request.urlopen(f"{server.endpoint_url}/storage/v1/b/{bucket}/o/{name}?alt=media") as r:
            return r.read()

    return Store(f"gs://{bucket}/mlruns", server.env(), read)


@pytest.fixture(params=["local", "seaweedfs", "gcs"])
def store(request, tmp_path, monkeypatch, tracking_uri) -> Store:
    """The environment points at the tracking store and at the artifact store."""
    made = {"local": _local, "seaweedfs": _seaweedfs, "gcs": _gcs}[request.param](tmp_path, request)
    for name, value in {**made.env, "MLFLOW_TRACKING_URI": tracking_uri}.items():
        monkeypatch.setenv(name, value)
    return made


def new_run(store: Store) -> tuple[str, str]:
    """A fresh run in a fresh experiment whose artifacts go to ``store``: ``(run_id, relative root)``."""
    client = MlflowClient()
    experiment = client.create_experiment(f"e-{uuid.uuid4().hex[:12]}", artifact_location=store.location)
    run = client.create_run(experiment)
    relative = run.info.artifact_uri[len(store.location) :].strip("/")
    return run.info.run_id, relative


def test_pandas_writes_and_reads_parquet_and_csv_in_place(store, tmp_path):
    run_id, root = new_run(store)
    FRAME.to_parquet(f"runs://{run_id}/data/t.parquet")
    FRAME.to_csv(f"runs://{run_id}/data/t.csv", index=False)
    pd.testing.assert_frame_equal(pd.read_parquet(f"runs://{run_id}/data/t.parquet"), FRAME)
    pd.testing.assert_frame_equal(pd.read_csv(f"runs://{run_id}/data/t.csv"), FRAME)
    assert store.read(f"{root}/data/t.csv") == FRAME.to_csv(index=False).encode()  # the bytes are in the store


def test_artifacts_logged_by_mlflow_are_readable_and_listable(store, tmp_path):
    run_id, _root = new_run(store)
    FRAME.to_csv(tmp_path / "logged.csv", index=False)
    MlflowClient().log_artifact(run_id, str(tmp_path / "logged.csv"), "inputs")
    pd.testing.assert_frame_equal(pd.read_csv(f"runs://{run_id}/inputs/logged.csv"), FRAME)
    fs, path = fsspec.url_to_fs(f"runs://{run_id}/")
    assert path == run_id
    assert fs.ls(path, detail=False) == [f"{run_id}/inputs"]
    assert fs.find(path) == [f"{run_id}/inputs/logged.csv"]
    assert af.ls(f"runs:/{run_id}/inputs") == [f"{run_id}/inputs/logged.csv"]
    assert fs.info(f"{run_id}/inputs/logged.csv")["size"] == len(FRAME.to_csv(index=False))


def test_pyarrow_dataset_over_a_directory(store):
    run_id, _root = new_run(store)
    for part in range(2):
        FRAME.assign(part=part).to_parquet(f"runs://{run_id}/tables/part-{part}.parquet")
    fs, path = af.filesystem(f"runs:/{run_id}/tables")
    table = ds.dataset(path, filesystem=fs, format="parquet").to_table()
    assert sorted(table.column("part").to_pylist()) == [0, 0, 0, 1, 1, 1]


def test_polars_with_storage_options_and_with_an_open_file(store):
    run_id, _root = new_run(store)
    FRAME.to_parquet(f"runs://{run_id}/t.parquet")
    options = {"tracking_uri": os.environ["MLFLOW_TRACKING_URI"]}
    direct = pl.read_parquet(f"runs://{run_id}/t.parquet", use_pyarrow=True, storage_options=options)
    url, resolved_options = af.storage_options(f"runs:/{run_id}/t.parquet")
    assert (url, resolved_options) == (f"runs://{run_id}/t.parquet", options)
    through_pandas = pl.from_pandas(pd.read_parquet(url, storage_options=resolved_options))
    with af.open(f"runs:/{run_id}/t.parquet") as f:
        opened = pl.read_parquet(f)
    for frame in (direct, through_pandas, opened):
        assert frame.to_dict(as_series=False) == FRAME.to_dict(orient="list")


def test_fsspec_open_chained_cache_and_upath(store, tmp_path):
    from upath import UPath

    run_id, _root = new_run(store)
    with fsspec.open(f"runs://{run_id}/notes/readme.txt", "w") as f:
        f.write("hello")
    with fsspec.open(f"runs://{run_id}/notes/readme.txt", "r") as f:
        assert f.read() == "hello"
    chained = f"simplecache::runs://{run_id}/notes/readme.txt"
    with fsspec.open(chained, simplecache={"cache_storage": str(tmp_path / "sc")}) as f:
        assert f.read() == b"hello"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # UPath's note on a protocol it has no class for
        folder = UPath(f"runs://{run_id}/notes")
        assert [p.name for p in folder.iterdir()] == ["readme.txt"]
        assert (folder / "readme.txt").read_text() == "hello"


def test_missing_run_or_file_is_file_not_found(store):
    run_id, _root = new_run(store)
    with pytest.raises(FileNotFoundError):
        pd.read_parquet(f"runs://{run_id}/absent.parquet")
    with pytest.raises(FileNotFoundError):
        pd.read_parquet("runs://0123456789abcdef0123456789abcdef/t.parquet")
    with pytest.raises(FileNotFoundError, match="runs:/0123456789abcdef0123456789abcdef"):
        af.open("runs:/0123456789abcdef0123456789abcdef/t.parquet")


@pytest.mark.parametrize(
    "relative", ["../escaped.txt", "a/../../escaped.txt", "%2e%2e/escaped.txt", "．．/escaped.txt"]
)
def test_runs_paths_pass_the_path_policy(store, tmp_path, relative):
    run_id, _root = new_run(store)
    before = sorted(p for p in tmp_path.rglob("*"))
    for call in (
        lambda: af.open(f"runs://{run_id}/{relative}", "wb").write(b"x"),
        lambda: af.cp(str(tmp_path / "src.txt"), f"runs://{run_id}/{relative}", progress=False),
        lambda: fsspec.open(f"runs://{run_id}/{relative}").open().read(),
    ):
        (tmp_path / "src.txt").write_bytes(b"x")
        with pytest.raises(ValueError, match="Invalid artifact path"):
            call()
        (tmp_path / "src.txt").unlink()
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing written anywhere


@pytest.mark.parametrize("url", ["runs://", "models://only-a-name/"])
def test_a_url_that_names_no_run_or_version_is_refused(url):
    with pytest.raises(ValueError, match="names"):
        fsspec.url_to_fs(url)[0].info(fsspec.url_to_fs(url)[1])


def test_storage_options_for_mlflow_uris_pandas_cannot_read():
    url, options = af.storage_options("wasbs://box@acct.blob.core.windows.net/p/t.parquet", account_key="k")
    assert (url, options["account_name"], options["account_key"]) == ("abfs://box/p/t.parquet", "acct", "k")
    url, options = af.storage_options("hdfs:/warehouse/t.parquet")
    assert url == "hdfs:///warehouse/t.parquet" and "host" not in options
    url, options = af.storage_options("hdfs://namenode:8020/warehouse/t.parquet")
    assert (url, options["host"], options["port"]) == ("hdfs://namenode:8020/warehouse/t.parquet", "namenode", 8020)


def test_registered_model_by_alias_version_and_latest(tmp_path, monkeypatch, tracking_uri):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    store = _local(tmp_path, None)
    client, name = MlflowClient(), f"churn-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    for version in (1, 2):
        run_id, _root = new_run(store)
        FRAME.assign(version=version).to_parquet(f"runs://{run_id}/model/data.parquet")
        source = f"{client.get_run(run_id).info.artifact_uri}/model"
        client.create_model_version(name, source, run_id)
    client.set_registered_model_alias(name, "champion", "1")

    def version_at(url: str) -> int:
        return int(pd.read_parquet(url)["version"].iloc[0])

    assert version_at(f"models://{name}@champion/data.parquet") == 1
    assert version_at(f"models://{name}/2/data.parquet") == 2
    assert version_at(f"models://{name}/latest/data.parquet") == 2
    with af.open(f"models:/{name}@champion/data.parquet") as f:
        assert int(pd.read_parquet(f)["version"].iloc[0]) == 1
    client.set_registered_model_alias(name, "champion", "2")
    assert version_at(f"models://{name}@champion/data.parquet") == 2  # a moved alias is followed
    assert af.ls(f"models:/{name}/1") == [f"{name}/1/data.parquet"]
    with pytest.raises(FileNotFoundError):
        pd.read_parquet(f"models://{name}@nobody/data.parquet")


def test_logged_model_by_id_and_a_version_registered_from_it(tmp_path, monkeypatch, tracking_uri):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    client = MlflowClient()
    experiment = client.create_experiment(f"lm-{uuid.uuid4().hex[:8]}", artifact_location=str(tmp_path / "store"))
    model = client.create_logged_model(experiment)
    FRAME.to_parquet(f"models://{model.model_id}/data.parquet")
    assert (
        (tmp_path / "store")
        .joinpath(*model.artifact_location.split("/store/", 1)[1].split("/"), "data.parquet")
        .is_file()
    )
    name = f"lm-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    version = client.create_model_version(name, f"models:/{model.model_id}", model_id=model.model_id).version
    pd.testing.assert_frame_equal(pd.read_parquet(f"models://{name}/{version}/data.parquet"), FRAME)
