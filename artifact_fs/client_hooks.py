"""Client hooks the scheme table names: small functions on an opened filesystem that set
up what no constructor argument reaches, or probe its state. They are referenced by rows of
:mod:`artifact_fs.backends` (``prepare``, ``connection_probe``, checksum rules) and hold no
table data themselves.
"""

from __future__ import annotations

import os
from typing import Mapping

def ftp_connection_lost(fs) -> bool:
    """True when an FTPFileSystem's control connection cannot serve another command: closed,
    timed out (ftplib's socket file refuses reads after a timeout), or holding unread bytes
    while idle (a server's ``421`` goodbye, or the late reply to a timed-out command).
    Looks at local state only; sends nothing."""
    import select

    ftp = fs.ftp
    socket_file = getattr(getattr(ftp.file, "buffer", None), "raw", None)  # text → buffered → SocketIO
    if ftp.sock is None or getattr(socket_file, "_timeout_occurred", False):
        return True
    return bool(select.select([ftp.sock], [], [], 0)[0])


def s3_without_expect_continue(fs) -> None:
    """Build the s3fs client now (no network I/O) and drop botocore's ``Expect:
    100-continue`` header: aiohttp waits for the 100 response with no timeout, so a PUT to a
    server that went silent would hang past MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT."""
    from botocore.handlers import add_expect_header

    fs.connect()
    fs.s3.meta.events.unregister("before-call.s3", add_expect_header)


def s3_client_setup(fs) -> None:
    """The S3 rows' ``prepare``: no ``Expect: 100-continue``, parts sent in a sliding window,
    and end-to-end digests (:func:`s3_end_to_end_digests`)."""
    s3_without_expect_continue(fs)
    s3_parts_in_a_sliding_window(fs)
    s3_end_to_end_digests(fs)


def s3_parts_in_a_sliding_window(fs) -> None:
    """s3fs sends a big file's parts in waves: it reads ``max_concurrency`` parts, sends them
    together and waits for the slowest before reading the next wave, so the link idles at the
    tail of every wave (on SeaweedFS 2 parts in waves were slower than 1). This keeps
    ``max_concurrency`` parts in flight all the time: the next part is read as soon as one is
    sent, so at most that many parts are in memory. A failed part cancels the others before
    the error reaches s3fs, which aborts the multipart upload."""
    if getattr(fs._upload_file_part_concurrent, "sliding_window", False):
        return  # fsspec's cache handed back an instance prepared already
    import asyncio

    from fsspec.callbacks import DEFAULT_CALLBACK

    async def upload_parts(bucket, key, mpu, f0, chunksize, callback=DEFAULT_CALLBACK, max_concurrency=None):
        in_flight = max_concurrency or fs.max_concurrency
        if in_flight < 1:
            raise ValueError("max_concurrency must be >= 1")
        etags: dict[int, dict] = {}

        async def send(number: int, body: bytes) -> None:
            etags[number] = await fs._call_s3(
                "upload_part", Bucket=bucket, Key=key, PartNumber=number, UploadId=mpu["UploadId"], Body=body
            )
            callback.relative_update(len(body))

        pending: set = set()
        try:
            number = 0
            while body := f0.read(chunksize):
                number += 1
                pending.add(asyncio.ensure_future(send(number, body)))
                del body  # the task holds the only reference: memory is in_flight parts
                if len(pending) >= in_flight:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        task.result()
            if pending:
                await asyncio.gather(*pending)
                pending = set()
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
                for task in pending:  # retrieved, so asyncio logs no "never retrieved"
                    task.cancelled() or task.exception()
        return [etags[part] for part in range(1, number + 1)]

    upload_parts.sliding_window = True
    fs._upload_file_part_concurrent = upload_parts


def s3_etag_is_md5(fs, path: str) -> bool:
    """False when the object is encrypted with SSE-KMS or SSE-C: its ETag is then no MD5 of
    the content (asked only after a mismatch, so it costs one HEAD in that rare case)."""
    bucket, key, _version = fs.split_path(path)
    head = fs.call_s3("head_object", Bucket=bucket, Key=key, **fs.req_kw)
    return head.get("ServerSideEncryption") not in ("aws:kms", "aws:kms:dsse") and not head.get("SSECustomerAlgorithm")


import contextvars as _contextvars  # noqa: E402 - the S3 digest hooks' own state, kept beside them

