"""The obstore engine's configuration pieces that need no obstore installed: the settings
tables (:mod:`artifact_fs.backends.s3_obstore`...) are read by every ``resolve()``, while
obstore itself is imported only when a filesystem is opened (:mod:`artifact_fs.obstore_fs`)."""

from __future__ import annotations

import datetime
from typing import Any

#: part size and parts in flight when the row gives none (the S3 row's defaults are the same)
PART_BYTES = 8 * 2**20
PARTS_IN_FLIGHT = 4
#: bytes per write to the local file while streaming a download
STREAM_CHUNK = 2**20

#: user metadata holding the part size of a multipart upload (the s3fs engine writes the same
#: key), so a multipart ETag can be recomputed by whoever reads the object later
PART_SIZE_METADATA = "artifact-fs-part-size"

#: the core's upload keyword arguments (s3fs's names) → obstore attribute names
HEADER_ATTRIBUTES = {
    "ContentType": "Content-Type",
    "ContentEncoding": "Content-Encoding",
    "ContentDisposition": "Content-Disposition",
    "ContentLanguage": "Content-Language",
    "CacheControl": "Cache-Control",
    "StorageClass": "Storage-Class",
}


#: obstore makes one attempt per request: the retry budget is artifact_fs's (ARTIFACT_FS_RETRIES)
ONE_ATTEMPT = {"retry_config": {"max_retries": 0, "retry_timeout": datetime.timedelta(seconds=3600)}}
#: obstore has no "no timeout": a month stands for none (its own default is 30 s per request)
NO_TIMEOUT = datetime.timedelta(days=30)


def durations(client: dict[str, Any]) -> dict[str, Any]:
    """``client_options`` with seconds as timedeltas, no overall timeout (unset or None) as
    :data:`NO_TIMEOUT` and no connect timeout (None) as obstore's default."""
    for name in ("timeout", "connect_timeout"):
        if isinstance(client.get(name), (int, float)):
            client[name] = datetime.timedelta(seconds=client[name])
    if client.get("timeout") is None:
        client["timeout"] = NO_TIMEOUT
    if "connect_timeout" in client and client["connect_timeout"] is None:
        del client["connect_timeout"]
    return client


def refused_on_obstore(var: str, why: str):
    """A settings converter that refuses any value: ``var`` cannot be honoured on this engine."""
    from .errors import NotOnThisEngineError

    def parse(value: str) -> Any:
        message = f"{var} cannot be honoured by ARTIFACT_FS_ENGINE=obstore: {why}"
        raise NotOnThisEngineError(f"{message}; unset it, or use ARTIFACT_FS_ENGINE=fsspec", f"{var} ({why})")

    parse.__name__ = "refused_on_obstore"
    return parse


__all__ = [
    "HEADER_ATTRIBUTES",
    "NO_TIMEOUT",
    "ONE_ATTEMPT",
    "PARTS_IN_FLIGHT",
    "PART_BYTES",
    "PART_SIZE_METADATA",
    "STREAM_CHUNK",
    "durations",
    "refused_on_obstore",
]
