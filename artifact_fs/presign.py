"""Signed URLs for direct client transfers: the :class:`Presigner` interface and its helpers.

``mlflow server`` lets clients move big files straight between their machine and the
store (multipart uploads with one signed URL per part, presigned GETs, presigned PUTs)
when its repository is an instance of MLflow's mixins. Each store signs differently, so
each backend module (:mod:`artifact_fs.backends`) holds a :class:`Presigner` subclass and
its row names an instance (``Scheme.server.presigner``). A presigner only signs and
starts/finishes uploads; the bytes travel between the client and the store, never
through the server. Presigners are the one place where SDK calls are allowed.

Every presigner works from the repository's own fsspec filesystem (its client carries
the endpoint, the credentials and the TLS settings — ``AWS_CA_BUNDLE``,
``MLFLOW_S3_IGNORE_TLS`` — the rest of artifact_fs uses), so a signed URL always names
the configured endpoint, ``https://`` included, and the calls the server makes to start
and finish an upload verify the store's certificate exactly as its other calls do.
"""

from __future__ import annotations

import mimetypes
import urllib.parse
from collections.abc import Iterable
from typing import Any

#: lifetime of the part URLs of a multipart upload (MLflow's S3 and GCS use one hour)
PART_URL_SECONDS = 3600


class CannotSign(Exception):
    """Signing is impossible for this call (no credentials or key that can sign): MLflow's
    clients are told multipart upload is not supported and fall back to the proxied path."""


def attachment_disposition(filename: str) -> str:
    """An RFC 6266 ``attachment`` Content-Disposition for ``filename`` (as MLflow's S3 repository)."""
    if not filename.isascii() or not filename.isprintable():
        return f"attachment; filename*=UTF-8''{urllib.parse.quote(filename)}"
    escaped = filename.replace("\\", "\\\\").replace('"', '\\"')
    return f'attachment; filename="{escaped}"'


def content_type(path: str) -> str:
    """The Content-Type a presigned PUT declares: guessed from the name, else octet-stream."""
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


def download_response(url: str, size: int | None, headers: dict[str, str] | None = None):
    """MLflow's presigned-download answer (``file_size`` lets clients fetch in parallel ranges)."""
    from mlflow.entities.presigned_download import PresignedDownloadUrlResponse

    return PresignedDownloadUrlResponse(url=url, headers=headers or {}, file_size=size)


def file_size(fs, path: str) -> int:
    """Size of the file at ``path``; FileNotFoundError (RESOURCE_DOES_NOT_EXIST) for a missing one or a directory,
    saying so (the stores' own errors hold only the path). Every presigner signs downloads after this."""
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"No such artifact: {path!r} does not exist, so no download URL was signed") from None
    if info.get("type") == "directory":
        raise FileNotFoundError(f"{path!r} is a directory, not a file: only files can be downloaded")
    return int(info.get("size") or 0)


class Presigner:
    """What a backend offers ``mlflow server`` for direct client transfers.

    A subclass implements :meth:`can_presign`, and the methods of every MLflow mixin it
    lists in :attr:`mixins`: ``MultipartDownloadMixin`` → :meth:`download_url`,
    ``PresignedUploadMixin`` → :meth:`upload_url`, ``MultipartUploadMixin`` →
    :meth:`create_multipart`, :meth:`complete_multipart` and :meth:`abort_multipart`. What it
    does not list it lacks, and says why in :attr:`lacks` (the base methods raise
    ``NotImplementedError``). A test checks each presigner implements what it claims.
    """

    #: the MLflow mixins this presigner implements in full
    mixins: tuple[str, ...] = ()
    #: mixin name → why this store cannot offer it
    lacks: dict[str, str] = {}

    def can_presign(self, resolved) -> bool:
        """True when the resolved credentials can sign (pure: no network I/O)."""
        raise NotImplementedError

    def download_url(self, repo, path: str, expiration: int):
        """A signed GET for ``path`` and its size (MLflow's ``PresignedDownloadUrlResponse``)."""
        raise NotImplementedError(self.lacks.get("MultipartDownloadMixin", "no presigned downloads"))

    def upload_url(self, repo, path: str, expiration: int) -> tuple[str, dict[str, str]]:
        """A signed PUT for ``path`` and the headers the client must send with it."""
        raise NotImplementedError(self.lacks.get("PresignedUploadMixin", "no presigned uploads"))

    def create_multipart(self, repo, path: str, num_parts: int):
        """Start a multipart upload of ``path``: its id and one signed URL per part."""
        raise NotImplementedError(self.lacks.get("MultipartUploadMixin", "no multipart uploads"))

    def complete_multipart(self, repo, path: str, upload_id, parts: Iterable[Any]) -> None:
        """Assemble the uploaded parts into the artifact (it appears only now)."""
        raise NotImplementedError(self.lacks.get("MultipartUploadMixin", "no multipart uploads"))

    def abort_multipart(self, repo, path: str, upload_id) -> None:
        """Abandon the upload; nothing appears under the artifact's name."""
        raise NotImplementedError(self.lacks.get("MultipartUploadMixin", "no multipart uploads"))

    #: each mixin → the methods it needs
    METHODS = {
        "MultipartUploadMixin": ("create_multipart", "complete_multipart", "abort_multipart"),
        "MultipartDownloadMixin": ("download_url",),
        "PresignedUploadMixin": ("upload_url",),
    }