#: user metadata of artifact_fs's own multipart uploads: the part size (bytes) every part
#: but the last has, so the object's ETag (``md5(part md5s)-N``) can be recomputed from a file
S3_PART_SIZE_METADATA = "artifact-fs-part-size"
#: what this client's own PutObject / CompleteMultipartUpload calls published, by
#: ``bucket/key`` (an LRU on the filesystem instance; see :func:`s3_published`)
S3_PUBLISHED_ATTR = "_artifact_fs_published_etags"
S3_PUBLISHED_REMEMBERED = 4096
_S3_PART_SIZE: _contextvars.ContextVar = _contextvars.ContextVar("artifact_fs_s3_part_size", default=None)
#: bodies at least this big are hashed in a worker thread (hashlib releases the GIL), not on
#: s3fs's event loop, where it would hold back the other parts in flight
_HASH_IN_THREAD_BYTES = 2**20


def s3_end_to_end_digests(fs) -> None:
    """Make every byte artifact_fs's S3 client sends checkable by the store, and what the store
    made of it checkable afterwards:

    * ``Content-MD5`` on every PutObject and UploadPart whose body is in memory (s3fs sends
      bytes): a store that honours it (AWS, SeaweedFS, MinIO, R2...) refuses a body
      corrupted on the way with ``BadDigest`` and stores nothing; botocore's CRC32 (when
      on) is sent too;
    * s3fs's ``put_file`` records its part size in the object's user metadata
      (:data:`S3_PART_SIZE_METADATA`) at CreateMultipartUpload, so the multipart ETag can be
      recomputed from a local file (:mod:`artifact_fs.integrity`);
    * what each PutObject / CompleteMultipartUpload published is remembered by key
      (:func:`s3_published`): the ETag the store returned, and whether the store's ETags
      (of the object, or of each part) are the MD5s of the bodies sent. After a mismatch,
      an object whose ETag is still the one returned is this client's own, corrupted,
      upload (a store that ignores Content-MD5, like moto), not a newer writer's, and may be
      deleted; :func:`artifact_fs.integrity.verify_written` decides that for streamed writes.

    Nothing here fails a call: the decisions are :mod:`artifact_fs.integrity`'s, under the
    transfer policy (``ARTIFACT_FS_VERIFY=size`` turns them off)."""
    from fsspec.asyn import sync_wrapper

    from ._lru import LRU

    if not hasattr(fs, S3_PUBLISHED_ATTR):
        setattr(fs, S3_PUBLISHED_ATTR, LRU(S3_PUBLISHED_REMEMBERED))
        setattr(fs, _S3_PARTS_ATTR, LRU(S3_PUBLISHED_REMEMBERED))
    published, parts = getattr(fs, S3_PUBLISHED_ATTR), getattr(fs, _S3_PARTS_ATTR)
    events = fs.s3.meta.events

    def remember_request(params, context, **_kwargs):
        context["artifact_fs_key"] = f"{params.get('Bucket')}/{params.get('Key')}"
        context["artifact_fs_upload"] = params.get("UploadId")
        context["artifact_fs_part"] = params.get("PartNumber")
        listed = (params.get("MultipartUpload") or {}).get("Parts") or []
        context["artifact_fs_parts"] = [part.get("PartNumber") for part in listed]

    def remember_part(parsed, context, **_kwargs):
        etag, upload = _etag(parsed), context.get("artifact_fs_upload")
        if etag and upload and context.get("artifact_fs_part"):
            sent = parts.get(upload) or {}
            sent[context["artifact_fs_part"]] = (context.get("artifact_fs_md5"), etag, _encrypted(parsed))
            parts.put(upload, sent)

    def remember_object(parsed, context, model, **_kwargs):
        key, etag = context.get("artifact_fs_key"), _etag(parsed)
        if not key or not etag:
            return
        if model.name == "PutObject":
            sent = [(context.get("artifact_fs_md5"), etag, _encrypted(parsed))]
        else:
            by_number = parts.get(context.get("artifact_fs_upload")) or {}
            sent = [by_number.get(number, (None, None, False)) for number in context.get("artifact_fs_parts") or ()]
            parts.put(context.get("artifact_fs_upload"), None)  # completed: its parts are forgotten
        published.put(key, S3Published(etag, _intact(sent)))

    for operation in ("PutObject", "UploadPart"):
        events.register(f"before-parameter-build.s3.{operation}", _s3_content_md5, unique_id=f"artifact_fs-content-md5-{operation}")
    events.register("before-parameter-build.s3.CreateMultipartUpload", _s3_record_part_size, unique_id="artifact_fs-part-size")
    for operation in ("PutObject", "UploadPart", "CompleteMultipartUpload"):
        events.register(f"before-parameter-build.s3.{operation}", remember_request, unique_id=f"artifact_fs-request-{operation}")
    events.register("after-call.s3.UploadPart", remember_part, unique_id="artifact_fs-part")
    for operation in ("PutObject", "CompleteMultipartUpload"):
        events.register(f"after-call.s3.{operation}", remember_object, unique_id=f"artifact_fs-published-{operation}")

    if getattr(fs._put_file, "records_part_size", False):
        return  # fsspec's cache handed back an instance prepared already
    s3fs_put_file = fs._put_file

    async def put_file(lpath, rpath, *args, chunksize=None, **kwargs):
        try:
            size = os.path.getsize(lpath)
        except (OSError, TypeError):
            size = None
        token = _S3_PART_SIZE.set(_s3fs_part_size(size, chunksize)) if size else None
        try:
            return await s3fs_put_file(lpath, rpath, *args, chunksize=chunksize, **kwargs)
        finally:
            if token is not None:
                _S3_PART_SIZE.reset(token)

    put_file.records_part_size = True
    fs._put_file = put_file
    fs.put_file = sync_wrapper(put_file, obj=fs)  # fsspec bound the sync twin to the original at construction


