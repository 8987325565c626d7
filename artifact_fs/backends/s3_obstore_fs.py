"""The filesystem of ``s3://``, ``r2://`` and ``b2://`` on the obstore engine: the S3 rows'
options (:mod:`artifact_fs.backends.s3_obstore`) as obstore's ``S3Config``/``ClientConfig``.
Imported only when such a filesystem is opened (it imports obstore)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from ..errors import InvalidSettingError
from ..obstore_config import HEADER_ATTRIBUTES, durations
from ..obstore_fs import ObstoreFileSystem

ENGINE = "obstore"


class ObstoreS3FileSystem(ObstoreFileSystem):
    """S3 and the S3-compatibles on obstore, taking the S3 rows' options (module docstring)."""

    protocol = ("s3", "s3a")

    def _store_config(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs.pop("use_listings_cache", None)
        config = dict(kwargs.pop("config", None) or {})
        client = dict(kwargs.pop("client_options", None) or {})
        endpoint = kwargs.pop("endpoint_url", None)
        if endpoint:
            config["endpoint"] = endpoint
            if endpoint.startswith("http://"):
                client["allow_http"] = True
        ca_bundle = kwargs.pop("ca_bundle", None)
        if ca_bundle and not client.get("allow_invalid_certificates"):  # MLFLOW_S3_IGNORE_TLS wins
            with open(ca_bundle, "rb") as handle:
                client["root_certificate"] = handle.read()
        durations(client)
        self._apply_upload_args(dict(kwargs.pop("upload_args", None) or {}), config, client)
        self.etag_is_md5 = config.get("server_side_encryption") not in ("aws:kms", "aws:kms:dsse")
        profile = kwargs.pop("credentials_profile", None)
        if profile or not config.get("access_key_id"):
            provider = _botocore_credentials(profile) if not config.get("skip_signature") else None
            if provider is not None:
                kwargs["credential_provider"] = provider
        return {**kwargs, "config": config, "client_options": client}

    def _construct_store(self, bucket: str):
        """obstore's store for ``bucket``. With virtual-hosted requests and an endpoint, obstore
        takes the endpoint as the bucket's own: ``<bucket>.<endpoint host>`` is given (an IP or
        ``localhost`` endpoint has no bucket subdomains: path-style, as botocore does)."""
        config = dict(self._config or {})
        endpoint = config.get("endpoint")
        if config.get("virtual_hosted_style_request") and endpoint:
            scheme, _, host = endpoint.partition("://")
            hostname = host.split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
            if _is_ip_or_localhost(hostname):
                config["virtual_hosted_style_request"] = False
            elif not host.startswith(f"{bucket}."):
                config["endpoint"] = f"{scheme}://{bucket}.{host}"
            if config != self._config:
                from obstore.store import from_url

                return from_url(
                    url=f"s3://{bucket}",
                    config=config,
                    client_options=self._client_options,
                    retry_config=self._retry_config,
                    credential_provider=self._credential_provider,
                    **self._config_kwargs,
                )
        return super()._construct_store(bucket)

    def delete_markers(self, bucket: str, keys: list[str]) -> None:
        """Delete ``dir/`` marker objects with signed ``DELETE <key>/`` requests (:mod:`.s3_obstore_signed`)."""
        from .s3_obstore_signed import delete_markers

        delete_markers(self, bucket, keys)

    def _apply_upload_args(self, args: dict[str, Any], config: dict[str, Any], client: dict[str, Any]) -> None:
        """MLFLOW_S3_UPLOAD_EXTRA_ARGS as attributes, tags, SSE settings and headers."""
        for name, attribute in HEADER_ATTRIBUTES.items():
            if args.get(name) is not None:
                self.upload_attributes[attribute] = str(args[name])
        for key, value in dict(args.get("Metadata") or {}).items():
            self.upload_attributes[str(key)] = str(value)
        if args.get("Tagging"):
            self.upload_tags = dict(parse_qsl(str(args["Tagging"]), keep_blank_values=True))
        if args.get("ServerSideEncryption"):
            config["server_side_encryption"] = str(args["ServerSideEncryption"])
        if args.get("SSEKMSKeyId"):
            config["sse_kms_key_id"] = str(args["SSEKMSKeyId"])
        if args.get("ExpectedBucketOwner"):
            client["default_headers"] = {
                **dict(client.get("default_headers") or {}),
                "x-amz-expected-bucket-owner": str(args["ExpectedBucketOwner"]),
            }


def _is_ip_or_localhost(hostname: str) -> bool:
    import ipaddress

    if hostname == "localhost":
        return True
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return True


def _botocore_credentials(profile: str | None):
    """An obstore credential provider over botocore's chain (refreshable credentials are
    re-read before they expire), or None when botocore is missing or finds nothing."""
    try:
        import botocore.session
    except ImportError:
        if profile:
            raise InvalidSettingError(
                f"AWS_PROFILE={profile!r} needs botocore on ARTIFACT_FS_ENGINE={ENGINE}: pip install botocore"
            ) from None
        return None
    session = botocore.session.Session(profile=profile)
    credentials = session.get_credentials()
    if credentials is None:
        return None
    return _BotocoreProvider(credentials)


class _BotocoreProvider:
    """obstore's S3 credential provider protocol over botocore credentials."""

    def __init__(self, credentials) -> None:
        self._credentials = credentials

    def __call__(self) -> dict[str, Any]:
        frozen = self._credentials.get_frozen_credentials()
        expiry = getattr(self._credentials, "_expiry_time", None)
        return {
            "access_key_id": frozen.access_key,
            "secret_access_key": frozen.secret_key,
            "token": frozen.token,
            "expires_at": expiry,
        }

    def __repr__(self) -> str:
        return "<botocore credentials>"


__all__ = ["ObstoreS3FileSystem"]
