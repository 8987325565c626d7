"""The notebook API: the README's "Reading artifacts as data" examples, executed against a run
on SeaweedFS and a model registered in a sqlite tracking store; ``af.cp`` in every direction."""

from __future__ import annotations

import doctest
import importlib
import pathlib
import re

import pytest
from mlflow import MlflowClient

import artifact_fs as af

from .conftest import new_bucket

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def readme_examples(heading: str = "## Reading artifacts as data") -> list[str]:
    """The ```python blocks of one README section, in order."""
    text = README.read_text()
    start = text.index(heading + "\n")
    end = text.find("\n## ", start + len(heading))
    section = text[start : end if end != -1 else None]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.fixture
def s3_run(seaweedfs, monkeypatch, tmp_path):
    """A run on a fresh SeaweedFS bucket in a fresh sqlite tracking store: ``(run_id, tracking_uri, bucket)``."""
    tracking_uri = f"sqlite:///{tmp_path}/mlflow.db"
    for name, value in {**seaweedfs.env(), "MLFLOW_TRACKING_URI": tracking_uri}.items():
        monkeypatch.setenv(name, value)
    bucket = new_bucket(seaweedfs)
    client = MlflowClient()
    experiment = client.create_experiment("readme", artifact_location=f"s3://{bucket}/mlruns")
    return client.create_run(experiment).info.run_id, tracking_uri, bucket


def test_readme_examples_run(s3_run, tmp_path, monkeypatch):
    run_id, tracking_uri, _bucket = s3_run
    examples = readme_examples()
    assert len(examples) >= 4, "the section's examples were not found"
    monkeypatch.chdir(tmp_path)
    client = MlflowClient()
    client.create_registered_model("rainfall")
    client.create_model_version("rainfall", client.get_run(run_id).info.artifact_uri, run_id)
    client.set_registered_model_alias("rainfall", "champion", "1")
    namespace = {"run_id": run_id, "tracking_uri": tracking_uri}
    for number, code in enumerate(examples, 1):
        exec(compile(code, f"README.md example {number}", "exec"), namespace)  # noqa: S102 - our own README
    assert sorted(a.path for a in client.list_artifacts(run_id, "copies")) == ["copies/rain.csv"]


def test_cp_upload_download_and_store_to_store(s3_run, seaweedfs, tmp_path):
    run_id, _tracking, bucket = s3_run
    assert af.ls(f"runs:/{run_id}") == []  # a run with no artifacts yet
    source = tmp_path / "src"
    (source / "nested").mkdir(parents=True)
    (source / "one.txt").write_bytes(b"1")
    (source / "nested" / "two.txt").write_bytes(b"22")
    assert af.cp(source, f"s3://{bucket}/up", progress=False) == af.CopyResult(2, 3, f"s3://{bucket}/up")
    assert af.cp(f"s3://{bucket}/up", f"runs:/{run_id}/copied", progress=False).files == 2  # store to store
    assert af.cp(f"runs:/{run_id}/copied", tmp_path / "down", progress=False).bytes == 3
    assert (tmp_path / "down" / "nested" / "two.txt").read_bytes() == b"22"
    (tmp_path / "into").mkdir()
    af.cp(f"runs:/{run_id}/copied/one.txt", tmp_path / "into", progress=False)  # a file into a directory
    assert (tmp_path / "into" / "one.txt").read_bytes() == b"1"
    af.rm(f"runs:/{run_id}/copied", recursive=True)
    assert af.ls(f"runs:/{run_id}") == []  # SeaweedFS's folder marker of the root is not an entry
    with pytest.raises(FileNotFoundError):
        af.cp(f"s3://{bucket}/absent", tmp_path / "nothing", progress=False)


@pytest.mark.parametrize("store", ["s3", "local"])
def test_a_failed_write_publishes_nothing(s3_run, tmp_path, store):
    run_id, _tracking, _bucket = s3_run
    if store == "local":
        client = MlflowClient()
        run_id = client.create_run(client.create_experiment("w", artifact_location=str(tmp_path / "a"))).info.run_id
    with af.open(f"runs:/{run_id}/ok.bin", "wb") as f:
        f.write(b"y" * 10)
    with af.open(f"runs:/{run_id}/ok.txt", "w") as f:
        f.write("text")
    for mode in ("wb", "w"):
        with pytest.raises(RuntimeError):
            with af.open(f"runs:/{run_id}/failed.{mode}", mode) as f:
                f.write(b"partial" if mode == "wb" else "partial")
                raise RuntimeError("the writer failed")
    assert af.ls(f"runs:/{run_id}") == [f"{run_id}/ok.bin", f"{run_id}/ok.txt"]  # no partial, no temp name
    assert af.open(f"runs:/{run_id}/ok.txt", "r").read() == "text"


@pytest.mark.parametrize("module", ["api", "protocols", "explain", "backends.tracking_server_client"])
def test_docstring_examples(module):
    failed, attempted = doctest.testmod(importlib.import_module(f"artifact_fs.{module}"), optionflags=doctest.ELLIPSIS)
    assert attempted and not failed
