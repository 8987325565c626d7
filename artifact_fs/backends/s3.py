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
* **Server**: :class:`S3Presigner` signs multipart uploads, GETs and PUTs (SigV4).
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Iterable
from typing import Any

from ..converters import as_json_object, as_timeout, constant, except_word, false_when_true, one_of, only_word
from ..presign import (
    PART_URL_SECONDS,
    CannotSign,
    Presigner,
    attachment_disposition,
    content_type,
    download_response,
    file_size,
)
from ..rows import Client, PathTraits, Scheme, ServerCapabilities, Setting, StoreChecksum, TransferTuning, UriGrammar
from ..settings import NO_LISTINGS_CACHE, TIMEOUT, parts_in_flight
from . import s3_client

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


class S3Presigner(Presigner):
    """S3 and S3-compatibles (SeaweedFS, MinIO, R2, B2) through s3fs's aiobotocore client."""

    mixins = ("MultipartUploadMixin", "MultipartDownloadMixin", "PresignedUploadMixin")

    def can_presign(self, resolved) -> bool:
        """Anonymous (unsigned) access cannot sign; any credentials botocore finds can."""
        return not resolved.storage_options.get("anon")

    @staticmethod
    def _signing(fs):
        """``fs`` with its client connected and set to sign URLs with SigV4 (as MLflow's S3
        repository does): botocore's default for S3 query signatures is still SigV2, which
        S3-compatibles such as SeaweedFS reject for GETs with response overrides. An explicit
        ``MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION`` is left alone."""
        fs.connect()
        if not (fs.config_kwargs or {}).get("signature_version"):
            # first: botocore's own handler on this event turns SigV4 query signatures into SigV2
            fs.s3.meta.events.register_first("choose-signer.s3", _sigv4_query, unique_id="artifact_fs-sigv4-query")
        return fs

    def create_multipart(self, repo, path: str, num_parts: int):
        """Start a multipart upload (Content-Type, extra args and SSE settings applied here)
        and sign one ``upload_part`` URL per part."""
        from botocore.exceptions import NoCredentialsError
        from mlflow.entities.multipart_upload import CreateMultipartUploadResponse, MultipartUploadCredential

        fs = self._signing(repo.fs)
        bucket, key, _ = fs.split_path(path)
        try:
            started = fs.call_s3("create_multipart_upload", Bucket=bucket, Key=key, **_upload_headers(repo, path))
        except NoCredentialsError as exc:
            raise CannotSign("botocore found no credentials to sign with") from exc
        upload_id = started["UploadId"]
        credentials = [
            MultipartUploadCredential(
                url=fs.url(
                    path, expires=PART_URL_SECONDS, client_method="upload_part", PartNumber=number, UploadId=upload_id
                ),
                part_number=number,
                headers={},
            )
            for number in range(1, num_parts + 1)
        ]
        return CreateMultipartUploadResponse(upload_id=upload_id, credentials=credentials)

    def complete_multipart(self, repo, path: str, upload_id: str, parts: Iterable[Any]) -> None:
        """Assemble the uploaded parts into the object (it appears only now)."""
        fs = repo.fs
        bucket, key, _ = fs.split_path(path)
        listed = [
            {"PartNumber": part.part_number, "ETag": part.etag} for part in sorted(parts, key=lambda p: p.part_number)
        ]
        fs.call_s3(
            "complete_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": listed}
        )
        fs.invalidate_cache(path)

    def abort_multipart(self, repo, path: str, upload_id: str) -> None:
        """Abort the upload; the store drops its parts. An unknown id raises (RESOURCE_DOES_NOT_EXIST)."""
        fs = repo.fs
        bucket, key, _ = fs.split_path(path)
        fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)

    def download_url(self, repo, path: str, expiration: int):
        """A presigned GET (served as an attachment) and the object's size."""
        size = file_size(repo.fs, path)
        disposition = attachment_disposition(posixpath.basename(path))
        url = self._signing(repo.fs).url(
            path, expires=expiration, client_method="get_object", ResponseContentDisposition=disposition
        )
        return download_response(url, size)

    def upload_url(self, repo, path: str, expiration: int) -> tuple[str, dict[str, str]]:
        """A presigned PUT and the headers the client must send with it (everything signed
        into the URL that travels as a header: Content-Type, SSE, metadata, bucket owner)."""
        fs = self._signing(repo.fs)
        params = {"ContentType": content_type(path), **_put_extra_args(repo)}
        url = fs.url(path, expires=expiration, client_method="put_object", **params)
        return url, _as_headers(fs, "PutObject", params)


def _sigv4_query(signature_version=None, **_kwargs):
    """botocore ``choose-signer`` hook: presigned URLs are signed with SigV4, never SigV2."""
    return "s3v4" if signature_version in ("v4-query", "s3-query") else None


def _upload_headers(repo, path: str) -> dict[str, Any]:
    """Content-Type/-Encoding guessed from the name; MLFLOW_S3_UPLOAD_EXTRA_ARGS win (s3fs
    adds its ``s3_additional_kwargs`` to the call itself)."""
    tuning = repo.row.transfer
    extra = repo.resolved.storage_options.get(tuning.upload_extra_option or "", {}) or {}
    return tuning.guessed_headers(path, extra)


def _put_extra_args(repo) -> dict[str, Any]:
    """The upload extra args (MLFLOW_S3_UPLOAD_EXTRA_ARGS, ExpectedBucketOwner) that PutObject accepts."""
    extra = dict(repo.fs.s3_additional_kwargs or {})
    members = _operation_members(repo.fs, "PutObject")
    return {name: value for name, value in extra.items() if name in members}


def _operation_members(fs, operation: str) -> dict[str, Any]:
    fs.connect()
    return fs.s3.meta.service_model.operation_model(operation).input_shape.members


def _as_headers(fs, operation: str, params: dict[str, Any]) -> dict[str, str]:
    """The HTTP headers botocore sends for ``params`` of ``operation``, read from its service
    model (so every header-bound argument is covered, not a hand-kept list)."""
    members = _operation_members(fs, operation)
    headers: dict[str, str] = {}
    for name, value in params.items():
        serialization = members[name].serialization if name in members else {}
        if serialization.get("location") == "header":
            headers[serialization.get("name", name)] = str(value)
        elif serialization.get("location") == "headers":  # Metadata: a prefix per key
            for key, item in dict(value).items():
                headers[f"{serialization.get('name', '')}{key}"] = str(item)
    return headers


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


def _row(name: str, uri: UriGrammar, settings: tuple[Setting, ...], defaults: dict, builtin: str) -> Scheme:
    client = dataclasses.replace(_CLIENT, settings=settings + S3_PARTS_IN_FLIGHT, defaults=defaults)
    return Scheme(
        name, uri, client, PathTraits(), _TRANSFER, _SERVER, mlflow_builtin=f"mlflow.store.artifact.{builtin}"
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
    ),
    _row(
        "s3",
        UriGrammar("bucket", form="`s3://<bucket>[/<path>]`"),
        S3_CREDENTIALS + S3_REGION + S3_ENDPOINT + S3_TRANSPORT + S3_ADDRESSING + S3_UPLOADS,
        _DEFAULTS,
        "s3_artifact_repo:S3ArtifactRepository",
    ),
)
