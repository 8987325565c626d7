"""Azure Blob (``wasbs://``) and ADLS Gen2 (``abfss://``) on adlfs: what happens for Azure.

* **URIs.** ``wasbs://<container>@<account>.blob.core.windows.net[/<path>]`` (also the
  China and US Government clouds) and ``abfss://<filesystem>@<account>.dfs.core.windows.net``
  (any suffix; its path percent-decoded, as MLflow does). Both go to the blob endpoint.
* **Settings** (:data:`AZURE_SETTINGS`): the same credentials for both, in MLflow's order
  (connection string, access key, SAS, then adlfs's service principal, else
  DefaultAzureCredential), every ``AZURE_STORAGE_*`` variable adlfs would read by itself
  decided here; the transfer timeout server-side, client-side, for listings, and no retry of
  an upload that timed out.
* **Client** (:mod:`artifact_fs.backends.azure_client`, the rows' ``prepare``): no azure-core retries (the
  budget is artifact_fs's), the SDK's transfer sizes (``AZURE_SDK_SIZES``), blob names
  carried exactly (``?``, ``#``, trailing spaces: adlfs would parse them as URL parts or
  strip them, and its ``rm`` would glob), a directory listed in one request.
* **Transfers**: 4 blocks of a blob in flight; Content-Type/-Encoding guessed; the listed
  Content-MD5 checked (blobs up to 16 MiB carry one; larger ones are checked by size).
* **Server**: :class:`AzureBlobPresigner` signs with the account key (SAS); without one,
  clients go through the server's streamed uploads and proxied downloads.
* **Engine**: ``ARTIFACT_FS_ENGINE=obstore`` (profile key ``engine``) picks the same rows on
  obstore (:mod:`artifact_fs.backends.azure_obstore`: its settings; sizes checked only).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import posixpath
import urllib.parse
import uuid

from ..converters import SKIP, as_timeout
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
from ..settings import ENGINE_VAR, NO_LISTINGS_CACHE, TIMEOUT, parts_in_flight
from . import azure_obstore
from .azure_client import azure_client_setup


def _no_retry(value: str):
    """0 retries when a timeout is set (``-1``, no timeout, sets nothing)."""
    return SKIP if as_timeout(value) is None else 0


# Both Azure schemes take the same credentials, in MLflow's order (connection string, then
# access key, then DefaultAzureCredential) with MLflow's ADLS variable (SAS) and adlfs's
# own names slotted in before DefaultAzureCredential. adlfs reads every AZURE_STORAGE_*
# variable itself (``value or os.getenv(...)``: no explicit empty value stops it), so each
# is a row here: visible in ``sources``, in fsspec's cache key, and ignored by adlfs once a
# row above it is set.
_CS, _ACCESS, _ACCOUNT_KEY, _SAS = (
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
)
AZURE_SETTINGS = (
    Setting(_CS, "connection_string", secret=True, doc="checked first; its account and endpoint win over the URI's"),
    Setting(_ACCESS, "account_key", secret=True, unless=(_CS,), doc="MLflow's name for the account key"),
    Setting(_ACCOUNT_KEY, "account_key", secret=True, unless=(_CS, _ACCESS), doc="adlfs's name for the account key"),
    Setting(_SAS, "sas_token", secret=True, unless=(_CS, _ACCESS, _ACCOUNT_KEY), doc="MLflow's ADLS variable"),
    Setting(
        "AZURE_STORAGE_CLIENT_ID",
        "client_id",
        unless=(_CS, _ACCESS, _ACCOUNT_KEY, _SAS),
        doc="adlfs's service principal, with the next two; none set: DefaultAzureCredential",
    ),
    Setting("AZURE_STORAGE_CLIENT_SECRET", "client_secret", secret=True, unless=(_CS, _ACCESS, _ACCOUNT_KEY, _SAS)),
    Setting("AZURE_STORAGE_TENANT_ID", "tenant_id", unless=(_CS, _ACCESS, _ACCOUNT_KEY, _SAS)),
    Setting(TIMEOUT, "timeout", as_timeout, doc="server-side limit per upload/download request, as MLflow's"),
    Setting(TIMEOUT, "connection_timeout", as_timeout),
    Setting(
        TIMEOUT, "read_timeout", as_timeout, doc="client-side, per upload/download attempt (azure-core's default: 60 s)"
    ),
    Setting(
        TIMEOUT,
        "upload:retry_read",
        _no_retry,
        doc="an upload that timed out is not retried, so a stalled server fails it after about that many seconds...",
    ),
    Setting(
        TIMEOUT,
        "upload:retry_connect",
        _no_retry,
        doc="...(adlfs passes no per-call option to downloads: those still get azure-core's retries)",
    ),
    Setting(
        TIMEOUT,
        "attr:call_timeout",
        as_timeout,
        doc=(
            "listings (info, ls, find) give up after it: adlfs gives them no timeout, azure-core waits 60 s per "
            "attempt, 4 attempts"
        ),
    ),
)

#: Who is calling: a profile that gives any of these replaces all of the environment's.
CREDENTIAL_VARIABLES = frozenset(
    {
        _CS,
        _ACCESS,
        _ACCOUNT_KEY,
        _SAS,
        "AZURE_STORAGE_CLIENT_ID",
        "AZURE_STORAGE_CLIENT_SECRET",
        "AZURE_STORAGE_TENANT_ID",
    }
)
#: Credentials adlfs falls back to by itself when no option is given (``value or os.getenv(...)``),
#: so leaving an option out cannot mask them.
CLIENT_READ_CREDENTIALS = (
    _CS,
    _ACCOUNT_KEY,
    _SAS,
    "AZURE_STORAGE_CLIENT_ID",
    "AZURE_STORAGE_CLIENT_SECRET",
    "AZURE_STORAGE_TENANT_ID",
)

#: Profile keys → the variables they stand for.
PROFILE_KEYS = {
    "connection_string": _CS,
    "account_key": _ACCESS,
    "sas_token": _SAS,
    "client_id": "AZURE_STORAGE_CLIENT_ID",
    "client_secret": "AZURE_STORAGE_CLIENT_SECRET",
    "tenant_id": "AZURE_STORAGE_TENANT_ID",
}


class AzureBlobPresigner(Presigner):
    """SAS URLs for block uploads, downloads and single PUTs, signed with the account key.

    A multipart upload is a block blob built from staged blocks: each part URL is a ``Put
    Block`` (``?comp=block&blockid=...``) on the blob, with a write SAS; completing commits
    the block list, recovering each block id from the URL the client echoes back (as MLflow's
    own Azure repository does, so ``upload_id`` is ``None``). Aborting has nothing to do:
    uncommitted blocks never become the blob and the service drops them. With a SAS token or
    Azure AD credentials (no account key) the repository claims none of the mixins.
    """

    mixins = ("MultipartUploadMixin", "MultipartDownloadMixin", "PresignedUploadMixin")

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
            MultipartUploadCredential(
                url=f"{url}&comp=block&blockid={_quoted_block_id(prefix, number)}", part_number=number, headers={}
            )
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
                raise ValueError(
                    f"part {part.part_number} carries no block URL: the client must send back each part's url"
                )
            block_ids.append(base64.b64decode(query["blockid"][0]).decode())  # the SDK encodes it again
        container, blob = _split(repo.fs, path)
        settings = ContentSettings(content_type=content_type(path))

        async def commit():
            async with repo.fs.service_client.get_blob_client(container, blob) as client:
                await client.commit_block_list(
                    [BlobBlock(block_id=block) for block in block_ids], content_settings=settings
                )

        _run(repo.fs, commit)
        repo.fs.invalidate_cache(path)

    def abort_multipart(self, repo, path: str, upload_id) -> None:
        """Nothing to do: uncommitted blocks are never visible and the service discards them."""

    def download_url(self, repo, path: str, expiration: int):
        """A read SAS URL (served as an attachment) and the blob's size."""
        size = file_size(repo.fs, path)
        disposition = attachment_disposition(posixpath.basename(path))
        return download_response(
            self._signed_url(repo, path, expiration, read=True, content_disposition=disposition), size
        )

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


