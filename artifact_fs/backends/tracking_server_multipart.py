"""Multipart transfers through the tracking server, as MLflow's client makes them, with parts
in flight: uploads through ``/mlflow-artifacts/mpu/...``, downloads from presigned URLs.

MLflow's client sends a file as parts when it is at least
``MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE`` and multipart uploads are on
(``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD``, else what the server's ``server-info`` says):
``create`` returns one signed URL per part (straight to the store), each part is ``PUT``
there, then ``complete``; ``abort`` when a part fails. A server whose store cannot do it
answers ``create`` with ``NOT_IMPLEMENTED`` and the file goes as one ``PUT``.

Downloads: when ``MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD`` is on (else the server's
``/server-info``), the server signs a URL for the file (``/mlflow-artifacts/presigned/...``)
and its ranges of ``MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE`` are fetched straight from the
store, written in place into the transfer core's staged file; a server that cannot sign
(``NOT_IMPLEMENTED``/404) proxies the file instead.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

_UNSUPPORTED = "Multipart upload is not supported"
#: bytes read from a signed URL's answer per write (a 100 MiB range read whole took 3x longer)
_PIECE = 2**20


def download_wanted(fs) -> bool:
    """Whether MLflow's client would fetch files from this server through presigned URLs."""
    from mlflow.environment_variables import MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD

    if MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD.is_set():
        return bool(MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD.get())
    return bool(_capabilities(fs).get("multipart_downloads_enabled"))


def download(fs, rpath: str, lpath: str, parts_in_flight: int) -> bool:
    """Fetch ``rpath`` into ``lpath`` by ranges of a presigned URL; False (nothing written)
    when the server signs no URL for it."""
    import requests
    from mlflow.environment_variables import MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE

    endpoint = f"/mlflow-artifacts/presigned/{quote(rpath.strip('/'), safe='/')}"
    try:
        with fs._request("GET", endpoint=endpoint, retries=fs.retries) as answer:
            signed = answer.json()
    except FileNotFoundError:
        raise
    except OSError as exc:
        if "HTTP 501" in str(exc) or "not supported" in str(exc).lower():
            return False
        raise
    size = signed.get("file_size")
    if size is None:
        return False
    chunk = MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE.get()
    headers = signed.get("headers") or {}

    def fetch(start: int) -> None:
        end = min(start + chunk, size) - 1
        ranged = {**headers, "Range": f"bytes={start}-{end}"}
        with requests.get(signed["url"], headers=ranged, timeout=fs.timeout, stream=True) as answer:
            if answer.status_code >= 400:
                error = ConnectionError if answer.status_code >= 500 or answer.status_code == 429 else OSError
                raise error(f"range {start}-{end} of {rpath!r} from its signed URL: HTTP {answer.status_code}")
            arrived = 0
            with open(lpath, "r+b") as target:  # streamed in place: a range is never held in memory
                target.seek(start)
                for piece in answer.iter_content(_PIECE):
                    target.write(piece[: end + 1 - start - arrived])
                    arrived += len(piece)
        if arrived != end - start + 1:
            raise ConnectionError(f"range {start}-{end} of {rpath!r}: {arrived} bytes arrived")

    with open(lpath, "wb") as target:
        target.truncate(size)
    starts = range(0, size, chunk)
    with ThreadPoolExecutor(max(1, min(parts_in_flight, len(starts)))) as pool:
        list(pool.map(fetch, starts))
    return True


def wanted(fs, size: int) -> bool:
    """Whether MLflow's client would send a file of ``size`` bytes to this server in parts."""
    from mlflow.environment_variables import MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE

    if size < MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE.get():
        return False
    from mlflow.environment_variables import MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD

    if MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD.is_set():
        return bool(MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD.get())
    return bool(_capabilities(fs).get("multipart_uploads_enabled"))


def _capabilities(fs) -> dict:
    """The server's ``server-info`` answer, asked once per filesystem through MLflow's own
    ``fetch_server_info`` (its endpoint and cache); ``{}`` where MLflow has none (2.x) or the
    server does not answer, which MLflow's client also reads as "off"."""
    if fs.capabilities is None:
        try:
            from mlflow.utils.credentials import get_default_host_creds
            from mlflow.utils.server_info import fetch_server_info

            answer = fetch_server_info(get_default_host_creds(fs.api_base_url.removesuffix("/api/2.0")))
            fs.capabilities = dict(answer.data or {}) if answer.status_code == 200 else {}
        except Exception:  # noqa: BLE001 - an older MLflow or server, or none: off, as for MLflow's client
            fs.capabilities = {}
    return fs.capabilities


def upload(fs, lpath: str, rpath: str, size: int, parts_in_flight: int) -> bool:
    """Send ``lpath`` to ``rpath`` in parts; False (nothing sent) when the server cannot."""
    import requests
    from mlflow.environment_variables import MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE, MLFLOW_S3_IGNORE_TLS

    chunk = MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE.get()
    directory, _, name = rpath.strip("/").rpartition("/")
    try:
        created = _post(fs, "create", directory, {"path": name, "num_parts": max(1, math.ceil(size / chunk))})
    except NotImplementedError:
        return False
    verify = not MLFLOW_S3_IGNORE_TLS.get()

    def send(index: int, credential: dict) -> dict:
        with open(lpath, "rb") as source:
            source.seek(index * chunk)
            data = source.read(chunk)
        answer = requests.put(credential["url"], data=data, headers=credential.get("headers") or {}, verify=verify)
        if answer.status_code >= 400:
            error = ConnectionError if answer.status_code >= 500 or answer.status_code == 429 else OSError
            raise error(f"part {credential['part_number']} of {rpath!r}: HTTP {answer.status_code} {answer.text[:200]}")
        return {"part_number": credential["part_number"], "etag": answer.headers.get("ETag", "")}

    upload_id = created["upload_id"]
    try:
        with ThreadPoolExecutor(max(1, min(parts_in_flight, len(created["credentials"])))) as pool:
            parts = list(pool.map(send, *zip(*enumerate(created["credentials"]))))
        _post(fs, "complete", directory, {"path": name, "upload_id": upload_id, "parts": parts})
    except BaseException:
        try:
            _post(fs, "abort", directory, {"path": name, "upload_id": upload_id})
        except Exception:  # noqa: BLE001 - the part's error is the one to report
            pass
        raise
    return True


def _post(fs, action: str, directory: str, body: dict) -> dict:
    """POST ``/mlflow-artifacts/mpu/<action>/<directory>``; NotImplementedError when the store cannot."""
    endpoint = f"/mlflow-artifacts/mpu/{action}/{quote(directory, safe='/')}".rstrip("/")
    try:
        answer = fs._request("POST", json=body, endpoint=endpoint)
    except OSError as exc:
        if _UNSUPPORTED in str(exc) or "HTTP 501" in str(exc):
            raise NotImplementedError(str(exc)) from None
        raise
    with answer:
        return answer.json() if answer.content else {}
