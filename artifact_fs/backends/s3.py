"""S3 and the S3-compatibles (MinIO, SeaweedFS, R2, B2) on s3fs: what happens for ``s3://``,
``r2://`` and ``b2://``.

* **URIs.** ``s3://<bucket>[/<path>]``; ``r2://<bucket>@<account>.r2.cloudflarestorage.com``
  and ``b2://<bucket>@s3.<region>.backblazeb2.com`` name their endpoint (R2 always virtual
  addressing and region ``auto``, B2 always path addressing, its region from the host).
* **Settings** (:data:`S3_CREDENTIALS` ... :data:`S3_UPLOADS`): AWS credentials passed
  explicitly (a changed key never reuses a cached client), MLflow's endpoint, TLS, signature,
  addressing and upload-argument variables; with a transfer timeout, neither botocore nor
  s3fs retries a request that timed out.
* **Client** (:mod:`artifact_fs.backends.s3_client`, the row's ``prepare``): no ``Expect:
  100-continue`` (aiohttp waits for it with no timeout), parts sent in a sliding window,
  Content-MD5 on every PUT and part, the part size recorded so a multipart ETag can be
  recomputed, one attempt per request (the retry budget is artifact_fs's).
* **Transfers**: 8 MiB parts, 4 in flight up, one streamed GET down (:data:`S3_PARTS`);
  Content-Type/-Encoding guessed, ``MLFLOW_S3_UPLOAD_EXTRA_ARGS`` wins; the ETag checked as
  an MD5 (single part) or recomputed (multipart); interrupted multipart uploads of the same
  key aborted after a big upload succeeds.
* **Server**: :class:`~artifact_fs.backends.s3_presign.S3Presigner` signs multipart uploads,
  GETs and PUTs (SigV4).
* **Engines**: ``ARTIFACT_FS_ENGINE=obstore`` picks the same rows on obstore
  (:mod:`artifact_fs.backends.s3_obstore`).
"""

from __future__ import annotations

import dataclasses

from ..converters import as_json_object, as_timeout, constant, except_word, false_when_true, one_of, only_word
from ..rows import (
    Client,
    PathTraits,
    Scheme,
    ServerCapabilities,
    Setting,
    StoreChecksum,
    TransferTuning,
    UriGrammar,
    as_variant,
)
from ..settings import ENGINE_VAR, NO_LISTINGS_CACHE, TIMEOUT, parts_in_flight
from . import s3_client, s3_obstore
from .s3_obstore_signed import obstore_abort_stale_uploads, obstore_part_sizes
from .s3_presign import S3Presigner

#: The keys ``MLFLOW_S3_UPLOAD_EXTRA_ARGS`` may hold: the upload arguments boto3's ``upload_file``
#: takes (``boto3.s3.transfer.S3Transfer.ALLOWED_UPLOAD_ARGS``, s3transfer 0.19), which MLflow's
#: S3 repository passes the variable to, refusing any other key. Kept here as data, so resolving
#: imports no boto3; tests/test_resolve_settings.py checks it against the installed s3transfer.
S3_UPLOAD_ARGS = frozenset(
    """
    ACL CacheControl ChecksumAlgorithm ChecksumCRC32 ChecksumCRC32C ChecksumCRC64NVME ChecksumMD5
    ChecksumSHA1 ChecksumSHA256 ChecksumSHA512 ChecksumType ChecksumXXHASH128 ChecksumXXHASH3
    ChecksumXXHASH64 ContentDisposition ContentEncoding ContentLanguage ContentType ExpectedBucketOwner
    Expires GrantFullControl GrantRead GrantReadACP GrantWriteACP Metadata MpuObjectSize
    ObjectLockLegalHoldStatus ObjectLockMode ObjectLockRetainUntilDate RequestPayer SSECustomerAlgorithm
    SSECustomerKey SSECustomerKeyMD5 SSEKMSEncryptionContext SSEKMSKeyId ServerSideEncryption
    StorageClass Tagging WebsiteRedirectLocation
    """.split()
)


def as_upload_extra_args(value: str) -> dict:
    """A JSON object whose keys are all S3 upload arguments (:data:`S3_UPLOAD_ARGS`), as MLflow requires."""
    parsed = as_json_object(value)
    unknown = sorted(set(parsed) - S3_UPLOAD_ARGS)
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise ValueError(
            f"{names}: not an S3 upload argument; the keys allowed are {', '.join(sorted(S3_UPLOAD_ARGS))}"
        )
    return parsed


