"""Google Cloud Storage (``gs://``) on gcsfs: what happens for GCS.

* **URI.** ``gs://<bucket>[/<path>]``.
* **Settings** (:data:`GCS_SETTINGS`): a service-account key file, the project, an emulator
  (``STORAGE_EMULATOR_HOST``, which implies anonymous requests as google-cloud-storage
  does), MLflow's timeout (each HTTP request as a whole) and chunk sizes.
* **Client**: gcsfs's JSON-API class (``gcsfs.core.GCSFileSystem``), not the package
  default: with ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT`` unset that is the experimental
  ``ExtendedGcsFileSystem``, which asks the Storage Control gRPC API for every bucket's
  layout (a 60 s stall per call on an emulator). gcsfs retries each request itself (6 times,
  fixed at import), so artifact_fs's budget adds no attempts on top.
* **Transfers**: one streamed GET per file (gcsfs's concurrent ranged reads join every range
  in memory); Content-Type only (with Content-Encoding gzip, GCS and aiohttp would hand a
  ``.tar.gz`` back decompressed); the listed ``md5Hash`` checked.
* **Server**: :class:`GCSPresigner` signs GETs and PUTs when the credentials are a
  service-account key; anonymous access and user or metadata-server credentials hold no
  private key, so clients then go through the server's streamed uploads and proxied
  downloads. No multipart uploads (see :attr:`GCSPresigner.lacks`).
* **Engine**: ``ARTIFACT_FS_ENGINE=obstore`` (profile key ``engine``) picks the same row on
  obstore (:mod:`artifact_fs.backends.gcs_obstore`: its settings, refusals and checksum).
"""

from __future__ import annotations

import dataclasses
import json
import os
import posixpath

from ..converters import as_timeout, constant, multiple_of
from ..presign import Presigner, attachment_disposition, content_type, download_response, file_size
from ..rows import Client, PathTraits, Scheme, ServerCapabilities, Setting, StoreChecksum, TransferTuning, UriGrammar
from ..settings import ENGINE_VAR, NO_LISTINGS_CACHE, TIMEOUT, parts_in_flight
from . import gcs_obstore

GCS_CHUNK = multiple_of(256 * 1024)

GCS_SETTINGS = (
    Setting("GOOGLE_APPLICATION_CREDENTIALS", "token", doc="service-account JSON path"),
    Setting("GOOGLE_CLOUD_PROJECT", "project"),
    Setting("STORAGE_EMULATOR_HOST", "endpoint_url"),
    Setting(
        "STORAGE_EMULATOR_HOST",
        "token",
        constant("anon"),
        unless=("GOOGLE_APPLICATION_CREDENTIALS",),
        doc="an emulator means anonymous requests, as google-cloud-storage does",
    ),
    Setting("MLFLOW_GCS_DEFAULT_TIMEOUT", "requests_timeout", as_timeout, doc="deprecated; -1 = no timeout"),
    Setting(
        TIMEOUT,
        "requests_timeout",
        as_timeout,
        doc="-1 = no timeout; gcsfs applies it to each HTTP request as a whole, and does not retry one that timed out",
    ),
    Setting("MLFLOW_GCS_UPLOAD_CHUNK_SIZE", "upload:chunksize", GCS_CHUNK, doc="bytes, multiple of 256 KiB"),
    Setting(
        "MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE",
        "download:chunk_size",
        GCS_CHUNK,
        doc="bytes, multiple of 256 KiB; the size of each ranged read when more than one part is in flight",
    ),
    *parts_in_flight("download:concurrency"),  # gcsfs uploads one chunk at a time: no knob
)

#: Who is calling: a profile that gives any of these replaces all of the environment's.
CREDENTIAL_VARIABLES = frozenset({"GOOGLE_APPLICATION_CREDENTIALS"})

#: Profile keys → the variables they stand for.
PROFILE_KEYS = {
    "upload_chunk_size": "MLFLOW_GCS_UPLOAD_CHUNK_SIZE",
    "download_chunk_size": "MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE",
    "service_account_file": "GOOGLE_APPLICATION_CREDENTIALS",
    "project": "GOOGLE_CLOUD_PROJECT",
}

_NOT_KEY_FILES = {"anon", "google_default", "cache", "cloud", "browser"}


class GCSPresigner(Presigner):
    """V4 signed GET and PUT URLs for ``gs://`` artifacts (``GCSFileSystem.sign``), signed on
    this machine with a service-account private key."""

    mixins = ("MultipartDownloadMixin", "PresignedUploadMixin")
    lacks = {
        "MultipartUploadMixin": "part uploads need GCS's XML multipart API, which the emulators used "
        "for testing do not offer: big uploads stream through the server in gcsfs's resumable chunks",
    }

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


_ROW = Scheme(
    "gs",
    UriGrammar("bucket", form="`gs://<bucket>[/<path>]`"),
    Client(
        protocol="gcs",
        impl="gcsfs.core.GCSFileSystem",
        extra="gcs",
        settings=GCS_SETTINGS,
        defaults={**NO_LISTINGS_CACHE, "download:concurrency": 1},  # one streamed GET per file
        client_retries=True,
    ),
    PathTraits(),
    TransferTuning(content_headers=("content_type",), checksum=StoreChecksum("md5Hash", "md5", "base64")),
    ServerCapabilities(presigner=GCSPresigner()),
    mlflow_builtin="mlflow.store.artifact.gcs_artifact_repo:GCSArtifactRepository",
)

ROWS = (
    dataclasses.replace(
        _ROW, variant="fsspec", variant_var=ENGINE_VAR, alternatives={"obstore": gcs_obstore.on_obstore(_ROW)}
    ),
)
