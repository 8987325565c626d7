"""Multipart uploads through the tracking server (``/mlflow-artifacts/mpu/...``), as MLflow's
client makes them, with parts in flight.

MLflow's client sends a file as parts when it is at least
``MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE`` and multipart uploads are on
(``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD``, else what the server's ``/server-info`` says):
``create`` returns one signed URL per part (straight to the store), each part is ``PUT``
there, then ``complete``; ``abort`` when a part fails. A server whose store cannot do it
answers ``create`` with ``NOT_IMPLEMENTED`` and the file goes as one ``PUT``.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

_UNSUPPORTED = "Multipart upload is not supported"


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
    """The server's ``/server-info`` answer (MLflow 3.x servers), asked once per filesystem; ``{}`` if none."""
    if fs.capabilities is None:
        try:
            from mlflow.utils.credentials import get_default_host_creds
            from mlflow.utils.rest_utils import http_request

            base = fs.api_base_url.removesuffix("/api/2.0")
            answer = http_request(get_default_host_creds(base), "/server-info", "GET", max_retries=0, timeout=30)
            fs.capabilities = answer.json() if answer.status_code == 200 else {}
        except Exception:  # noqa: BLE001 - an older server, or none: MLflow's client then assumes off too
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
    from urllib.parse import quote

    endpoint = f"/mlflow-artifacts/mpu/{action}/{quote(directory, safe='/')}".rstrip("/")
    try:
        answer = fs._request("POST", json=body, endpoint=endpoint)
    except OSError as exc:
        if _UNSUPPORTED in str(exc) or "HTTP 501" in str(exc):
            raise NotImplementedError(str(exc)) from None
        raise
    with answer:
        return answer.json() if answer.content else {}
