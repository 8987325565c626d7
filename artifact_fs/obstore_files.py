"""Streamed writes and errors on the obstore engine: :class:`ObstoreWriter`, what ``fs.open(path, "wb")``
returns (the tracking server's streamed uploads, ``runs://`` writes).

obstore's own writer (``open_writer``) says nothing when it closes; this one feeds obstore's
``put`` from a bounded queue so that the store's answer comes back: the ETag it gave the
object. The writer hashes what it sends, each part of ``block_size`` bytes (obstore cuts a
streamed multipart upload into exactly those) and the whole, so it knows the ETag the store
must answer with when the bytes arrived intact. What it published is remembered by the
filesystem (:class:`~artifact_fs.obstore_digests.Published`), so :func:`artifact_fs.integrity.verify_written` can delete
an object of ours whose bytes changed on the way, and a single PUT confirmed on receipt
costs no second request. :meth:`ObstoreWriter.discard` cancels the upload: nothing is
published. :func:`as_builtin_error` turns obstore's exceptions into the builtin ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any

#: smallest part S3 accepts (all but the last)
MIN_PART_BYTES = 5 * 2**20
#: blocks waiting to be sent while the caller writes the next one
QUEUED_BLOCKS = 1
#: parts of one streamed write on the way at once: each holds a block of the server's memory
#: (a proxied 1 GiB upload grew the server by 108 MiB with 2 blocks queued and 4 parts in
#: flight, over the 100 MiB the proxied-mode issue allows; benchmarks.server_big_file)
STREAMED_PARTS_IN_FLIGHT = 3


def as_builtin_error(exc: BaseException, path: str = "") -> BaseException:
    """obstore's exception as the builtin one fsspec callers expect (the cause is kept)."""
    from obstore import exceptions as ox

    if isinstance(exc, OSError) and not isinstance(exc, ox.BaseError):
        return exc  # FileNotFoundError, and errors of the local file system
    full = str(exc)
    text = full.split("\n\nDebug source:", 1)[0]
    text = re.sub(r" in \d+(?:\.\d+)?(?:ns|µs|us|ms|s) - ", " - ", text)  # the same error reads the same
    text = re.sub(r"<\?xml.*?</Error>", _error_body, text, flags=re.S)  # the store's code and message
    detail = full.lower()  # the debug source names the cause a summary hides (a timeout, TLS)
    if "certificate" in detail and "certificate" not in text.lower():
        text += " (TLS: the server's certificate could not be verified)"
    if _timed_out(detail) and "timed out" not in text.lower():
        text += " (timed out)"
    if isinstance(exc, (ox.PermissionDeniedError, ox.UnauthenticatedError)):
        out: BaseException = PermissionError(text)
    elif isinstance(exc, ox.NotFoundError):
        out = FileNotFoundError(path or text)
    elif isinstance(exc, ox.AlreadyExistsError):
        out = FileExistsError(path or text)
    elif isinstance(exc, ox.NotSupportedError):
        out = NotImplementedError(text)
    elif isinstance(exc, ox.InvalidPathError):
        out = _listed_key_error(text) if "with invalid path" in text else ValueError(text)
    elif "status code: 404" in text or "NoSuchBucket" in text or "ContainerNotFound" in text:
        out = FileNotFoundError(path or text)
    elif "status code: 403" in text or "status code: 401" in text:
        out = PermissionError(text)
    elif _timed_out(detail):
        out = TimeoutError(text)
    elif _is_transport(text):
        out = ConnectionError(text)
    else:
        out = OSError(text)
    out.__cause__ = exc
    return out


def _error_body(match: re.Match) -> str:
    """An S3 error document as ``<Code>: <Message>`` (no request ids: the same error reads the same)."""
    found = dict(re.findall(r"<(Code|Message)>(.*?)</\1>", match.group(0), flags=re.S))
    return ": ".join(found[name] for name in ("Code", "Message") if name in found) or match.group(0)


def _listed_key_error(text: str) -> ValueError:
    """object_store refused a key the store listed (``..``, an empty segment): the listing is
    refused whole, naming the key as object_store read it; nothing was downloaded."""
    from .errors import InvalidArtifactPathError

    match = re.search(r'Path "([^"]*)"', text)
    key = match.group(1) if match else "?"
    why = f"the store lists a key {key!r} that the path policy refuses (object_store: {text})"
    error = InvalidArtifactPathError(
        f"Invalid artifact path {key!r}: {why}; nothing was downloaded: remove or rename that key in the store"
    )
    error.reason = why
    return error


def _timed_out(detail: str) -> bool:
    """The debug source says the request timed out (``kind: Timeout``, reqwest's ``TimedOut``),
    not merely ``retry_timeout``, which every retry error shows."""
    return "timed out" in detail or "timedout" in detail or "kind: timeout" in detail


def _is_transport(text: str) -> bool:
    """A request that never got an answer, or got a 5xx/429 (worth another attempt)."""
    lowered = text.lower()
    markers = ("error sending request", "connection", "http error", "status code: 5", "status code: 429", "body error")
    return any(marker in lowered for marker in markers)


