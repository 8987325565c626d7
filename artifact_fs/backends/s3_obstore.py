"""``s3://``, ``r2://`` and ``b2://`` on the obstore engine (``ARTIFACT_FS_ENGINE=obstore``).

The same MLflow and AWS settings as the s3fs rows (:mod:`artifact_fs.backends.s3`), mapped
onto obstore's ``S3Config``/``ClientConfig``; a setting obstore cannot honour is refused
with an error naming the setting and the engine, never dropped:

* credentials explicit (``config.access_key_id``...); ``AWS_PROFILE``, or no key at all,
  asks botocore's credential chain when botocore is installed (shared files, SSO, assumed
  roles, refreshed before they expire), else obstore's own chain (environment, web
  identity, container and instance metadata);
* ``AWS_CA_BUNDLE`` is read into ``root_certificate``; ``MLFLOW_S3_IGNORE_TLS`` is
  ``allow_invalid_certificates``; an ``http://`` endpoint is allowed;
* ``MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION``: ``unsigned`` skips signing, ``s3v4`` is
  obstore's only signature, any other is refused;
* ``MLFLOW_S3_UPLOAD_EXTRA_ARGS``: content headers, ``Metadata``, ``StorageClass`` and
  ``Tagging`` become attributes and tags; ``ServerSideEncryption``/``SSEKMSKeyId`` the
  store's SSE settings; ``ExpectedBucketOwner`` a header on every request; other keys are
  refused (:data:`OBSTORE_UPLOAD_ARGS`);
* the transfer timeout is obstore's request and connect timeout; obstore's own retries are
  off (the retry budget is artifact_fs's).
"""

from __future__ import annotations

from typing import Any

from ..converters import SKIP, as_bool, as_timeout, one_of
from ..obstore_config import HEADER_ATTRIBUTES, ONE_ATTEMPT, refused_on_obstore
from ..rows import Setting
from ..settings import TIMEOUT, parts_in_flight

ENGINE = "obstore"

#: MLFLOW_S3_UPLOAD_EXTRA_ARGS keys the obstore engine can honour (any other is refused)
OBSTORE_UPLOAD_ARGS = frozenset(
    {*HEADER_ATTRIBUTES, "Metadata", "Tagging", "ServerSideEncryption", "SSEKMSKeyId", "ExpectedBucketOwner"}
)


def signature_on_obstore(value: str) -> Any:
    """``unsigned`` → skip signing; ``s3v4`` is what obstore always does; others are refused."""
    word = value.strip().lower()
    if word == "unsigned":
        return True
    if word in ("s3v4", "v4"):
        return SKIP
    return refused_on_obstore("MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION", "obstore signs with SigV4 only")(value)


def upload_args_on_obstore(value: str) -> dict:
    """MLFLOW_S3_UPLOAD_EXTRA_ARGS, checked as MLflow checks it, then for what obstore can send."""
    from .s3 import as_upload_extra_args

    parsed = as_upload_extra_args(value)
    refused = sorted(set(parsed) - OBSTORE_UPLOAD_ARGS)
    if refused:
        refused_on_obstore(
            "MLFLOW_S3_UPLOAD_EXTRA_ARGS",
            f"{', '.join(refused)} cannot be sent by obstore (it can send {', '.join(sorted(OBSTORE_UPLOAD_ARGS))})",
        )(value)
    return parsed


def addressing_on_obstore(value: str) -> Any:
    """``virtual`` → virtual-hosted requests, ``path`` → path-style, ``auto`` → obstore's default."""
    word = one_of("auto", "virtual", "path")(value)
    return {"virtual": True, "path": False}.get(word, SKIP)


S3_OBSTORE_CREDENTIALS = (
    Setting("AWS_ACCESS_KEY_ID", "config.access_key_id", secret=True, doc="explicit: a changed key opens a new client"),
    Setting("AWS_SECRET_ACCESS_KEY", "config.secret_access_key", secret=True),
    Setting("AWS_SESSION_TOKEN", "config.session_token", secret=True),
    Setting("AWS_PROFILE", "credentials_profile", doc="botocore's credential chain for that profile"),
)
S3_OBSTORE_REGION = (Setting("AWS_DEFAULT_REGION", "config.region"),)
S3_OBSTORE_ENDPOINT = (Setting("MLFLOW_S3_ENDPOINT_URL", "endpoint_url", doc="http:// endpoints allowed"),)
S3_OBSTORE_TRANSPORT = (
    Setting("AWS_CA_BUNDLE", "ca_bundle", doc="read into obstore's root_certificate"),
    Setting(
        "MLFLOW_S3_IGNORE_TLS",
        "client_options.allow_invalid_certificates",
        lambda value: True if as_bool(value) else SKIP,
        doc="true → no TLS verification",
    ),
    Setting(
        "MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION",
        "config.skip_signature",
        signature_on_obstore,
        doc="unsigned → anonymous requests; SigV4 only",
    ),
)
S3_OBSTORE_ADDRESSING = (
    Setting("MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE", "config.virtual_hosted_style_request", addressing_on_obstore),
)
S3_OBSTORE_UPLOADS = (
    Setting(
        "MLFLOW_S3_UPLOAD_EXTRA_ARGS",
        "upload_args",
        upload_args_on_obstore,
        doc="headers, Metadata, Tagging, SSE; other keys refused",
    ),
    Setting("MLFLOW_S3_EXPECTED_BUCKET_OWNER", "upload_args.ExpectedBucketOwner", doc="a header on every request"),
    Setting(TIMEOUT, "client_options.timeout", as_timeout),
    Setting(TIMEOUT, "client_options.connect_timeout", as_timeout),
)
S3_OBSTORE_PARTS_IN_FLIGHT = parts_in_flight("upload:max_concurrency")

#: obstore makes one attempt per request: the retry budget is artifact_fs's (ARTIFACT_FS_RETRIES)
OBSTORE_ONE_ATTEMPT = ONE_ATTEMPT
OBSTORE_PARTS = {"upload:chunksize": 8 * 2**20, "upload:max_concurrency": 4}


def etag_is_md5(fs, _path: str) -> bool:
    """Single-part ETags are the MD5 of the body, except under SSE-KMS."""
    return bool(getattr(fs, "etag_is_md5", True))


OBSTORE_SETTINGS_BY_ROW = {
    "s3": S3_OBSTORE_CREDENTIALS
    + S3_OBSTORE_REGION
    + S3_OBSTORE_ENDPOINT
    + S3_OBSTORE_TRANSPORT
    + S3_OBSTORE_ADDRESSING
    + S3_OBSTORE_UPLOADS,
    "r2": S3_OBSTORE_CREDENTIALS + S3_OBSTORE_REGION + S3_OBSTORE_TRANSPORT + S3_OBSTORE_UPLOADS,
    "b2": S3_OBSTORE_CREDENTIALS + S3_OBSTORE_TRANSPORT + S3_OBSTORE_UPLOADS,
}

__all__ = ["OBSTORE_SETTINGS_BY_ROW", "OBSTORE_UPLOAD_ARGS", "etag_is_md5"]
