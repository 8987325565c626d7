"""The S3 rows' presigner: what ``mlflow server`` signs for clients (multipart uploads, GETs,
PUTs) through s3fs's aiobotocore client, with SigV4."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from typing import Any

from ..presign import (
    PART_URL_SECONDS,
    CannotSign,
    Presigner,
    attachment_disposition,
    content_type,
    download_response,
    file_size,
)


class S3Presigner(Presigner):
    """S3 and S3-compatibles (SeaweedFS, MinIO, R2, B2) through s3fs's aiobotocore client."""

    mixins = ("MultipartUploadMixin", "MultipartDownloadMixin", "PresignedUploadMixin")

    def can_presign(self, resolved) -> bool:
        """Anonymous (unsigned) access cannot sign (s3fs's ``anon``, obstore's ``skip_signature``);
        any credentials botocore finds can."""
        options = resolved.storage_options
        return not options.get("anon") and not (options.get("config") or {}).get("skip_signature")

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


__all__ = ["S3Presigner"]