_S3_PARTS_ATTR = "_artifact_fs_sent_parts"  #: (sent md5, returned ETag, encrypted) by part number, by UploadId


class S3Published(tuple):
    """What this client's own PutObject / CompleteMultipartUpload of a key published: the
    ETag the store returned (no quotes), and ``intact``: True when the store's ETag of every
    body sent (the object's, or each part's) is the MD5 of that body, False when one is a
    32-hex-digit MD5 of other bytes (corrupted on the way to a store that ignored
    Content-MD5), None when that cannot be told (encrypted, another ETag form, a body not
    hashed here)."""

    __slots__ = ()

    def __new__(cls, etag: str, intact: bool | None):
        return super().__new__(cls, (etag, intact))

    etag = property(lambda self: self[0])
    intact = property(lambda self: self[1])


def _etag(parsed) -> str | None:
    etag = (parsed or {}).get("ETag")
    return str(etag).strip().strip('"').lower() if etag else None


def _encrypted(parsed) -> bool:
    return bool((parsed or {}).get("ServerSideEncryption") or (parsed or {}).get("SSECustomerAlgorithm"))


def _intact(sent) -> bool | None:
    """``S3Published.intact`` from ``(md5 sent, ETag returned, encrypted)`` per body."""
    verdicts = set()
    for md5, etag, encrypted in sent:
        if not md5 or not etag or encrypted or not _is_md5_hex(etag):
            verdicts.add(None)
        else:
            verdicts.add(md5 == etag)
    if False in verdicts:
        return False
    return True if verdicts == {True} else None


def _s3fs_part_size(size: int, chunksize: int | None) -> int:
    """The part size s3fs's ``put_file`` uses for a file of ``size`` bytes."""
    try:
        from s3fs.core import calculate_chunksize
    except ImportError:  # pragma: no cover - s3fs releases before the helper
        return chunksize or 50 * 2**20
    return calculate_chunksize(size, chunksize=chunksize)


async def _s3_content_md5(params, context, **_kwargs):
    body = params.get("Body")
    if params.get("ContentMD5") or not isinstance(body, (bytes, bytearray, memoryview)):
        return
    import asyncio
    import base64
    import hashlib

    if len(body) >= _HASH_IN_THREAD_BYTES:
        digest = (await asyncio.to_thread(hashlib.md5, body, usedforsecurity=False)).digest()
    else:
        digest = hashlib.md5(body, usedforsecurity=False).digest()
    params["ContentMD5"] = base64.b64encode(digest).decode("ascii")
    context["artifact_fs_md5"] = digest.hex()