def translated(method):
    """Wrap an async method so obstore's exceptions leave it as builtins."""

    async def wrapper(self, path, *args, **kwargs):
        try:
            return await method(self, path, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - re-raised as its builtin class
            translated = as_builtin_error(exc, str(path))
            if translated is exc:
                raise
            raise translated from exc

    wrapper.__name__, wrapper.__doc__ = method.__name__, method.__doc__
    return wrapper


class _Cancelled(Exception):
    """Put in the queue by :meth:`ObstoreWriter.discard`: the upload must not complete."""


class ObstoreWriter:
    """A write-only file that uploads as it is written (module docstring)."""

    def __init__(self, fs, path: str, block_size: int | None = None, **_kwargs: Any) -> None:
        self.fs, self.path = fs, path
        self.store, _bucket, self.key = fs._store_and_key(path)
        self.blocksize = max(int(block_size or fs.part_bytes), MIN_PART_BYTES)
        self.buffer = bytearray()
        self.size = 0
        self.part_md5s: list[bytes] = []
        self.closed = False
        self._queue: asyncio.Queue | None = None
        self._upload = None  # concurrent.futures.Future of the multipart put

    # --- file protocol ----------------------------------------------------------------------

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.size

    def write(self, data) -> int:
        """Buffer ``data``; every full block beyond the first starts or feeds the multipart upload."""
        if self.closed:
            raise ValueError("I/O operation on closed file")
        view = memoryview(data).cast("B")
        self.buffer += view
        self.size += len(view)
        while len(self.buffer) > self.blocksize:
            block = bytes(self.buffer[: self.blocksize])
            del self.buffer[: self.blocksize]
            self._send(block)
        return len(view)

    def flush(self, force: bool = False) -> None:
        """Nothing to do: blocks go as they fill, the rest on :meth:`close`."""

    def close(self) -> None:
        """Send what is left and complete the upload; remember what it published."""
        if self.closed:
            return
        self.closed = True
        if self._upload is None:
            body = bytes(self.buffer)
            self.buffer = bytearray()
            result = self.fs._run(self.store.put_async(self.key, body, **self.fs.put_options()))
            expected = hashlib.md5(body, usedforsecurity=False).hexdigest()
        else:
            if self.buffer:
                self._send(bytes(self.buffer))
                self.buffer = bytearray()
            self._enqueue(None)
            result = self._upload.result()
            joined = hashlib.md5(b"".join(self.part_md5s), usedforsecurity=False).hexdigest()
            expected = f"{joined}-{len(self.part_md5s)}"
        self.fs.remember_published(self.path, result, expected)

    def discard(self) -> None:
        """Give the upload up: the multipart upload is cancelled, nothing is published."""
        if self.closed:
            return
        self.closed = True
        self.buffer = bytearray()
        if self._upload is not None:
            try:
                self._enqueue(_Cancelled())
                self._upload.result()
            except Exception:  # noqa: BLE001 - cancelled on purpose
                pass

    def __enter__(self) -> ObstoreWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()

    # --- the multipart upload ---------------------------------------------------------------

    def _send(self, block: bytes) -> None:
        self.part_md5s.append(hashlib.md5(block, usedforsecurity=False).digest())
        if self._upload is None:
            self._queue = self.fs._run(_new_queue())
            self._upload = asyncio.run_coroutine_threadsafe(self._put(), self.fs.loop)
        self._enqueue(block)

    def _enqueue(self, item) -> None:
        """Hand ``item`` to the upload, waiting while :data:`QUEUED_BLOCKS` are queued
        (memory stays a few blocks); an upload that already failed raises its error here."""
        put = asyncio.run_coroutine_threadsafe(self._queue.put(item), self.fs.loop)
        while True:
            try:
                put.result(timeout=0.5)
                return
            except TimeoutError:
                if self._upload.done():
                    put.cancel()
                    self._upload.result()  # raises the upload's error
                    raise RuntimeError("the upload stopped taking data") from None

    async def _put(self):
        async def blocks():
            while True:
                item = await self._queue.get()
                if item is None:
                    return
                if isinstance(item, _Cancelled):
                    raise item
                yield item

        options = self.fs.put_options(multipart_part=self.blocksize)
        options["max_concurrency"] = min(
            options.get("max_concurrency") or STREAMED_PARTS_IN_FLIGHT, STREAMED_PARTS_IN_FLIGHT
        )
        try:
            return await self.store.put_async(self.key, blocks(), use_multipart=True, **options)
        except Exception as exc:  # noqa: BLE001 - re-raised as its builtin class
            raise as_builtin_error(exc, self.path) from exc


async def _new_queue() -> asyncio.Queue:
    """A queue bound to the filesystem's event loop (made on it)."""
    return asyncio.Queue(maxsize=QUEUED_BLOCKS)


__all__ = ["ObstoreWriter", "as_builtin_error", "translated"]
