"""``mlflow server --app-name artifact-fs``: MLflow's own tracking server plus the batch endpoints.

The app is MLflow's (the FastAPI app under uvicorn, the Flask app under gunicorn or
waitress, and on MLflow 2.x), with every route, middleware and security check it has,
and three routes more for clients that send many small files
(:mod:`.backends.tracking_server_batches`, :mod:`.server_batches`):

* ``GET  /api/2.0/artifact-fs/batches``           ``{"version": 1, ...}``: the endpoints are here
* ``POST /api/2.0/artifact-fs/batches/upload``    a tar of files, logged under ``?path=<dir>``
* ``POST /api/2.0/artifact-fs/batches/download``  ``{"path", "files"}`` answered as a tar

They serve the ``--artifacts-destination`` repository like MLflow's ``/mlflow-artifacts``
routes do (and only with ``--serve-artifacts``, workspace-scoped the same way). MLflow runs
one ``mlflow.app`` at a time, so this one does not combine with ``--app-name basic-auth``.
"""

import hashlib
import os
import tempfile
from typing import Any

from . import server_batches
from .backends.tracking_server_batches import (
    BATCH_BYTES,
    BATCH_FILES,
    BATCHES_ENDPOINT,
    BODY_MD5_HEADER,
    CHUNK,
    CORRUPTED,
    SMALL_FILE,
)

PREFIX = f"/api/2.0{BATCHES_ENDPOINT}"
INFO = {"version": 1, "max_files": BATCH_FILES, "max_bytes": BATCH_BYTES, "max_file_bytes": SMALL_FILE}