S3_CREDENTIALS = (
    Setting(
        "AWS_ACCESS_KEY_ID", "key", secret=True, doc="passed explicitly so a changed key never reuses a cached client"
    ),
    Setting("AWS_SECRET_ACCESS_KEY", "secret", secret=True),
    Setting("AWS_SESSION_TOKEN", "token", secret=True),
    Setting("AWS_PROFILE", "profile"),
)
S3_REGION = (Setting("AWS_DEFAULT_REGION", "client_kwargs.region_name"),)
S3_ENDPOINT = (Setting("MLFLOW_S3_ENDPOINT_URL", "endpoint_url", doc="r2/b2 URIs name their own endpoint"),)
S3_TRANSPORT = (
    Setting("AWS_CA_BUNDLE", "client_kwargs.verify", doc="CA bundle path for TLS verification"),
    Setting(
        "MLFLOW_S3_IGNORE_TLS",
        "client_kwargs.verify",
        false_when_true,
        doc="true → no TLS verification (wins over AWS_CA_BUNDLE)",
    ),
    Setting("MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION", "config_kwargs.signature_version", except_word("unsigned")),
    Setting(
        "MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION",
        "anon",
        only_word("unsigned", True),
        doc="unsigned → anonymous requests (public buckets)",
    ),
)
S3_ADDRESSING = (
    Setting(
        "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE",
        "config_kwargs.s3.addressing_style",
        one_of("auto", "virtual", "path"),
        doc="r2 is always virtual, b2 always path",
    ),
)
S3_UPLOADS = (
    Setting(
        "MLFLOW_S3_UPLOAD_EXTRA_ARGS",
        "s3_additional_kwargs",
        as_upload_extra_args,
        doc="JSON object; overrides the guessed Content-Type",
    ),
    Setting(
        "MLFLOW_S3_EXPECTED_BUCKET_OWNER",
        "s3_additional_kwargs.ExpectedBucketOwner",
        doc="sent on every request that accepts it",
    ),
    Setting(TIMEOUT, "config_kwargs.connect_timeout", as_timeout),
    Setting(TIMEOUT, "config_kwargs.read_timeout", as_timeout),
    Setting(
        TIMEOUT,
        "config_kwargs.retries.max_attempts",
        constant(1),
        doc="with a timeout, a request that times out is not retried by botocore...",
    ),
    Setting(
        TIMEOUT,
        "attr:retries",
        constant(1),
        doc="...nor by s3fs, so a stalled server fails the call after about that many seconds",
    ),
)

#: Who is calling: a profile that gives any of these replaces all of the environment's.
CREDENTIAL_VARIABLES = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"})

#: Profile keys → the variables they stand for.
PROFILE_KEYS = {
    "endpoint_url": "MLFLOW_S3_ENDPOINT_URL",
    "region": "AWS_DEFAULT_REGION",
    "access_key_id": "AWS_ACCESS_KEY_ID",
    "secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "session_token": "AWS_SESSION_TOKEN",
    "credentials_profile": "AWS_PROFILE",
    "ca_bundle": "AWS_CA_BUNDLE",
    "ignore_tls": "MLFLOW_S3_IGNORE_TLS",
    "addressing_style": "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE",
    "signature_version": "MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION",
    "upload_extra_args": "MLFLOW_S3_UPLOAD_EXTRA_ARGS",
    "expected_bucket_owner": "MLFLOW_S3_EXPECTED_BUCKET_OWNER",
}

# s3fs moves big files in parts of its block size (50 MiB) with 10 in flight, buffering them
# all: 8 MiB parts (boto3's TransferManager default) keep memory flat as files grow. Uploads
# keep 4 parts in flight in a sliding window (s3fs's own waves idle at every wave's tail);
# downloads take one streamed GET (s3fs reads each concurrent range whole into memory on its
# one event-loop thread). The measurements behind both: benchmarks/README.md, "The concurrency budget".
S3_PARTS = {
    "upload:chunksize": 8 * 2**20,
    "download:chunksize": 8 * 2**20,
    "upload:max_concurrency": 4,
    "download:max_concurrency": 1,
}
S3_PARTS_IN_FLIGHT = parts_in_flight("upload:max_concurrency", "download:max_concurrency")

#: One retry layer (artifact_fs's budget, ARTIFACT_FS_RETRIES): botocore makes one attempt per
#: request and s3fs's own retry loop one too, instead of botocore's 5 x s3fs's 5.
S3_ONE_ATTEMPT = {"config_kwargs": {"retries": {"total_max_attempts": 1}}, "attr:retries": 1}


_CLIENT = Client(protocol="s3", impl="s3fs.S3FileSystem", extra="s3", prepare=s3_client.s3_client_setup)
_TRANSFER = TransferTuning(
    content_headers=("ContentType", "ContentEncoding"),
    upload_extra_option="s3_additional_kwargs",
    checksum=StoreChecksum(
        "ETag",
        "md5",
        "hex",
        composite="-",
        is_plain_digest=s3_client.s3_etag_is_md5,
        recorded_part_size=s3_client.s3_recorded_part_size,
        part_sizes=s3_client.s3_part_sizes,
        published=s3_client.s3_published,
    ),
    abort_stale_uploads=s3_client.s3_abort_stale_uploads,
)
_SERVER = ServerCapabilities(presigner=S3Presigner())
_DEFAULTS = {**NO_LISTINGS_CACHE, **S3_PARTS, **S3_ONE_ATTEMPT}


