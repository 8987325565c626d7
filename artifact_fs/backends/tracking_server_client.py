"""The client of :mod:`.tracking_server`: fsspec over a tracking server's artifact API.

Runs whose artifact root is ``mlflow-artifacts:/<exp>/<run>/artifacts`` (or the
``http(s)://host/api/2.0/mlflow-artifacts/artifacts/...`` form) are only reachable
through the tracking server. This filesystem speaks that API with MLflow's own HTTP
client (``http_request`` with ``get_default_host_creds``: the tracking server's token or
basic auth, TLS settings and client certificate, exactly as MLflow's client reads them):

* ``GET  /api/2.0/mlflow-artifacts/artifacts?path=<dir>``  list a directory (JSON)
* ``GET  /api/2.0/mlflow-artifacts/artifacts/<path>``      download a file (streamed)
* ``PUT  /api/2.0/mlflow-artifacts/artifacts/<path>``      upload a file (streamed from disk)
* ``DELETE /api/2.0/mlflow-artifacts/artifacts/<path>``    delete a file or a tree

Paths are ``/``-rooted at the server's artifact destination (``/1/<run>/artifacts/f``), sent
without the leading ``/`` and percent-encoded (a name holding ``?``, ``#`` or ``%`` reaches the server as written).
One instance serves many threads (the transfer core's files in flight share MLflow's
pooled session). Transfers are never retried here: the transfer core's one budget
(``ARTIFACT_FS_RETRIES``) does that; an answer of 429 or 5xx is a ``ConnectionError``
(transient), 404 ``FileNotFoundError``, 401/403 ``PermissionError``.
"""

from __future__ import annotations

import mimetypes
import os
import posixpath
import re
import shutil
import tempfile
from typing import Any
from urllib.parse import quote, urlparse, urlunparse

from fsspec.spec import AbstractFileSystem

from ..uri import PROXIED_ARTIFACTS_ENDPOINT as ENDPOINT

SPOOL_MEMORY = 8 * 1024 * 1024
CHUNK = 1024 * 1024
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
#: files in flight when the transfer core names no ``batch_size`` (the row's ``sync_threads``)
FILES_IN_FLIGHT = 8


def split_http_root(artifact_uri: str, tracking_uri: str | None) -> tuple[str, str]:
    """``(api_base_url, root_path)`` for an ``mlflow-artifacts:`` or proxied ``http(s)`` root.

    >>> split_http_root("http://h:5000/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts", None)
    ('http://h:5000/api/2.0', '1/r/artifacts')
    >>> split_http_root("mlflow-artifacts:/1/r", "https://t/mlflow")
    ('https://t/mlflow/api/2.0', '1/r')
    """
    if artifact_uri.startswith("mlflow-artifacts:"):
        parsed = urlparse(artifact_uri)
        return api_base_url(parsed.netloc, tracking_uri), parsed.path.strip("/")
    if ENDPOINT not in artifact_uri:
        raise ValueError(f"{artifact_uri!r} is not a tracking server's proxied artifact URL")
    base, _, tail = artifact_uri.partition(ENDPOINT)
    return base, tail.strip("/")


def api_base_url(host: str, tracking_uri: str | None) -> str:
    """``<scheme>://<host or the tracking server's>/<its path prefix>/api/2.0``: MLflow's rule
    (``MlflowArtifactsRepository.resolve_uri``) for an ``mlflow-artifacts:`` URI's server."""
    if not tracking_uri:
        raise ValueError(
            "an mlflow-artifacts: URI needs the tracking server's URL: set MLFLOW_TRACKING_URI "
            "(or pass tracking_uri) to http(s)://<tracking server>"
        )
    track = urlparse(tracking_uri)
    if track.scheme not in ("http", "https"):
        shown = urlunparse(track._replace(netloc=track.netloc.rpartition("@")[2], params="", query="", fragment=""))
        raise ValueError(f"an mlflow-artifacts: URI needs an http(s) tracking URI (MLFLOW_TRACKING_URI), not {shown!r}")
    path = re.sub(r"//+", "/", f"{track.path}/api/2.0").rstrip("/")
    return urlunparse((track.scheme, host or track.netloc, path, "", "", ""))


def _default_tracking_uri() -> str | None:
    """What MLflow's client would use: ``mlflow.set_tracking_uri``'s value, else its default."""
    from mlflow.tracking._tracking_service.utils import get_tracking_uri

    return get_tracking_uri()