class _Answer(Exception):
    """An HTTP error answer: ``status`` and a message for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _repository_and_directory(path: str | None) -> tuple[Any, str]:
    """The server's ``--artifacts-destination`` repository and ``path`` as a clean,
    workspace-scoped directory in it; an :class:`_Answer` when artifacts are not served."""
    from mlflow.server import handlers

    if os.environ.get("_MLFLOW_SERVER_SERVE_ARTIFACTS", "false") != "true":
        raise _Answer(503, "Artifact serving is disabled: run `mlflow server` with `--serve-artifacts`.")
    directory = server_batches.safe_name(path, "directory") if (path or "").strip("/") else ""
    scoped = getattr(handlers, "_get_workspace_scoped_repo_path_if_enabled", None)
    if scoped is not None:
        directory = scoped(directory or None) or ""
    return handlers._get_artifact_repo_mlflow_artifacts(), directory


def _status(exc: BaseException) -> tuple[int, str]:
    """The HTTP status and message for an error raised while serving a batch."""
    if isinstance(exc, _Answer):
        return exc.status, str(exc)
    if isinstance(exc, server_batches.BatchRefused):
        return 400, str(exc)
    code = getattr(exc, "error_code", "")
    if code == "RESOURCE_DOES_NOT_EXIST" or isinstance(exc, FileNotFoundError):
        return 404, str(exc)
    if code == "INVALID_PARAMETER_VALUE":
        return 400, str(exc)
    return 500, f"{type(exc).__name__}: {exc}"


def upload(body, path: str | None) -> dict:
    """Serve an upload batch read from the file ``body`` (its MD5 checked already): the
    manifest of what was received."""
    repository, directory = _repository_and_directory(path)
    return {"files": server_batches.receive(body, directory, repository)}


def _error_body(exc: BaseException) -> tuple[dict, int]:
    status, message = _status(exc)
    code = CORRUPTED if isinstance(exc, server_batches.BodyCorrupted) else "BATCH_FAILED"
    return {"error_code": code, "message": message}, status


def download(request: dict) -> tuple[Any, int]:
    """Serve a download batch: ``(tar spool, size)``."""
    if not isinstance(request, dict) or not isinstance(request.get("files"), list):
        raise server_batches.BatchRefused('a download batch is {"path": <dir>, "files": [<name>, ...]}')
    repository, directory = _repository_and_directory(request.get("path"))
    return server_batches.send(directory, [str(name) for name in request["files"]], repository)


def _chunks(spool):
    try:
        while chunk := spool.read(CHUNK):
            yield chunk
    finally:
        spool.close()


def create_app():
    """MLflow's tracking server app with the batch routes added (the ``mlflow.app`` entry
    point ``artifact-fs``): FastAPI under uvicorn (MLflow 3's default), else Flask."""
    if os.environ.get("_MLFLOW_SGI_NAME", "uvicorn") == "uvicorn":
        try:
            from mlflow.server.fastapi_app import app as fastapi_app
        except ImportError:  # MLflow 2.x serves Flask only
            pass
        else:
            return _with_fastapi_routes(fastapi_app)
    from mlflow.server import app as flask_app

    return _with_flask_routes(flask_app)


def _with_fastapi_routes(app):

    from fastapi import APIRouter, Request
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.concurrency import run_in_threadpool

    router = APIRouter()

    def error(exc: BaseException) -> JSONResponse:
        body, status = _error_body(exc)
        return JSONResponse(body, status_code=status)

    @router.get(PREFIX)
    async def batch_info():
        return INFO

    @router.post(f"{PREFIX}/upload")
    async def batch_upload(request: Request, path: str = ""):
        with tempfile.SpooledTemporaryFile(server_batches.SPOOL_MEMORY) as body:
            received, digest = 0, hashlib.md5(usedforsecurity=False)
            async for chunk in request.stream():
                received += len(chunk)
                if received > server_batches.MAX_BODY:
                    return error(server_batches.BatchRefused(f"a batch is at most {server_batches.MAX_BODY} bytes"))
                digest.update(chunk)
                body.write(chunk)
            body.seek(0)
            try:
                server_batches.check_body(digest.hexdigest(), request.headers.get(BODY_MD5_HEADER))
                return JSONResponse(await run_in_threadpool(upload, body, path))
            except Exception as exc:  # noqa: BLE001 - every error is an answer (_status)
                return error(exc)

    @router.post(f"{PREFIX}/download")
    async def batch_download(request: Request):
        try:
            spool, size = await run_in_threadpool(download, await request.json())
        except Exception as exc:  # noqa: BLE001 - every error is an answer (_status)
            return error(exc)
        headers = {"Content-Length": str(size), BODY_MD5_HEADER: spool.md5.hexdigest()}
        return StreamingResponse(_chunks(spool), media_type="application/x-tar", headers=headers)

    # before MLflow's catch-all mount of its Flask app, which would answer these paths first
    for route in reversed(router.routes):
        app.router.routes.insert(0, route)
    return app


def _with_flask_routes(app):
    from flask import Response, jsonify, request

    def error(exc: BaseException):
        body, status = _error_body(exc)
        return jsonify(body), status

    def batch_info():
        return jsonify(INFO)

    def batch_upload():
        if (request.content_length or 0) > server_batches.MAX_BODY:
            return error(server_batches.BatchRefused(f"a batch is at most {server_batches.MAX_BODY} bytes"))
        try:
            with tempfile.SpooledTemporaryFile(server_batches.SPOOL_MEMORY) as body:
                digest = hashlib.md5(usedforsecurity=False)
                while chunk := request.stream.read(CHUNK):
                    digest.update(chunk)
                    body.write(chunk)
                body.seek(0)
                server_batches.check_body(digest.hexdigest(), request.headers.get(BODY_MD5_HEADER))
                return jsonify(upload(body, request.args.get("path", "")))
        except Exception as exc:  # noqa: BLE001 - every error is an answer (_status)
            return error(exc)

    def batch_download():
        try:
            spool, size = download(request.get_json(force=True, silent=True))
        except Exception as exc:  # noqa: BLE001 - every error is an answer (_status)
            return error(exc)
        headers = {"Content-Length": str(size), BODY_MD5_HEADER: spool.md5.hexdigest()}
        return Response(_chunks(spool), mimetype="application/x-tar", headers=headers)

    app.add_url_rule(PREFIX, "artifact_fs_batch_info", batch_info, methods=["GET"])
    app.add_url_rule(f"{PREFIX}/upload", "artifact_fs_batch_upload", batch_upload, methods=["POST"])
    app.add_url_rule(f"{PREFIX}/download", "artifact_fs_batch_download", batch_download, methods=["POST"])
    return app