_OBSTORE_CLIENT = Client(
    protocol="s3", impl="artifact_fs.backends.s3_obstore_fs.ObstoreS3FileSystem", extra="obstore", requires="obstore"
)
_OBSTORE_TRANSFER = TransferTuning(
    content_headers=("ContentType", "ContentEncoding"),
    upload_extra_option="upload_args",
    checksum=StoreChecksum(
        "e_tag",
        "md5",
        "hex",
        composite="-",
        is_plain_digest=s3_obstore.etag_is_md5,
        recorded_part_size=lambda fs, path: fs.recorded_part_size(path),
        published=lambda fs, path: fs.published(path),
        received=lambda fs, local: fs.received(local),
        part_sizes=obstore_part_sizes,
    ),
    abort_stale_uploads=obstore_abort_stale_uploads,
)
#: obstore signs GETs and PUTs but not a multipart part's URL: the server signs with s3fs
_OBSTORE_SERVER = ServerCapabilities(presigner=S3Presigner(), signs_with="fsspec")
_OBSTORE_DEFAULTS = {**s3_obstore.OBSTORE_ONE_ATTEMPT, **s3_obstore.OBSTORE_PARTS}


def _on_obstore(row: Scheme, defaults: dict) -> Scheme:
    """The same scheme on the obstore engine: its URI options and settings in obstore's terms."""
    style = row.uri.fixed.get("config_kwargs", {}).get("s3", {}).get("addressing_style")
    fixed = {"config": {"virtual_hosted_style_request": style == "virtual"}} if style else {}
    uri = dataclasses.replace(
        row.uri, host_options={group: "config.region" for group in row.uri.host_options}, fixed=fixed
    )
    settings = s3_obstore.OBSTORE_SETTINGS_BY_ROW[row.name] + s3_obstore.S3_OBSTORE_PARTS_IN_FLIGHT
    client = dataclasses.replace(_OBSTORE_CLIENT, settings=settings, defaults={**defaults, **_OBSTORE_DEFAULTS})
    return as_variant(
        row, "obstore", ENGINE_VAR, uri=uri, client=client, transfer=_OBSTORE_TRANSFER, server=_OBSTORE_SERVER
    )


def _row(
    name: str, uri: UriGrammar, settings: tuple[Setting, ...], defaults: dict, builtin: str, obstore_defaults=None
) -> Scheme:
    client = dataclasses.replace(_CLIENT, settings=settings + S3_PARTS_IN_FLIGHT, defaults=defaults)
    row = Scheme(name, uri, client, PathTraits(), _TRANSFER, _SERVER, mlflow_builtin=f"mlflow.store.artifact.{builtin}")
    obstore = _on_obstore(row, obstore_defaults or {})
    return dataclasses.replace(
        row, variant="fsspec", variant_var=ENGINE_VAR, alternatives={"obstore": obstore}, preferred="obstore"
    )


ROWS = (
    _row(
        "b2",
        UriGrammar(
            "bucket_at_endpoint",
            form="`b2://<bucket>@s3.<region>.backblazeb2.com[/<path>]`",
            host_pattern=r"(?P<bucket>[^@]+)@(?P<endpoint>s3\.(?P<region>[^.]+)\.backblazeb2\.com)",
            host_options={"region": "client_kwargs.region_name"},
            fixed={"config_kwargs": {"s3": {"addressing_style": "path"}}},
        ),
        S3_CREDENTIALS + S3_TRANSPORT + S3_UPLOADS,
        _DEFAULTS,
        "b2_artifact_repo:B2ArtifactRepository",
    ),
    _row(
        "r2",
        UriGrammar(
            "bucket_at_endpoint",
            form="`r2://<bucket>@<account-id>.r2.cloudflarestorage.com[/<path>]`",
            host_pattern=r"(?P<bucket>[^@]+)@(?P<endpoint>[^@/]+)",
            fixed={"config_kwargs": {"s3": {"addressing_style": "virtual"}}},
        ),
        S3_CREDENTIALS + S3_REGION + S3_TRANSPORT + S3_UPLOADS,
        {"client_kwargs": {"region_name": "auto"}, "fixed_upload_size": True, **_DEFAULTS},
        "r2_artifact_repo:R2ArtifactRepository",
        {"config": {"region": "auto"}},
    ),
    _row(
        "s3",
        UriGrammar("bucket", form="`s3://<bucket>[/<path>]`"),
        S3_CREDENTIALS + S3_REGION + S3_ENDPOINT + S3_TRANSPORT + S3_ADDRESSING + S3_UPLOADS,
        _DEFAULTS,
        "s3_artifact_repo:S3ArtifactRepository",
    ),
)
