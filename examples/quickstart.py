"""The main job on the embedded default store: an MLflow run logs its artifacts into a
local store through artifact_fs, lists them, and reads the table back with pandas.

Run it with ``./scripts/demo.sh`` (which sets everything up) or, in the project's
virtualenv, ``python examples/quickstart.py [WORKDIR]``.
"""

from __future__ import annotations

import os
import pathlib
import sys
import tempfile

import mlflow
import pandas as pd
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient

import artifact_fs


def make_inputs(folder: pathlib.Path) -> dict[str, pathlib.Path]:
    """A Parquet table, a nested directory of reports and a model file."""
    folder.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame({"epoch": range(1, 6), "loss": [0.9, 0.6, 0.45, 0.38, 0.35]})
    table.to_parquet(folder / "metrics.parquet")
    reports = folder / "reports"
    (reports / "plots" / "by_epoch").mkdir(parents=True, exist_ok=True)
    (reports / "summary.md").write_text("# Run summary\nloss went down\n")
    (reports / "plots" / "by_epoch" / "epoch_5.csv").write_text("x,y\n1,2\n")
    (folder / "model.bin").write_bytes(os.urandom(256 * 1024))
    return {"table": folder / "metrics.parquet", "reports": reports, "model": folder / "model.bin"}


def main(workdir: str | None = None) -> int:
    """Log, list and read back; prints each step."""
    work = pathlib.Path(workdir or tempfile.mkdtemp(prefix="artifact_fs-demo-")).resolve()
    mlflow.set_tracking_uri(f"sqlite:///{work / 'mlflow.db'}")
    experiment = mlflow.create_experiment("artifact_fs-demo", artifact_location=str(work / "artifacts"))
    inputs = make_inputs(work / "inputs")

    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_artifact(str(inputs["table"]), "data")
        mlflow.log_artifacts(str(inputs["reports"]), "reports")
        mlflow.log_artifact(str(inputs["model"]), "model")
    artifact_uri = run.info.artifact_uri
    repo = get_artifact_repository(artifact_uri)
    print(f"run {run.info.run_id} logged to {artifact_uri}")
    print(f"repository: {type(repo).__module__}.{type(repo).__name__} -> {repo.resolved.url}")

    client = MlflowClient()

    def show(path=None):
        for info in client.list_artifacts(run.info.run_id, path):
            print(f"  {info.path}/" if info.is_dir else f"  {info.path}  ({info.file_size} bytes)")
            if info.is_dir:
                show(info.path)

    show()

    fs, root = artifact_fs.filesystem(artifact_uri)
    with fs.open(f"{root}/data/metrics.parquet", "rb") as handle:
        table = pd.read_parquet(handle)
    print(f"read back data/metrics.parquet with pandas: {len(table)} rows, final loss {table['loss'].iloc[-1]}")
    same = table.equals(pd.read_parquet(inputs["table"]))
    print("round trip:", "identical" if same else "DIFFERENT")
    return 0 if same and isinstance(repo, artifact_fs.FsspecArtifactRepository) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