def _is_md5_hex(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


def _s3_record_part_size(params, **_kwargs):
    part_size = _S3_PART_SIZE.get()
    if part_size:
        params["Metadata"] = {**(params.get("Metadata") or {}), S3_PART_SIZE_METADATA: str(part_size)}


def s3_published(fs, path: str) -> S3Published | None:
    """What this filesystem's own last PutObject / CompleteMultipartUpload of ``path``
    published, if remembered (see :class:`S3Published`)."""
    published = getattr(fs, S3_PUBLISHED_ATTR, None)
    if published is None:
        return None
    bucket, key, _version = fs.split_path(path)
    return published.get(f"{bucket}/{key}")


def s3_recorded_part_size(fs, path: str) -> int | None:
    """The part size artifact_fs's upload recorded in the object's metadata (one HEAD), or None."""
    bucket, key, version = fs.split_path(path)
    head = fs.call_s3("head_object", Bucket=bucket, Key=key, **({"VersionId": version} if version else {}), **fs.req_kw)
    value = (head.get("Metadata") or {}).get(S3_PART_SIZE_METADATA)
    try:
        return int(value) if value else None
    except ValueError:
        return None


#: HEAD requests in flight while asking a multipart object for its part sizes
S3_PART_HEADS_IN_FLIGHT = 16


def s3_part_sizes(fs, path: str, parts: int, size: int) -> tuple[int, ...] | None:
    """The size of each of the ``parts`` parts of a multipart object (``HEAD ?partNumber=k``,
    one per part, asked only when no guessed part size explains its ETag), or None when the
    store does not say (the sizes must add up to ``size``)."""
    import asyncio

    from fsspec.asyn import sync

    bucket, key, version = fs.split_path(path)
    extra = {"VersionId": version} if version else {}

    async def ask() -> list[int]:
        gate = asyncio.Semaphore(S3_PART_HEADS_IN_FLIGHT)

        async def one(number: int) -> int:
            async with gate:
                head = await fs._call_s3("head_object", Bucket=bucket, Key=key, PartNumber=number, **extra, **fs.req_kw)
            if head.get("PartsCount") not in (None, parts):
                raise ValueError("another part count")
            return int(head["ContentLength"])

        return list(await asyncio.gather(*(one(n) for n in range(1, parts + 1))))

    try:
        sizes = sync(fs.loop, ask)
    except Exception:  # noqa: BLE001 - a store that does not answer part numbers: unknown
        return None
    if sum(sizes) != size or min(sizes) <= 0 or (parts > 1 and sizes[0] == size):
        return None
    return tuple(sizes)


def sftp_put_skipping_made_parents(fs) -> None:
    """sshfs's ``put_file`` makes the parent directory before every file, and asyncssh's
    ``makedirs`` stats every component of the path: ~8 round trips per file, 80 % of a
    200-file upload. artifact_fs's uploads make each parent once, before the batch
    (``transfer.upload``), and pass ``parents_exist=True`` (the row's upload option); any
    other caller of the (possibly cached) instance gets sshfs's own behaviour."""
    if getattr(fs._put_file, "skips_made_parents", False):
        return  # fsspec's cache handed back an instance prepared already
    from sshfs.utils import WRITE_BLOCK_SIZE, wrap_exceptions

    sshfs_put_file = fs._put_file

    @wrap_exceptions
    async def put_file(lpath, rpath, parents_exist=False, block_size=WRITE_BLOCK_SIZE, **kwargs):
        if not parents_exist:
            return await sshfs_put_file(lpath, rpath, block_size=block_size, **kwargs)
        async with fs._pool.get() as channel:
            await channel.put(lpath, rpath, block_size=block_size)

    put_file.skips_made_parents = True
    fs._put_file = put_file


def azure_client_setup(fs, sdk_sizes: Mapping[str, int]) -> None:
    """The Azure rows' ``prepare``: no azure-core retries, the SDK transfer sizes the row
    names (``sdk_sizes``), blob names carried exactly, and a directory listed in one request.
    The hooks go on the adlfs instance itself, also when the opener wrapped it (``BoundedCalls``,
    under a transfer timeout): adlfs calls its own methods, never the wrapper's."""
    fs = _adlfs_instance(fs)
    azure_without_client_retries(fs)
    azure_sdk_sizes(fs, sdk_sizes)
    azure_exact_names(fs)
    azure_directory_listing_in_one_request(fs)


def _adlfs_instance(fs):
    """The filesystem inside the opener's ``BoundedCalls`` wrapper, or ``fs`` itself."""
    from .opener import BoundedCalls  # imported here: the opener imports the table, which imports this

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
        rest = next((path[len(scheme):] for scheme in schemes if path.startswith(scheme)), None)
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

    async def details(contents, delimiter="/", return_glob=False, target_path="", version_id=None, versions=False, **kwargs):
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
    twice MLflow's one (8 ms more per listing on Azurite). This asks for ``dir/`` at once
    and hands the items to adlfs's own ``_details``, so entries are shaped exactly as adlfs
    shapes them. Anything else (a file, a missing path, an empty directory, a container
    root, versions, globs) finds nothing under ``dir/`` or is not a plain listing, and goes
    to adlfs's own ``_ls_blobs``."""
    if getattr(fs._ls_blobs, "one_request", False):
        return  # fsspec's cache handed back an instance prepared already
    import errno

    from azure.core.exceptions import ResourceNotFoundError

    adlfs_ls_blobs = fs._ls_blobs

    async def ls_blobs(target_path, container, path, delimiter="/", return_glob=False, version_id=None, versions=False, **kwargs):
        prefix = path.strip("/")
        if not prefix or return_glob or version_id or versions or delimiter != "/" or fs.version_aware:
            return await adlfs_ls_blobs(target_path, container, path, delimiter, return_glob, version_id, versions, **kwargs)
        async with fs.service_client.get_container_client(container=container) as client:
            try:
                children = [item async for item in client.walk_blobs(include=["metadata"], name_starts_with=prefix + "/")]
            except ResourceNotFoundError:
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), target_path) from None
        if not children:
            return await adlfs_ls_blobs(target_path, container, path, delimiter, return_glob, version_id, versions, **kwargs)
        return await fs._details(children, target_path=target_path)

    ls_blobs.one_request = True
    fs._ls_blobs = ls_blobs


