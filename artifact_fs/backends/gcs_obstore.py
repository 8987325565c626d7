"""``gs://`` on the obstore engine (``ARTIFACT_FS_ENGINE=obstore``).

The same settings as the gcsfs row (:mod:`artifact_fs.backends.gcs`), mapped onto obstore's
``GCSConfig``/``ClientConfig``; what obstore cannot honour is refused with an error naming
the setting and the engine, never dropped:

* ``GOOGLE_APPLICATION_CREDENTIALS`` is ``config.application_credentials`` (a service-account
  or authorized-user JSON file, as gcsfs's ``token``); none: obstore's own chain (the
  gcloud application-default file, then the metadata server);
* ``STORAGE_EMULATOR_HOST`` is ``config.base_url`` (``http://`` allowed) and, without a key
  file, anonymous requests, as google-cloud-storage does (a static empty bearer token:
  obstore's ``skip_signature`` still asks the metadata server for a token on uploads);
* ``GOOGLE_CLOUD_PROJECT`` sets nothing: obstore names no project, and gcsfs needs one only
  to list or create buckets, which artifact_fs never does;
* the transfer timeout (``MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT``, the deprecated
  ``MLFLOW_GCS_DEFAULT_TIMEOUT``) is obstore's per-request and connect timeout, each HTTP
  request as a whole as with gcsfs; unset or ``-1``, no overall limit (obstore's own default
  would fail any request that takes over 30 s, a big download among them); obstore's
  retries are off (the retry budget is artifact_fs's);
* ``MLFLOW_GCS_UPLOAD_CHUNK_SIZE`` is the part size of uploads (one PUT up to it, else an XML
  multipart upload of such parts): at least 5 MiB, GCS's smallest part;
  ``MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE`` is refused: downloads are one streamed GET here.

Integrity: obstore lists the XML API's ``ETag``. For an object stored in one piece real GCS
gives the hex MD5 of its bytes there, fake-gcs-server the base64 MD5 (its ``md5Hash``); each
entry's ``md5`` is that digest when the ETag is one of the two, and None otherwise, when only
the size is checked: GCS gives an object made by an XML multipart upload (this engine's uploads
above the part size) or by composition no MD5, and an ETag "not based on an MD5 hash" (its
documentation), which is not 32 hex digits nor the base64 of 16 bytes. (Checked on
fake-gcs-server; real GCS's ETags as its documentation describes them.)
"""

from __future__ import annotations

import base64
import binascii
import re

from ..converters import SKIP, as_timeout, constant, multiple_of
from ..obstore_config import ONE_ATTEMPT, refused_on_obstore
from ..rows import Client, Scheme, ServerCapabilities, Setting, StoreChecksum, TransferTuning, as_variant
from ..settings import ENGINE_VAR, NO_LISTINGS_CACHE, TIMEOUT, parts_in_flight

MiB = 2**20
#: GCS's smallest part of an XML multipart upload (all but the last)
SMALLEST_PART = 5 * MiB
#: 8 MiB parts, 4 in flight (the S3 rows' obstore defaults)
PARTS = {"upload:chunksize": 8 * MiB, "upload:max_concurrency": 4}

_HEX_MD5 = re.compile(r"[0-9a-fA-F]{32}")


def upload_part_size(value: str) -> int:
    """MLFLOW_GCS_UPLOAD_CHUNK_SIZE as the part size: a multiple of 256 KiB, and at least 5 MiB."""
    size = multiple_of(256 * 1024)(value)
    if size < SMALLEST_PART:
        refused_on_obstore(
            "MLFLOW_GCS_UPLOAD_CHUNK_SIZE",
            f"it is the part size of GCS's XML multipart uploads, whose parts are at least {SMALLEST_PART} bytes "
            f"(got {size})",
        )(value)
    return size


def not_needed(value: str) -> object:
    """Sets nothing: the engine has no use for the value (GOOGLE_CLOUD_PROJECT)."""
    return SKIP


GCS_OBSTORE_SETTINGS = (
    Setting(
        "GOOGLE_APPLICATION_CREDENTIALS",
        "config.application_credentials",
        doc="service-account or authorized-user JSON path",
    ),
    Setting(
        "GOOGLE_CLOUD_PROJECT",
        "project",
        not_needed,
        doc="sets nothing: obstore names no project (gcsfs needs one only to list or create buckets)",
    ),
    Setting("STORAGE_EMULATOR_HOST", "emulator_host", doc="config.base_url; http:// allowed"),
    Setting(
        "STORAGE_EMULATOR_HOST",
        "anonymous",
        constant(True),
        unless=("GOOGLE_APPLICATION_CREDENTIALS",),
        doc="an emulator means anonymous requests, as google-cloud-storage does",
    ),
    Setting("MLFLOW_GCS_DEFAULT_TIMEOUT", "client_options.timeout", as_timeout, doc="deprecated; -1 = no timeout"),
    Setting("MLFLOW_GCS_DEFAULT_TIMEOUT", "client_options.connect_timeout", as_timeout),
    Setting(TIMEOUT, "client_options.timeout", as_timeout, doc="each HTTP request as a whole; -1 = no timeout"),
    Setting(TIMEOUT, "client_options.connect_timeout", as_timeout),
    Setting(
        "MLFLOW_GCS_UPLOAD_CHUNK_SIZE",
        "upload:chunksize",
        upload_part_size,
        doc="bytes: one PUT up to it, else parts of it; a multiple of 256 KiB, at least 5 MiB",
    ),
    Setting(
        "MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE",
        "download:chunk_size",
        refused_on_obstore("MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE", "downloads are one streamed GET on this engine"),
        doc="refused: downloads are one streamed GET",
    ),
    *parts_in_flight("upload:max_concurrency"),
)


def etag_md5(etag: str | None) -> str | None:
    """The hex MD5 an ETag is (hex, real GCS; base64, fake-gcs-server), or None (no MD5)."""
    text = (etag or "").strip().strip('"')
    if _HEX_MD5.fullmatch(text):
        return text.lower()
    if len(text) == 24 and text.endswith("=="):
        try:
            return base64.b64decode(text, validate=True).hex()
        except (binascii.Error, ValueError):
            return None
    return None


_CLIENT = Client(
    protocol="gs",
    impl="artifact_fs.backends.gcs_obstore_fs.ObstoreGCSFileSystem",
    extra="obstore",
    settings=GCS_OBSTORE_SETTINGS,
    defaults={**NO_LISTINGS_CACHE, **ONE_ATTEMPT, **PARTS},
)
#: Content-Type only, as with gcsfs; the entry's ``md5`` (:func:`etag_md5`) when the ETag is one
_TRANSFER = TransferTuning(content_headers=("ContentType",), checksum=StoreChecksum("md5", "md5", "hex"))


def on_obstore(row: Scheme) -> Scheme:
    """The gs row on the obstore engine: its URI grammar, this module's client, no presigner."""
    return as_variant(row, "obstore", ENGINE_VAR, client=_CLIENT, transfer=_TRANSFER, server=ServerCapabilities())


__all__ = ["GCS_OBSTORE_SETTINGS", "etag_md5", "on_obstore"]
