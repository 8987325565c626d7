"""The S3 requests obstore cannot make, sent by the obstore engine itself, signed with SigV4 by
botocore's signer (botocore comes with the ``s3`` extra; without it these are skipped), with
the engine's own endpoint, addressing, credentials and TLS settings:

* ``HEAD <key>?partNumber=k``: the part sizes of another uploader's multipart object, so its
  ETag (``<md5 of the parts' md5s>-<parts>``) can be recomputed (:func:`obstore_part_sizes`);
* ``GET ?uploads&prefix=<key>`` and ``DELETE <key>?uploadId=``: the incomplete multipart
  uploads an interrupted upload of the same key left, aborted after a rerun
  (:func:`obstore_abort_stale_uploads`, the fsspec engine's ``abort_stale_uploads``);
* ``DELETE <key>/``: the ``dir/`` marker objects other tools leave, which object_store cannot
  address (a key ending in ``/``), removed with their directory (:func:`delete_markers`).
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from urllib.parse import quote

#: HEAD requests in flight while asking a multipart object for its part sizes
PART_HEADS_IN_FLIGHT = 16
#: marker deletions in flight
MARKER_DELETES_IN_FLIGHT = 16
#: seconds each signed request may take
SIGNED_REQUEST_TIMEOUT = 30


class _Signer:
    """Signs and sends requests to one bucket with the engine's settings (module docstring)."""

    def __init__(self, fs, bucket: str) -> None:
        from botocore.auth import S3SigV4Auth
        from botocore.credentials import Credentials

        config = dict(fs._config or {})
        self.bucket = bucket
        self.region = config.get("region") or "us-east-1"
        given = _credentials(fs, config)
        self.auth = (
            None
            if config.get("skip_signature") or given is None
            else S3SigV4Auth(Credentials(*given), "s3", self.region)
        )
        self.endpoint = (config.get("endpoint") or f"https://s3.{self.region}.amazonaws.com").rstrip("/")
        self.virtual = bool(config.get("virtual_hosted_style_request"))
        client = dict(fs._client_options or {})
        self.context = _tls_context(client)
        self.headers = dict(client.get("default_headers") or {})

    def url(self, key: str, query: str = "") -> str:
        quoted = quote(key, safe="/~")
        if self.virtual:
            scheme, _, host = self.endpoint.partition("://")
            base = f"{scheme}://{self.bucket}.{host}/{quoted}"
        else:
            base = f"{self.endpoint}/{self.bucket}/{quoted}"
        return f"{base}?{query}" if query else base

    def send(self, method: str, key: str, query: str = "") -> tuple[dict[str, str], bytes]:
        """The answer's headers and body; an HTTP error status raises :class:`urllib.error.HTTPError`."""
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=self.url(key, query), headers=dict(self.headers))
        if self.auth is not None:
            self.auth.add_auth(request)
        prepared = urllib.request.Request(request.url, method=method, headers=dict(request.headers.items()))
        with urllib.request.urlopen(prepared, timeout=SIGNED_REQUEST_TIMEOUT, context=self.context) as response:  # noqa: S310 - the store's URL
            return dict(response.headers.items()), response.read()


def _signer(fs, path: str) -> tuple[_Signer, str] | None:
    """A signer for ``path``'s bucket and the key, or None when nothing can sign."""
    try:
        import botocore.auth  # noqa: F401 - the signer's dependency
    except ImportError:
        return None
    bucket, key = fs._split_path(fs._strip_protocol(path))
    signer = _Signer(fs, bucket)
    if signer.auth is None and not dict(fs._config or {}).get("skip_signature"):
        return None
    return signer, key


def obstore_part_sizes(fs, path: str, parts: int, size: int) -> tuple[int, ...] | None:
    """The size of each of the ``parts`` parts of ``path`` (the sizes must add up to ``size``),
    or None when the store does not say or nothing can sign the request."""
    found = _signer(fs, path)
    if found is None:
        return None
    signer, key = found

    def one(number: int) -> int:
        headers, _ = signer.send("HEAD", key, f"partNumber={number}")
        headers = {name.lower(): value for name, value in headers.items()}
        if headers.get("x-amz-mp-parts-count") not in (None, str(parts)):
            raise ValueError("another part count")
        return int(headers["content-length"])

    with ThreadPoolExecutor(max_workers=min(PART_HEADS_IN_FLIGHT, parts)) as pool:
        sizes = tuple(pool.map(one, range(1, parts + 1)))
    return sizes if sum(sizes) == size else None


def obstore_abort_stale_uploads(fs, paths: list[str], since: float) -> int:
    """The obstore engine's ``abort_stale_uploads``: abort the incomplete multipart uploads of
    exactly these keys that began before ``since``; one listing request per key. Returns how
    many were aborted (0 when nothing can sign)."""
    aborted = 0
    for path in paths:
        found = _signer(fs, path)
        if found is None:
            return aborted
        signer, key = found
        _, body = signer.send("GET", "", f"uploads=&prefix={quote(key, safe='')}")
        for upload in _elements(ET.fromstring(body), "Upload"):
            initiated = _text(upload, "Initiated")
            begun = datetime.fromisoformat(initiated.replace("Z", "+00:00")).timestamp() if initiated else 0.0
            if _text(upload, "Key") == key and begun < since:
                signer.send("DELETE", key, f"uploadId={quote(_text(upload, 'UploadId'), safe='')}")
                aborted += 1
    return aborted


def delete_markers(fs, bucket: str, keys: list[str]) -> None:
    """Delete the ``dir/`` marker objects ``keys`` (each ending in ``/``) of ``bucket``; a
    missing one is no error (S3 deletes are idempotent). Nothing happens when nothing can sign."""
    found = _signer(fs, f"{bucket}/")
    if found is None or not keys:
        return
    signer, _ = found
    try:
        with ThreadPoolExecutor(max_workers=min(MARKER_DELETES_IN_FLIGHT, len(keys))) as pool:
            list(pool.map(lambda key: signer.send("DELETE", key), keys))
    except urllib.error.HTTPError as exc:
        builtin = PermissionError if exc.code in (401, 403) else FileNotFoundError if exc.code == 404 else OSError
        raise builtin(f"deleting directory markers in {bucket!r}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise ConnectionError(f"deleting directory markers in {bucket!r}: {exc.reason}") from None


def _elements(root: ET.Element, name: str) -> list[ET.Element]:
    return [element for element in root.iter() if element.tag.rsplit("}", 1)[-1] == name]


def _text(element: ET.Element, name: str) -> str:
    for child in element:
        if child.tag.rsplit("}", 1)[-1] == name:
            return child.text or ""
    return ""


def _credentials(fs, config: dict[str, Any]) -> tuple[str, str, str | None] | None:
    """``(key, secret, token)`` from the engine's configuration or its credential provider."""
    if config.get("access_key_id") and config.get("secret_access_key"):
        return config["access_key_id"], config["secret_access_key"], config.get("session_token")
    provider = getattr(fs, "_credential_provider", None)
    if provider is None:
        return None
    given = provider()
    return given["access_key_id"], given["secret_access_key"], given.get("token")


def _tls_context(client: dict[str, Any]) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if client.get("allow_invalid_certificates"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    root = client.get("root_certificate")
    if root:
        context.load_verify_locations(cadata=root.decode() if isinstance(root, bytes) else root)
    return context


__all__ = ["delete_markers", "obstore_abort_stale_uploads", "obstore_part_sizes"]
