"""S3 client adjustments (s3fs/botocore): no ``Expect: 100-continue``, parts in a sliding
window, end-to-end digests (Content-MD5, recorded part sizes, what each upload published),
the SSE rule for ETags, and aborting the multipart uploads interrupted uploads left."""

from __future__ import annotations

import contextvars
import os


def s3_without_expect_continue(fs) -> None:
    """Build the s3fs client now (no network I/O) and drop botocore's ``Expect:
    100-continue`` header: aiohttp waits for the 100 response with no timeout, so a PUT to a
    server that went silent would hang past MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT."""
    from botocore.handlers import add_expect_header

    fs.connect()
    fs.s3.meta.events.unregister("before-call.s3", add_expect_header)


def s3_client_setup(fs) -> None:
    """The S3 rows' ``prepare``: no ``Expect: 100-continue``, parts sent in a sliding window
    (files) or while the next fills (streamed writes, :mod:`.s3_streamed`), and end-to-end
    digests (:func:`s3_end_to_end_digests`)."""
    from .s3_streamed import s3_streamed_parts_in_flight

    s3_without_expect_continue(fs)
    s3_parts_in_a_sliding_window(fs)
    s3_streamed_parts_in_flight(fs)
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


#: user metadata of artifact_fs's own multipart uploads: the part size (bytes) every part
#: but the last has, so the object's ETag (``md5(part md5s)-N``) can be recomputed from a file
S3_PART_SIZE_METADATA = "artifact-fs-part-size"
#: what this client's own PutObject / CompleteMultipartUpload calls published, by
#: ``bucket/key`` (an LRU on the filesystem instance; see :func:`s3_published`)
S3_PUBLISHED_ATTR = "_artifact_fs_published_etags"
S3_PUBLISHED_REMEMBERED = 4096
_S3_PART_SIZE: contextvars.ContextVar = contextvars.ContextVar("artifact_fs_s3_part_size", default=None)
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

    from ..lru import LRU

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
        events.register(
            f"before-parameter-build.s3.{operation}", _s3_content_md5, unique_id=f"artifact_fs-content-md5-{operation}"
        )
    events.register(
        "before-parameter-build.s3.CreateMultipartUpload", _s3_record_part_size, unique_id="artifact_fs-part-size"
    )
    for operation in ("PutObject", "UploadPart", "CompleteMultipartUpload"):
        events.register(
            f"before-parameter-build.s3.{operation}", remember_request, unique_id=f"artifact_fs-request-{operation}"
        )
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
