"""The part sizes of a multipart S3 object on the obstore engine: ``HEAD <key>?partNumber=k``.

A multipart ETag (``<md5 of the parts' md5s>-<parts>``) can only be recomputed knowing where
each part ends. artifact_fs's own uploads record their part size; for another uploader's
object whose layout no guess explains, the s3fs engine asks the store for each part's size.
obstore has no such request, so the obstore engine sends it itself: a HEAD per part, signed
with SigV4 by botocore's signer (botocore comes with the ``s3`` extra; without it the object
is checked by size only), with the engine's own endpoint, addressing, credentials and TLS
settings.
"""

from __future__ import annotations

import ssl
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

#: HEAD requests in flight while asking a multipart object for its part sizes
PART_HEADS_IN_FLIGHT = 16


def obstore_part_sizes(fs, path: str, parts: int, size: int) -> tuple[int, ...] | None:
    """The size of each of the ``parts`` parts of ``path`` (the sizes must add up to ``size``),
    or None when the store does not say or nothing can sign the request."""
    try:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
    except ImportError:
        return None
    config = dict(fs._config or {})
    credentials = _credentials(fs, config)
    if credentials is None and not config.get("skip_signature"):
        return None
    bucket, key = fs._split_path(fs._strip_protocol(path))
    region = config.get("region") or "us-east-1"
    url = _object_url(config, bucket, key, region)
    context = _tls_context(dict(fs._client_options or {}))

    def one(number: int) -> int:
        request = AWSRequest(method="HEAD", url=f"{url}?partNumber={number}")
        if credentials is not None:
            SigV4Auth(Credentials(*credentials), "s3", region).add_auth(request)
        prepared = urllib.request.Request(request.url, method="HEAD", headers=dict(request.headers.items()))
        with urllib.request.urlopen(prepared, timeout=30, context=context) as response:  # noqa: S310 - the store's URL
            if response.headers.get("x-amz-mp-parts-count") not in (None, str(parts)):
                raise ValueError("another part count")
            return int(response.headers["Content-Length"])

    with ThreadPoolExecutor(max_workers=min(PART_HEADS_IN_FLIGHT, parts)) as pool:
        sizes = tuple(pool.map(one, range(1, parts + 1)))
    return sizes if sum(sizes) == size else None


def _credentials(fs, config: dict[str, Any]) -> tuple[str, str, str | None] | None:
    """``(key, secret, token)`` from the engine's configuration or its credential provider."""
    if config.get("access_key_id") and config.get("secret_access_key"):
        return config["access_key_id"], config["secret_access_key"], config.get("session_token")
    provider = getattr(fs, "_credential_provider", None)
    if provider is None:
        return None
    given = provider()
    return given["access_key_id"], given["secret_access_key"], given.get("token")


def _object_url(config: dict[str, Any], bucket: str, key: str, region: str) -> str:
    endpoint = (config.get("endpoint") or f"https://s3.{region}.amazonaws.com").rstrip("/")
    quoted = quote(key, safe="/~")
    if config.get("virtual_hosted_style_request"):
        scheme, _, host = endpoint.partition("://")
        return f"{scheme}://{bucket}.{host}/{quoted}"
    return f"{endpoint}/{bucket}/{quoted}"


def _tls_context(client: dict[str, Any]) -> ssl.SSLContext:
    if client.get("allow_invalid_certificates"):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context = ssl.create_default_context()
    root = client.get("root_certificate")
    if root:
        context.load_verify_locations(cadata=root.decode() if isinstance(root, bytes) else root)
    return context


__all__ = ["obstore_part_sizes"]
