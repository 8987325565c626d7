"""GCS (``gs://``) presigning: V4 signed URLs through gcsfs (``GCSFileSystem.sign``).

Signing happens on this machine with a service-account private key, so the repository
claims the presigning mixins only when its ``token`` is a service-account key (the JSON
file ``GOOGLE_APPLICATION_CREDENTIALS`` names, or the same as a dict). Anonymous access
(an emulator) and user or metadata-server credentials, which hold no private key, get
none: clients then go through the server's streamed uploads and proxied downloads.

GCS honours ``MultipartDownloadMixin`` (a signed GET and the object's size: clients fetch
ranges in parallel) and ``PresignedUploadMixin`` (a signed PUT with its Content-Type).
``MultipartUploadMixin`` is not claimed: part uploads need GCS's XML multipart API,
which the emulators used for testing do not offer, so big uploads stream through the
server (``StreamUploadMixin``) in gcsfs's resumable chunks.
"""

from __future__ import annotations

import json
import os
import posixpath

from .presign import attachment_disposition, content_type, download_response, file_size

_NOT_KEY_FILES = {"anon", "google_default", "cache", "cloud", "browser"}


class GCSPresigner:
    """V4 signed GET and PUT URLs for ``gs://`` artifacts."""

    def can_presign(self, resolved) -> bool:
        """True when the credentials are a service-account key (reads that small JSON file, no network)."""
        token = resolved.storage_options.get("token")
        if isinstance(token, dict):
            return bool(token.get("private_key"))
        if not isinstance(token, str) or token in _NOT_KEY_FILES or not os.path.isfile(token):
            return False
        try:
            with open(token, encoding="utf-8") as handle:
                return bool(json.load(handle).get("private_key"))
        except (OSError, ValueError):
            return False

    def download_url(self, repo, path: str, expiration: int):
        """A signed GET (served as an attachment) and the object's size."""
        size = file_size(repo.fs, path)
        disposition = attachment_disposition(posixpath.basename(path))
        url = repo.fs.sign(path, expiration=expiration, version="v4", method="GET", response_disposition=disposition)
        return download_response(url, size)

    def upload_url(self, repo, path: str, expiration: int) -> tuple[str, dict[str, str]]:
        """A signed PUT; the client must send the Content-Type it was signed with."""
        kind = content_type(path)
        url = repo.fs.sign(path, expiration=expiration, version="v4", method="PUT", content_type=kind)
        return url, {"Content-Type": kind}
