"""The filesystem of ``gs://`` on the obstore engine: the gs row's options
(:mod:`artifact_fs.backends.gcs_obstore`) as obstore's ``GCSConfig``/``ClientConfig``.
Imported only when such a filesystem is opened (it imports obstore)."""

from __future__ import annotations

from typing import Any

from ..obstore_config import durations
from ..obstore_fs import ObstoreFileSystem
from .gcs_obstore import etag_md5


class _AnonymousToken:
    """obstore's GCS credential provider protocol: an empty bearer token that never expires
    (an emulator accepts any; obstore's ``skip_signature`` still fetches one for uploads)."""

    def __call__(self) -> dict[str, Any]:
        return {"token": "", "expires_at": None}

    def __repr__(self) -> str:
        return "<anonymous>"


class ObstoreGCSFileSystem(ObstoreFileSystem):
    """GCS on obstore, taking the gs row's options (module docstring)."""

    protocol = ("gs", "gcs")
    records_part_size = False  # GCS's multipart ETags are no MD5 of parts: nothing to recompute

    def _store_config(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs.pop("use_listings_cache", None)
        config = dict(kwargs.pop("config", None) or {})
        client = durations(dict(kwargs.pop("client_options", None) or {}))
        emulator = kwargs.pop("emulator_host", None)
        if emulator:
            base = emulator if "://" in emulator else f"http://{emulator}"
            config["base_url"] = base.rstrip("/")
            if base.startswith("http://"):
                client["allow_http"] = True
        if kwargs.pop("anonymous", False):
            kwargs["credential_provider"] = _AnonymousToken()
        return {**kwargs, "config": config, "client_options": client}

    @staticmethod
    def _entry(bucket: str, meta) -> dict[str, Any]:
        entry = ObstoreFileSystem._entry(bucket, meta)
        entry["md5"] = etag_md5(entry.get("e_tag"))
        return entry


__all__ = ["ObstoreGCSFileSystem"]
