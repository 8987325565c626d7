"""Azure Blob (``wasbs://``) and ADLS Gen2 (``abfss://``) on adlfs: what happens for Azure.

* **URIs.** ``wasbs://<container>@<account>.blob.core.windows.net[/<path>]`` (also the
  China and US Government clouds) and ``abfss://<filesystem>@<account>.dfs.core.windows.net``
  (any suffix; its path percent-decoded, as MLflow does). Both go to the blob endpoint.
* **Settings** (:data:`AZURE_SETTINGS`): the same credentials for both, in MLflow's order
  (connection string, access key, SAS, then adlfs's service principal, else
  DefaultAzureCredential), every ``AZURE_STORAGE_*`` variable adlfs would read by itself
  decided here; the transfer timeout server-side, client-side, for listings, and no retry of
  an upload that timed out.
* **Client** (:func:`azure_client_setup`, the rows' ``prepare``): no azure-core retries (the
  budget is artifact_fs's), the SDK's transfer sizes (:data:`AZURE_SDK_SIZES`), blob names
  carried exactly (``?``, ``#``, trailing spaces: adlfs would parse them as URL parts or
  strip them, and its ``rm`` would glob), a directory listed in one request.
* **Transfers**: 4 blocks of a blob in flight; Content-Type/-Encoding guessed; the listed
  Content-MD5 checked (blobs up to 16 MiB carry one; larger ones are checked by size).
* **Server**: :class:`AzureBlobPresigner` signs with the account key (SAS); without one,
  clients go through the server's streamed uploads and proxied downloads.
"""

from __future__ import annotations

import base64
import datetime
import os
import posixpath
import urllib.parse
import uuid
from collections.abc import Mapping

from ..bounded_calls import BoundedCalls
from ..presign import (
    PART_URL_SECONDS,
    CannotSign,
    Presigner,
    attachment_disposition,
    content_type,
    download_response,
    file_size,
)
from ..rows import (
    SKIP,
    Client,
    PathTraits,
    Scheme,
    ServerCapabilities,
    Setting,
    StoreChecksum,
    TransferTuning,
    UriGrammar,
    as_timeout,
)
from ..settings import NO_LISTINGS_CACHE, TIMEOUT, parts_in_flight


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

#: The SDK's transfer sizes (adlfs passes no option for them; set on its client by
#: :func:`azure_client_setup`). One PUT only up to 16 MiB: the SDK's 64 MiB is read whole and
#: copied; larger blobs list no Content-MD5 and are verified by size. Downloads in 8 MiB GETs:
#: the SDK's first GET is 32 MiB held whole, then 4 MiB ranges. Measured: benchmarks/README.md,
#: "The concurrency budget".
AZURE_SDK_SIZES = {"max_single_put_size": 16 * 2**20, "max_single_get_size": 8 * 2**20, "max_chunk_get_size": 8 * 2**20}


def azure_client_setup(fs) -> None:
    """The Azure rows' ``prepare``: no azure-core retries, the SDK transfer sizes of
    :data:`AZURE_SDK_SIZES`, blob names carried exactly, and a directory listed in one request.
    The hooks go on the adlfs instance itself, also when the opener wrapped it (``BoundedCalls``,
    under a transfer timeout): adlfs calls its own methods, never the wrapper's."""
    fs = _adlfs_instance(fs)
    azure_without_client_retries(fs)
    azure_sdk_sizes(fs, AZURE_SDK_SIZES)
    azure_exact_names(fs)
    azure_directory_listing_in_one_request(fs)


def _adlfs_instance(fs):
    """The filesystem inside the opener's ``BoundedCalls`` wrapper, or ``fs`` itself."""
    return fs._fs if isinstance(fs, BoundedCalls) else fs


EXACT_NAME_LOOKUPS = 16  #: names an Azure ``rm`` looks up at once (a name with ``?``, ``*``, ``[``: blob or glob?)