_CLIENT = Client(
    protocol="abfs",
    impl="adlfs.AzureBlobFileSystem",
    extra="azure",
    settings=AZURE_SETTINGS + parts_in_flight("upload:max_concurrency", "download:max_concurrency"),
    # anon=False: adlfs would read AZURE_STORAGE_ANON. No instance cache: with no credential
    # variable adlfs builds a DefaultAzureCredential, which reads its own environment
    # (AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, ...) once; a new repository must see a new one.
    # 4 blocks of one blob in flight (adlfs's batched put/get would send 1 at a time).
    defaults={
        "anon": False,
        "skip_instance_cache": True,
        **NO_LISTINGS_CACHE,
        "upload:max_concurrency": 4,
        "download:max_concurrency": 4,
    },
    prepare=azure_client_setup,
    bounded_calls=("info", "exists", "isdir", "isfile", "ls", "find"),  # not rm: a bulk delete may take long
)
_TRANSFER = TransferTuning(
    content_headers=("content_settings.content_type", "content_settings.content_encoding"),
    checksum=StoreChecksum("content_settings.content_md5", "md5", "bytes"),  # set when the blob has one
)
# SAS from an account key; adlfs talks to the blob endpoint for abfss too
_SERVER = ServerCapabilities(presigner=AzureBlobPresigner())


_ROWS = (
    Scheme(
        "abfss",
        UriGrammar(
            "azure",
            form="`abfss://<filesystem>@<account>.dfs.core.windows.net[/<path>]` (any suffix)",
            host_pattern=r"(?P<container>[^@]+)@(?P<account>[^.]+)\.(?P<suffix>.+)",
            unquote_path=True,
        ),
        _CLIENT,
        PathTraits(),
        _TRANSFER,
        _SERVER,
        mlflow_builtin="mlflow.store.artifact.azure_data_lake_artifact_repo:AzureDataLakeArtifactRepository",
    ),
    Scheme(
        "wasbs",
        UriGrammar(
            "azure",
            form=(
                "`wasbs://<container>@<account>.blob.core.windows.net[/<path>]` (also `.chinacloudapi.cn`, "
                "`.usgovcloudapi.net`)"
            ),
            host_pattern=r"(?P<container>[^@]+)@(?P<account>[^.]+)\.(?P<suffix>blob\.core\.(windows\.net|chinacloudapi\.cn|usgovcloudapi\.net))",
        ),
        _CLIENT,
        PathTraits(),
        _TRANSFER,
        _SERVER,
        mlflow_builtin="mlflow.store.artifact.azure_blob_artifact_repo:AzureBlobArtifactRepository",
    ),
)

ROWS = tuple(
    dataclasses.replace(
        row, variant="fsspec", variant_var=ENGINE_VAR, alternatives={"obstore": azure_obstore.on_obstore(row)}
    )
    for row in _ROWS
)
