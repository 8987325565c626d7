"""An fsspec filesystem over a tracking server's proxied artifact API (``mlflow-artifacts:``).

Runs whose artifact root is ``mlflow-artifacts:/<exp>/<run>/artifacts`` (or the
``http(s)://host/api/2.0/mlflow-artifacts/artifacts/...`` form) are only reachable
through the tracking server. This adapter speaks that API with MLflow's own HTTP
client (``http_request``: the tracking server's credentials, TLS and retry settings):

* ``GET  /api/2.0/mlflow-artifacts/artifacts?path=<dir>``  list a directory (JSON)
* ``GET  /api/2.0/mlflow-artifacts/artifacts/<path>``      download a file
* ``PUT  /api/2.0/mlflow-artifacts/artifacts/<path>``      upload a file
* ``DELETE /api/2.0/mlflow-artifacts/artifacts/<path>``    delete a file or a tree

Paths are relative to the server's artifact destination, with no leading ``/``.
Reads are spooled to an anonymous temporary file (the API has no ranged reads), so a
reader can seek (Parquet footers); writes are sent as one ``PUT`` when the file closes.
"""

from __future__ import annotations

import posixpath
import shutil
import tempfile
from typing import Any

from fsspec.spec import AbstractFileSystem

ENDPOINT = "/mlflow-artifacts/artifacts"
SPOOL_MEMORY = 8 * 1024 * 1024


def split_http_root(artifact_uri: str, tracking_uri: str | None) -> tuple[str, str]:
    """``(api_base_url, root_path)`` for an ``mlflow-artifacts:`` or proxied ``http(s)`` root.

    >>> split_http_root("http://h:5000/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts", None)
    ('http://h:5000/api/2.0', '1/r/artifacts')
    """
    if artifact_uri.startswith("mlflow-artifacts:"):
        from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

        artifact_uri = MlflowArtifactsRepository.resolve_uri(artifact_uri, tracking_uri)
    if ENDPOINT not in artifact_uri:
        raise ValueError(f"{artifact_uri!r} is not a tracking server's proxied artifact URL")
    base, _, tail = artifact_uri.partition(ENDPOINT)
    return base, tail.strip("/")


class MlflowArtifactsFileSystem(AbstractFileSystem):
    """Files under a tracking server's artifact destination, through its HTTP API."""

    protocol = "mlflow-artifacts"
    root_marker = ""
    cachable = False

    def __init__(self, api_base_url: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.api_base_url = api_base_url

    def _request(self, method: str, path: str = "", **kwargs):
        from mlflow.utils.credentials import get_default_host_creds
        from mlflow.utils.rest_utils import http_request

        endpoint = f"{ENDPOINT}/{path}" if path else ENDPOINT
        response = http_request(get_default_host_creds(self.api_base_url), endpoint, method, **kwargs)
        if response.status_code == 404:
            raise FileNotFoundError(path)
        if response.status_code in (401, 403):
            raise PermissionError(f"{path}: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise OSError(
                f"{method} {path!r} on the tracking server failed: HTTP {response.status_code} {response.text[:200]}"
            )
        return response

    @classmethod
    def _strip_protocol(cls, path):
        path = str(path)
        for prefix in ("mlflow-artifacts://", "mlflow-artifacts:"):
            path = path.removeprefix(prefix)
        return path.strip("/")

    def ls(self, path, detail=True, **kwargs):
        """Children of a directory (a file lists as itself, as fsspec expects)."""
        path = self._strip_protocol(path)
        files = self._request("GET", params={"path": path}).json().get("files", [])
        entries = []
        for item in files:
            name = posixpath.join(path, item["path"]) if path else item["path"]
            is_dir = item.get("is_dir", False)
            size = None if is_dir else int(item.get("file_size") or 0)
            entries.append({"name": name, "size": size, "type": "directory" if is_dir else "file"})
        if not entries:
            info = self.info(path)  # a file, an empty directory or nothing at all
            if info["type"] == "file":
                entries = [info]
        return entries if detail else [entry["name"] for entry in entries]

    def info(self, path, **kwargs):
        """The listing entry of ``path`` in its parent directory."""
        path = self._strip_protocol(path)
        if not path:
            return {"name": "", "size": None, "type": "directory"}
        parent = posixpath.dirname(path)
        files = self._request("GET", params={"path": parent}).json().get("files", [])
        for item in files:
            if (posixpath.join(parent, item["path"]) if parent else item["path"]) == path:
                is_dir = item.get("is_dir", False)
                return {
                    "name": path,
                    "size": None if is_dir else int(item.get("file_size") or 0),
                    "type": "directory" if is_dir else "file",
                }
        raise FileNotFoundError(path)

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None, **kwargs):
        path = self._strip_protocol(path)
        if "r" in mode:
            if self.info(path)["type"] != "file":  # the server answers a missing file with HTTP 500, retried
                raise IsADirectoryError(path)
            spool = tempfile.SpooledTemporaryFile(SPOOL_MEMORY)
            with self._request("GET", path, stream=True) as response:
                shutil.copyfileobj(response.raw, spool)
            spool.seek(0)
            return spool
        return _UploadOnClose(self, path)

    def cat_file(self, path, start=None, end=None, **kwargs):
        """The file's bytes (sliced locally: the API has no ranged reads)."""
        path = self._strip_protocol(path)
        if self.info(path)["type"] != "file":
            raise IsADirectoryError(path)
        data = self._request("GET", path).content
        return data[start:end]

    def pipe_file(self, path, value, **kwargs):
        """Upload ``value`` as the file ``path``."""
        self._request("PUT", self._strip_protocol(path), data=value)

    def put_file(self, lpath, rpath, callback=None, **kwargs):
        """Upload a local file (streamed from disk)."""
        with open(lpath, "rb") as body:
            self._request("PUT", self._strip_protocol(rpath), data=body)

    def rm_file(self, path):
        """Delete one file."""
        self._request("DELETE", self._strip_protocol(path))

    def rm(self, path, recursive=False, maxdepth=None):
        """Delete files or trees (the server deletes recursively)."""
        for item in [path] if isinstance(path, str) else path:
            self._request("DELETE", self._strip_protocol(item))

    def mkdir(self, path, create_parents=True, **kwargs):
        """Directories exist implicitly (object-store semantics)."""

    def makedirs(self, path, exist_ok=False):
        """Directories exist implicitly (object-store semantics)."""


class _UploadOnClose(tempfile.SpooledTemporaryFile):
    """A write buffer sent as one ``PUT`` when closed (nothing is published before)."""

    def __init__(self, fs: MlflowArtifactsFileSystem, path: str):
        super().__init__(SPOOL_MEMORY)
        self._fs, self._path, self._sent = fs, path, False

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self._sent = True  # a failed write publishes nothing
        self.close()

    def close(self):
        if not self._sent and not self.closed:
            self._sent = True
            self.seek(0)
            self._fs._request("PUT", self._path, data=self.read())
        super().close()