def azure_without_client_retries(fs) -> None:
    """Switch azure-core's own retries off (adlfs passes no option for it to downloads and
    listings): artifact_fs's budget (ARTIFACT_FS_RETRIES) is the one retry layer, and a
    hung server fails a download after one read timeout, not after four."""
    policy = fs.service_client._config.retry_policy  # the object in the client's pipeline
    policy.total_retries = policy.connect_retries = policy.read_retries = policy.status_retries = 0


FTP_STREAM_BLOCK = 2**20  #: bytes per socket write of a streamed STOR


def ftp_whole_file_transfers(fs) -> None:
    """fsspec's FTP moves a file through a buffered file object: on upload one ``STOR`` (a new
    data connection, a ``REST`` seek on the server) per block with the block held in memory,
    on download one ``RETR`` + ``ABOR`` per read-ahead block. ``put_file``/``get_file`` stream
    the file in a single ``STOR``/``RETR`` instead, as ftplib and MLflow's FTP repository do:
    1 GiB is one data connection and 1 MiB in flight. With ``parents_exist`` (artifact_fs
    made them before the batch) no directory is checked."""
    if getattr(fs.put_file, "skips_made_parents", False):
        return  # fsspec's cache handed back an instance prepared already

    def put_file(lpath, rpath, callback=None, parents_exist=False, **_kwargs):
        path = fs._strip_protocol(rpath)
        parent = fs._parent(path)
        if not parents_exist and parent:
            fs.makedirs(parent, exist_ok=True)
        with open(lpath, "rb") as source:
            if callback is not None:
                callback.set_size(os.fstat(source.fileno()).st_size)
            fs.ftp.storbinary(f"STOR {path}", source, blocksize=FTP_STREAM_BLOCK, callback=_progress(callback))
        fs.invalidate_cache(parent)

    def get_file(rpath, lpath, callback=None, **_kwargs):
        progress = _progress(callback)
        with open(lpath, "wb") as target:

            def write(block: bytes) -> None:
                target.write(block)
                if progress is not None:
                    progress(block)

            fs.ftp.retrbinary(f"RETR {fs._strip_protocol(rpath)}", write, blocksize=FTP_STREAM_BLOCK)

    put_file.skips_made_parents = True
    fs.put_file, fs.get_file = put_file, get_file


def ftp_client_setup(fs) -> None:
    """The FTP row's ``prepare``: a file in one streamed STOR/RETR, directories made by MKD."""
    ftp_whole_file_transfers(fs)
    ftp_makedirs_by_mkd(fs)


