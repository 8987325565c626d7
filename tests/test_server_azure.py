"""End to end on Azurite: ``mlflow server --artifacts-destination wasbs://...`` with an account
key, driven by MLflow's client from another process: a proxied multipart upload goes
straight to Azure as staged blocks (SAS ``Put Block`` URLs) and is committed by the
server, and downloads take the presigned (SAS) path."""

from __future__ import annotations

import hashlib
import os

from .conftest import SCRUBBED
from .servers.azure import ACCOUNT
from .servers.mlflow import mlflow_server, run_client

MiB = 2**20


def test_mlflow_server_on_azure_blob(azurite, tmp_path):
    data = hashlib.shake_256(b"azure-e2e").digest(10 * MiB + 5)
    (tmp_path / "w.bin").write_bytes(data)
    container = azurite.create_container()
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string(), "AWS_CONFIG_FILE": os.devnull}
    destination = f"wasbs://{container}@{ACCOUNT}.blob.core.windows.net/mlartifacts"
    # A tracking server of this test's own: it proxies to this test's container.
    with mlflow_server(tmp_path / "server", destination, env, scrub=SCRUBBED) as server:
        info = server.get_json("/api/3.0/mlflow/server-info")
        assert (info["multipart_uploads_enabled"], info["multipart_downloads_enabled"]) == (True, True)
        before = server.io_bytes()
        result = run_client(
            server,
            f"""
            import hashlib, tempfile, mlflow
            with mlflow.start_run() as run:
                mlflow.log_artifact({str(tmp_path / "w.bin")!r}, "m")
                mlflow.log_text("small", "notes/n.txt")
            run_id = run.info.run_id
            listed = [(f.path, f.file_size) for f in mlflow.artifacts.list_artifacts(run_id=run_id, artifact_path="m")]
            destination = tempfile.mkdtemp()
            path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="m/w.bin", dst_path=destination)
            emit({{"run": run_id, "listed": listed, "sha": hashlib.sha256(open(path, "rb").read()).hexdigest()}})
            """,
            env={
                "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
                "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": str(4 * MiB),
                "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(4 * MiB),
                "MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE": str(4 * MiB),
            },  # fmt: skip
            timeout=180,
        )
        through_server = server.io_bytes() - before
    assert result["listed"] == [["m/w.bin", len(data)]]
    assert result["sha"] == hashlib.sha256(data).hexdigest()
    assert through_server < len(data), f"{through_server} bytes passed through the server"
    blobs = azurite.service_client().get_container_client(container)
    (name,) = [b.name for b in blobs.list_blobs() if b.name.endswith(f"{result['run']}/artifacts/m/w.bin")]
    assert blobs.download_blob(name).readall() == data
    assert len(blobs.get_blob_client(name).get_block_list()[0]) == 3  # committed from the client's 3 blocks