def azure_exact_names(fs) -> None:
    """Blob names may hold ``?``, ``#``, ``*``, ``[`` and trailing spaces; adlfs mangles them in
    three places:

    * every path goes through fsspec's ``infer_storage_options`` (``urlsplit``): ``r/a?b=c#d/f``
      becomes ``r/a#d/f?b=c``, and a name ending in ``?`` or ``#`` loses it (``r/?`` is ``r/``);
      ``split_path`` then cuts the name at ``?versionid=``, version-aware or not;
    * its listings keep the entries under the target with spaces stripped from both
      (``adlfs.utils.filter_blobs``): ``ls("r/a ")`` looks under ``r/a/`` and finds nothing;
    * ``rm`` reads a name holding ``?``, ``*`` or ``[`` as a glob: deleting ``r/?/f`` also
      deletes ``r/x/f``.

    On this instance only the scheme and the container (the URL's authority, read as adlfs
    reads it) are taken off a path, the rest is the blob name as given (``?versionid=``
    still names a version when the filesystem is version-aware); listings keep the entries
    under the exact target; and ``rm`` deletes a name that exists as that blob (or that
    directory), globbing only names that match nothing as they are."""
    if getattr(fs._strip_protocol, "exact_names", False):
        return  # an instance prepared already
    import asyncio
    from glob import has_magic  # what adlfs's _expand_path asks

    from adlfs.utils import match_blob_version
    from fsspec.asyn import sync_wrapper

    adlfs_strip_protocol, adlfs_details, adlfs_rm = fs._strip_protocol, fs._details, fs._rm
    schemes = tuple(f"{protocol}://" for protocol in ((fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol))

    def strip_protocol(path):
        if isinstance(path, list):
            return [strip_protocol(p) for p in path]
        rest = next((path[len(scheme) :] for scheme in schemes if path.startswith(scheme)), None)
        authority, slash, name = (path.lstrip("/") if rest is None else rest).partition("/")
        if "?" in authority or "#" in authority:  # no container name holds them: adlfs's own reading
            return adlfs_strip_protocol(path)
        return (adlfs_strip_protocol(schemes[0] + authority) + slash + name).lstrip("/")

    def split_path(path, delimiter="/", return_container=False, **_kwargs):
        if path in ("", delimiter):
            return "", "", None
        path = strip_protocol(path).lstrip(delimiter)
        if "/" not in path:
            return path, "", None
        container, name = path.split(delimiter, 1)
        version_id = None
        if fs.version_aware:
            name, _, version_id = name.partition("?versionid=")
        return container, name, version_id or None

    def parent(path):
        path = strip_protocol(path)
        if "/" not in path:
            return fs.root_marker
        return fs.root_marker + path.rsplit("/", 1)[0].lstrip(fs.root_marker)

    async def details(
        contents, delimiter="/", return_glob=False, target_path="", version_id=None, versions=False, **kwargs
    ):
        entries = await adlfs_details(contents, delimiter=delimiter, return_glob=return_glob, target_path="",
                                      version_id=version_id, versions=versions, **kwargs)  # fmt: skip
        if not target_path:
            return entries
        wanted = [e for e in entries if versions or match_blob_version(e, version_id)]
        exact = [e for e in wanted if e["name"] == target_path and e.get("type") == "file"]
        if exact:  # the target is a file: itself only (as filter_blobs)
            return exact
        prefix = target_path.strip(delimiter) + delimiter
        return [e for e in wanted if e["name"].strip(delimiter).startswith(prefix)]

    async def rm(path, recursive=False, maxdepth=None, delimiter="/", expand_path=True, **kwargs):
        paths = [path] if isinstance(path, str) else list(path)
        magic = [p for p in paths if has_magic(p)] if expand_path else []
        lookups = asyncio.Semaphore(EXACT_NAME_LOOKUPS)

        async def exists(p):
            async with lookups:
                return await fs._exists(p)

        existing = await asyncio.gather(*map(exists, magic))
        names = [p for p, found in zip(magic, existing) if found]
        if not names:
            return await adlfs_rm(path, recursive, maxdepth, delimiter, expand_path, **kwargs)
        patterns = [p for p in paths if p not in names]
        if recursive:  # what adlfs's _expand_path adds for a directory, without globbing
            for p in list(names):
                names += await fs._find(p, withdirs=True)
        await adlfs_rm(sorted(set(names)), delimiter=delimiter, expand_path=False, **kwargs)
        if patterns:
            await adlfs_rm(patterns, recursive, maxdepth, delimiter, expand_path, **kwargs)

    strip_protocol.exact_names = True
    fs._strip_protocol, fs.split_path, fs._parent, fs._details = strip_protocol, split_path, parent, details
    fs._rm, fs.rm = rm, sync_wrapper(rm, obj=fs)


def azure_sdk_sizes(fs, sizes: Mapping[str, int]) -> None:
    """Set the SDK's transfer sizes (``max_single_put_size``, ``max_chunk_get_size``...),
    which adlfs passes no option for, on its client's config object: every container and
    blob client adlfs derives from the service client shares it."""
    config = fs.service_client._config
    for name, value in sizes.items():
        setattr(config, name, value)


def azure_directory_listing_in_one_request(fs) -> None:
    """adlfs lists ``dir`` by asking for the names under the prefix ``dir`` (which returns the
    prefix ``dir/``) and then for the names under ``dir/``: two round trips per listing,
    twice MLflow's one (measured in benchmarks/README.md, "Other measurements"). This asks for ``dir/`` at once
    and hands the items to adlfs's own ``_details``, so entries are shaped exactly as adlfs
    shapes them. Anything else (a file, a missing path, an empty directory, a container
    root, versions, globs) finds nothing under ``dir/`` or is not a plain listing, and goes
    to adlfs's own ``_ls_blobs``."""
    if getattr(fs._ls_blobs, "one_request", False):
        return  # fsspec's cache handed back an instance prepared already
    import errno

    from azure.core.exceptions import ResourceNotFoundError

    adlfs_ls_blobs = fs._ls_blobs

    async def ls_blobs(
        target_path, container, path, delimiter="/", return_glob=False, version_id=None, versions=False, **kwargs
    ):
        prefix = path.strip("/")
        if not prefix or return_glob or version_id or versions or delimiter != "/" or fs.version_aware:
            return await adlfs_ls_blobs(
                target_path, container, path, delimiter, return_glob, version_id, versions, **kwargs
            )
        async with fs.service_client.get_container_client(container=container) as client:
            try:
                children = [
                    item async for item in client.walk_blobs(include=["metadata"], name_starts_with=prefix + "/")
                ]
            except ResourceNotFoundError:
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), target_path) from None
        if not children:
            return await adlfs_ls_blobs(
                target_path, container, path, delimiter, return_glob, version_id, versions, **kwargs
            )
        return await fs._details(children, target_path=target_path)

    ls_blobs.one_request = True
    fs._ls_blobs = ls_blobs


def azure_without_client_retries(fs) -> None:
    """Switch azure-core's own retries off (adlfs passes no option for it to downloads and
    listings): artifact_fs's budget (ARTIFACT_FS_RETRIES) is the one retry layer, and a
    hung server fails a download after one read timeout, not after four."""
    policy = fs.service_client._config.retry_policy  # the object in the client's pipeline
    policy.total_retries = policy.connect_retries = policy.read_retries = policy.status_retries = 0


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


ROWS = (
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