def ftp_makedirs_by_mkd(fs) -> None:
    """fsspec's FTP ``makedirs`` asks whether a level exists (a listing of its parent) before
    its ``MKD``, and asking about a missing level lists every level above it: a new 100-level
    path cost 10,000 listings (17 s), a 400-level one 160,000 (396 s). Between the
    question and the MKD another connection can make the directory: 8 threads logging into
    one new directory failed with ``550 File exists``.

    This ``makedirs`` sends ``MKD`` first and asks afterwards, with ``CWD`` (one command, no
    data connection): a refused MKD whose directory is there now lost a race to another
    creator, which is success (so is ``521``, some servers' "already exists"). When levels
    above are missing too, the deepest existing one is found by bisection with CWD and the
    rest made top-down, one MKD each (400 new levels: 412 commands, 3-5 s on pyftpdlib, which
    resolves every level of a path on each command). A refusal that leaves
    no directory is a ``PermissionError`` naming the directory and the server's reply, or a
    ``FileExistsError``/``NotADirectoryError`` when a file is in the way (one listing, on
    that error only). The connection's working directory is restored after probing."""
    if getattr(fs.makedirs, "mkd_first", False):
        return  # fsspec's cache handed back an instance prepared already
    import errno
    from ftplib import all_errors, error_perm

    def makedirs(path, exist_ok=False):
        path = fs._strip_protocol(path)
        parts = [part for part in path.split("/") if part]
        levels = ["/" + "/".join(parts[: depth + 1]) for depth in range(len(parts))]
        home: list[str] = []  # the working directory before the first CWD probe, once one moved it

        def is_dir(level: str) -> bool:
            if not home:
                home.append(fs.ftp.pwd())
            try:
                fs.ftp.cwd(level)
            except error_perm:
                return False
            home.append(level)
            return True

        def made(level: str) -> bool:
            """MKD ``level``: True if this call made it, False if it was (or just became) a directory."""
            try:
                fs.ftp.mkd(level)
            except error_perm as exc:
                if str(exc)[:3] == "521" or is_dir(level):
                    return False
                return refused(level, exc)
            fs.invalidate_cache(fs._parent(level))
            return True

        def refused(level: str, exc: error_perm) -> bool:
            parent = fs._parent(level)
            fs.invalidate_cache(parent)
            try:
                entry = next((e for e in fs.ls(parent) if fs._strip_protocol(e["name"]) == level), None)
            except all_errors:
                entry = None
            if entry is not None and entry.get("type") == "directory":
                return False  # there, but this login may not enter it
            if entry is not None:
                kind, code = (FileExistsError, errno.EEXIST) if level == path else (NotADirectoryError, errno.ENOTDIR)
                raise kind(code, f"a file is in the way of the directory ({exc})", level)
            raise PermissionError(errno.EACCES, f"the FTP server refused to create the directory ({exc})", level)

        if not levels:  # "/": always there
            made_it = False
        else:
            try:
                try:
                    fs.ftp.mkd(path)  # the parent usually exists: one command
                    fs.invalidate_cache(fs._parent(path))
                    made_it = True
                except error_perm as exc:
                    made_it = False
                    if not (str(exc)[:3] == "521" or is_dir(path)):
                        exists, missing = -1, len(levels) - 1  # levels[:exists + 1] are directories
                        while missing - exists > 1:
                            middle = (exists + missing) // 2
                            exists, missing = (middle, missing) if is_dir(levels[middle]) else (exists, middle)
                        for level in levels[exists + 1 :]:
                            made_it = made(level)
            finally:
                if len(home) > 1 and not ftp_connection_lost(fs):
                    try:
                        fs.ftp.cwd(home[0])
                    except all_errors:
                        pass  # every path sent is absolute: a lost working directory harms nothing
        if not made_it and not exist_ok:
            raise FileExistsError(errno.EEXIST, "directory exists", path)

    makedirs.mkd_first = True
    fs.makedirs = makedirs


def _progress(callback):
    return (lambda block: callback.relative_update(len(block))) if callback is not None else None


def s3_abort_stale_uploads(fs, paths: list[str], since: float) -> int:
    """The S3 rows' ``abort_stale_uploads``: abort the incomplete multipart uploads of exactly
    these keys that began before ``since`` (an interrupted upload's parts, invisible and
    billed); one listing request per key. Returns how many were aborted."""
    aborted = 0
    for path in paths:
        bucket, key, _version = fs.split_path(path)
        listed = fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=key)
        for upload in listed.get("Uploads", []):
            initiated = upload.get("Initiated")
            begun = initiated.timestamp() if hasattr(initiated, "timestamp") else 0.0
            if upload.get("Key") == key and begun < since:
                fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload["UploadId"])
                aborted += 1
    return aborted