class MlflowArtifactsFileSystem(AbstractFileSystem):
    """Files under a tracking server's artifact destination, through its HTTP API."""

    protocol = "mlflow-artifacts"
    root_marker = "/"
    cachable = False

    def __init__(
        self,
        api_base_url: str | None = None,
        *,
        host: str = "",
        tracking_uri: str | None = None,
        timeout: float | None = None,
        retries: int = 2,
        parts_in_flight: int = 8,
        **kwargs: Any,
    ):
        """``api_base_url`` (``http://h:5000/api/2.0``), or the ``host`` an ``mlflow-artifacts://``
        URI names (empty: the tracking server's) and ``tracking_uri`` (None: MLflow's own)."""
        super().__init__(**kwargs)
        self._given = (api_base_url, host, tracking_uri)
        self._base = api_base_url
        self.timeout = timeout
        self.retries = retries  # listings and deletes (transfers are the transfer core's to retry)
        self.parts_in_flight = parts_in_flight  # of one multipart upload
        self.capabilities: dict | None = None  # the server's /server-info answer, asked once
        self.batches: bool | None = None  # whether it answers artifact_fs's batch endpoints, asked once

    @property
    def api_base_url(self) -> str:
        """The tracking server's ``.../api/2.0`` URL (worked out on first use)."""
        if self._base is None:
            _, host, tracking_uri = self._given
            self._base = api_base_url(host, tracking_uri or _default_tracking_uri())
        return self._base

    def __repr__(self) -> str:
        shown = urlparse(self.api_base_url)
        return f"MlflowArtifactsFileSystem({shown._replace(netloc=shown.netloc.rpartition('@')[2]).geturl()!r})"

    def _request(self, method: str, path: str = "", *, retries: int = 0, endpoint: str | None = None, **kwargs):
        """One request to the artifact API for ``path`` (or to ``endpoint``) through MLflow's client."""
        import requests
        from mlflow.utils.credentials import get_default_host_creds
        from mlflow.utils.rest_utils import http_request

        path = path.strip("/")
        if endpoint is None:
            endpoint = f"{ENDPOINT}/{quote(path, safe='/')}" if path else ENDPOINT
        try:
            response = http_request(
                get_default_host_creds(self.api_base_url), endpoint, method, max_retries=retries,
                backoff_factor=0.5, raise_on_status=False, timeout=self.timeout, **kwargs,
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - MLflow wraps the requests error in an MlflowException
            cause = exc if isinstance(exc, requests.RequestException) else (exc.__cause__ or exc.__context__)
            where = f"{method} {path or endpoint!r} on the tracking server {self!r}"
            if isinstance(cause, requests.exceptions.Timeout):
                raise TimeoutError(f"{where}: no answer within {self.timeout} s") from exc
            if isinstance(cause, (requests.exceptions.ConnectionError, requests.exceptions.RetryError)):
                raise ConnectionError(f"{where}: cannot reach it ({type(cause).__name__})") from exc
            raise
        status = response.status_code
        if status < 400:
            return response
        text = response.text[:300]
        response.close()
        if status == 404:
            raise FileNotFoundError(path or f"{endpoint}: {text}")
        shown = path or endpoint
        if status in (401, 403):
            raise PermissionError(f"{method} {shown!r}: HTTP {status} from the tracking server: {text}")
        error = ConnectionError if status in TRANSIENT_STATUS else OSError
        raise error(f"{method} {shown!r} on the tracking server failed: HTTP {status} {text}")

    @classmethod
    def _strip_protocol(cls, path):
        path = str(path)
        for prefix in ("mlflow-artifacts://", "mlflow-artifacts:"):
            path = path.removeprefix(prefix)
        return "/" + path.strip("/")

    def _listing(self, path: str) -> list[dict]:
        files = self._request("GET", params={"path": path.strip("/")}, retries=self.retries).json().get("files", [])
        entries = []
        for item in files:
            name = posixpath.join(path, item["path"])
            is_dir = item.get("is_dir", False)
            size = None if is_dir else int(item.get("file_size") or 0)
            entries.append({"name": name, "size": size, "type": "directory" if is_dir else "file"})
        return entries

    def ls(self, path, detail=True, **kwargs):
        """Children of a directory (a file lists as itself, as fsspec expects)."""
        path = self._strip_protocol(path)
        entries = self._listing(path)
        if not entries:
            info = self.info(path)  # a file, an empty directory or nothing at all
            if info["type"] == "file":
                entries = [info]
        return entries if detail else [entry["name"] for entry in entries]

    def info(self, path, **kwargs):
        """The listing entry of ``path`` in its parent directory."""
        path = self._strip_protocol(path)
        if path == "/":
            return {"name": "/", "size": None, "type": "directory"}
        for entry in self._listing(posixpath.dirname(path)):
            if entry["name"] == path:
                return entry
        raise FileNotFoundError(path)

    def _get(self, path: str):
        """The streamed ``GET`` of a file; a missing one is ``FileNotFoundError`` (the server
        answers it with HTTP 500), a directory ``IsADirectoryError``."""
        try:
            return self._request("GET", path, stream=True)
        except ConnectionError:
            if self.info(path)["type"] != "file":  # FileNotFoundError when it is not there
                raise IsADirectoryError(path) from None
            raise

    def get_file(self, rpath, lpath, callback=None, outfile=None, **kwargs):
        """Download one file, streamed to ``lpath`` in 1 MiB chunks, or by ranges of a presigned
        URL when MLflow's client would (:func:`.tracking_server_multipart.download_wanted`)."""
        from . import tracking_server_multipart as multipart

        rpath = self._strip_protocol(rpath)
        if outfile is None and multipart.download_wanted(self):
            if multipart.download(self, rpath, lpath, self.parts_in_flight):
                return
        with self._get(rpath) as response:
            if callback is not None and response.headers.get("Content-Length"):
                callback.set_size(int(response.headers["Content-Length"]))
            with open(lpath, "wb") if outfile is None else _borrowed(outfile) as target:
                for chunk in response.iter_content(CHUNK):
                    target.write(chunk)
                    if callback is not None:
                        callback.relative_update(len(chunk))

    #: the transfer core hands this filesystem whole lists (``put``/``get``), as it does async ones
    transfers_in_batches = True

    def put(self, lpath, rpath, recursive=False, callback=None, maxdepth=None, batch_size=None, **kwargs):
        """Upload files: lists of paths go as batches of small files where the server offers
        them (:mod:`.tracking_server_batches`), the rest ``batch_size`` files in flight."""
        if not isinstance(lpath, list):
            return super().put(lpath, rpath, recursive=recursive, maxdepth=maxdepth, **kwargs)
        from . import tracking_server_batches as batches

        pairs = [(local, self._strip_protocol(remote)) for local, remote in zip(lpath, rpath)]
        small, big = batches.split_uploads(pairs) if len(pairs) > 1 and batches.offered(self) else ([], pairs)
        batches.in_flight(lambda pair: self.put_file(*pair), big, batch_size or FILES_IN_FLIGHT)
        batches.upload(self, small)

    def get(self, rpath, lpath, recursive=False, callback=None, maxdepth=None, batch_size=None, **kwargs):
        """Download files: lists of paths as batches of small files where the server offers
        them, the rest ``batch_size`` files in flight."""
        if not isinstance(rpath, list):
            return super().get(rpath, lpath, recursive=recursive, maxdepth=maxdepth, **kwargs)
        from . import tracking_server_batches as batches

        pairs = [(self._strip_protocol(remote), local) for remote, local in zip(rpath, lpath)]
        small, big = batches.split_downloads(self, pairs) if len(pairs) > 1 and batches.offered(self) else ([], pairs)
        batches.in_flight(lambda pair: self.get_file(*pair), big, batch_size or FILES_IN_FLIGHT)
        batches.download(self, small)

    def put_file(self, lpath, rpath, callback=None, **kwargs):
        """Upload a local file: one ``PUT`` streamed from disk, or, when MLflow's client would
        (:func:`.tracking_server_multipart.wanted`), a multipart upload through the server."""
        from . import tracking_server_multipart as multipart

        rpath = self._strip_protocol(rpath)
        with open(lpath, "rb") as body:
            size = _size(body)
            if callback is not None:
                callback.set_size(size)
            if not (multipart.wanted(self, size) and multipart.upload(self, lpath, rpath, size, self.parts_in_flight)):
                headers = {"Content-Type": mimetypes.guess_type(rpath)[0] or "application/octet-stream"}
                self._request("PUT", rpath, data=body, extra_headers=headers).close()
            if callback is not None:
                callback.relative_update(size)

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None, **kwargs):
        path = self._strip_protocol(path)
        if "r" in mode:
            spool = tempfile.SpooledTemporaryFile(SPOOL_MEMORY)  # the API has no ranged reads
            with self._get(path) as response:
                shutil.copyfileobj(response.raw, spool, CHUNK)
            spool.seek(0)
            return spool
        return _UploadOnClose(self, path)

    def cat_file(self, path, start=None, end=None, **kwargs):
        """The file's bytes (sliced locally: the API has no ranged reads)."""
        with self._get(self._strip_protocol(path)) as response:
            return response.content[start:end]

    def pipe_file(self, path, value, **kwargs):
        """Upload ``value`` as the file ``path``."""
        self._request("PUT", self._strip_protocol(path), data=value).close()

    def rm_file(self, path):
        """Delete one file."""
        self._request("DELETE", self._strip_protocol(path), retries=self.retries).close()

    def rm(self, path, recursive=False, maxdepth=None):
        """Delete files or trees (the server deletes recursively)."""
        for item in [path] if isinstance(path, str) else path:
            self.rm_file(item)

    def mkdir(self, path, create_parents=True, **kwargs):
        """Directories exist implicitly (object-store semantics)."""

    def makedirs(self, path, exist_ok=False):
        """Directories exist implicitly (object-store semantics)."""


def _size(body) -> int:
    return os.fstat(body.fileno()).st_size


class _borrowed:
    """A caller's open file as a context manager that leaves it open."""

    def __init__(self, file):
        self.file = file

    def __enter__(self):
        return self.file

    def __exit__(self, *exc):
        return False


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
            # a sized body (bytes, or the rolled-over file): never chunked, which the server reads as empty
            body = self._file if self._rolled else self.read()
            self._fs._request("PUT", self._path, data=body).close()
        super().close()
