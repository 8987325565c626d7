"""Azure Blob (``wasbs://``, ``abfss://``) presigning: SAS URLs signed with the account key.

A multipart upload is a block blob built from staged blocks: each part URL is a
``Put Block`` (``?comp=block&blockid=...``) on the blob, with a write SAS; completing
commits the block list, recovering each block id from the URL the client echoes back
(as MLflow's own Azure repository does, so ``upload_id`` is ``None``). Aborting has
nothing to do: uncommitted blocks never become the blob and the service drops them.

Signing needs the account key (``AZURE_STORAGE_ACCESS_KEY`` / ``..._ACCOUNT_KEY`` or a
connection string with ``AccountKey=``); with a SAS token or Azure AD credentials the
repository does not claim the presigning mixins. The SDK's own client that adlfs built
(same endpoint, TLS settings and credential) commits the block list.
"""

from __future__ import annotations

import base64
import datetime
import posixpath
import urllib.parse
import uuid

from .presign import PART_URL_SECONDS, CannotSign, attachment_disposition, content_type, download_response, file_size


class AzureBlobPresigner:
    """SAS URLs for block uploads, downloads and single PUTs."""

    def can_presign(self, resolved) -> bool:
        """True when an account key is configured (directly or inside the connection string)."""
        options = resolved.storage_options
        return bool(options.get("account_key")) or "accountkey=" in str(options.get("connection_string") or "").lower()

    def create_multipart(self, repo, path: str, num_parts: int):
        """One ``Put Block`` URL per part; block ids share a random prefix so they are all the same length."""
        from mlflow.entities.multipart_upload import CreateMultipartUploadResponse, MultipartUploadCredential

        url = self._signed_url(repo, path, PART_URL_SECONDS, write=True)
        prefix = uuid.uuid4().hex
        credentials = [
            MultipartUploadCredential(url=f"{url}&comp=block&blockid={_quoted_block_id(prefix, number)}", part_number=number, headers={})
            for number in range(1, num_parts + 1)
        ]
        return CreateMultipartUploadResponse(upload_id=None, credentials=credentials)

    def complete_multipart(self, repo, path: str, upload_id, parts) -> None:
        """Commit the staged blocks in part order (the block ids come back in each part's URL)."""
        from azure.storage.blob import BlobBlock, ContentSettings

        block_ids = []
        for part in sorted(parts, key=lambda p: p.part_number):
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(part.url or "").query)
            if "blockid" not in query:
                raise ValueError(f"part {part.part_number} carries no block URL: the client must send back each part's url")
            block_ids.append(base64.b64decode(query["blockid"][0]).decode())  # the SDK encodes it again
        container, blob = _split(repo.fs, path)
        settings = ContentSettings(content_type=content_type(path))

        async def commit():
            async with repo.fs.service_client.get_blob_client(container, blob) as client:
                await client.commit_block_list([BlobBlock(block_id=block) for block in block_ids], content_settings=settings)

        _run(repo.fs, commit)
        repo.fs.invalidate_cache(path)

    def abort_multipart(self, repo, path: str, upload_id) -> None:
        """Nothing to do: uncommitted blocks are never visible and the service discards them."""

    def download_url(self, repo, path: str, expiration: int):
        """A read SAS URL (served as an attachment) and the blob's size."""
        size = file_size(repo.fs, path)
        disposition = attachment_disposition(posixpath.basename(path))
        return download_response(self._signed_url(repo, path, expiration, read=True, content_disposition=disposition), size)

    def upload_url(self, repo, path: str, expiration: int) -> tuple[str, dict[str, str]]:
        """A write SAS URL for ``Put Blob`` and the headers it needs (blob type, Content-Type)."""
        headers = {"x-ms-blob-type": "BlockBlob", "Content-Type": content_type(path)}
        return self._signed_url(repo, path, expiration, write=True), headers

    @staticmethod
    def _signed_url(repo, path: str, seconds: int, **sas_options) -> str:
        """``<blob endpoint>/<container>/<blob>?<SAS>`` for the permissions in ``sas_options``."""
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        fs = repo.fs
        container, blob = _split(fs, path)
        credential = fs.service_client.credential
        if not getattr(credential, "account_key", None):
            raise CannotSign("presigning needs the storage account key")
        permissions = {name: sas_options.pop(name) for name in ("read", "write") if name in sas_options}
        if permissions.get("write"):
            permissions["create"] = True
        sas = generate_blob_sas(
            credential.account_name, container, blob, account_key=credential.account_key,
            permission=BlobSasPermissions(**permissions),
            expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds),
            **sas_options,
        )  # fmt: skip
        base = fs.service_client.url.rstrip("/")
        return f"{base}/{urllib.parse.quote(container)}/{urllib.parse.quote(blob)}?{sas}"


def _quoted_block_id(prefix: str, number: int) -> str:
    return urllib.parse.quote(base64.b64encode(f"{prefix}-{number:05d}".encode()).decode(), safe="")


def _split(fs, path: str) -> tuple[str, str]:
    container, _, blob = fs._strip_protocol(path).partition("/")
    if not blob:
        raise ValueError(f"{path!r} names a container, not a blob")
    return container, blob


def _run(fs, coroutine_function):
    """Run an adlfs coroutine on the filesystem's own event loop (its clients live there)."""
    from fsspec.asyn import sync

    target = getattr(fs, "_fs", fs)  # a BoundedCalls wrapper
    return sync(target.loop, coroutine_function)
