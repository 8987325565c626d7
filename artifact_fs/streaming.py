"""Streamed uploads: MLflow's ``StreamUploadMixin`` for every backend.

``mlflow server`` hands a proxied upload's request body to
``log_artifact_from_stream`` (Flask) or ``log_artifact_from_async_stream`` (FastAPI)
when the repository is a ``StreamUploadMixin``; otherwise it spools the body to a temp
file first. Here the body is written straight into an fsspec file opened for writing,
chunk by chunk, so the server holds at most one part in memory and never touches its
disk:

* stores with real directories (local, SFTP, FTP, HDFS, memory) get the
  bytes under a hidden temporary name beside the target, renamed into place once
  complete (the conventions of :mod:`artifact_fs.transfer`);
* object stores publish the object only when the file is closed (a single PUT, or the
  completion of the multipart upload the client library started for a big body); a
  failed stream discards the file (s3fs aborts its multipart upload, gcsfs cancels its
  resumable upload), so no partial object appears under the final name.

The async variant runs the same synchronous upload in one thread of its own pool, fed
chunk by chunk through a small bounded queue: the event loop never blocks on the store,
memory stays bounded, and a client that is not thread-safe (FTP's one control
connection, one per thread) is used by that thread only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
from collections.abc import AsyncIterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

from . import transfer
from .errors import mlflow_errors
from .paths import clean_artifact_path, clean_file_name, join_artifact_path
from .staging import StagedWrite

#: bytes read from a sync request stream per write (MLflow's ARTIFACT_STREAM_CHUNK_SIZE)
READ_CHUNK = 2**20
#: part size of the fsspec file when the row sets no upload chunk size (boto3's default part)
DEFAULT_BLOCK = 8 * 2**20
#: async streamed uploads running at once (more wait for a thread; their clients wait too)
UPLOAD_THREADS = 32


class StreamUploads:
    """``log_artifact_from_stream`` / ``log_artifact_from_async_stream`` for :class:`FsspecArtifactRepository`."""

    @mlflow_errors("Failed to log a streamed artifact to {self.redacted_uri}")
    def log_artifact_from_stream(
        self, stream: BinaryIO, artifact_file_name: str, artifact_path: str | None = None
    ) -> None:
        """Write ``stream`` to ``<root>/<artifact_path>/<basename(artifact_file_name)>`` without spooling it."""
        upload = _StreamedFile(self, artifact_file_name, artifact_path)
        upload.open()
        try:
            while chunk := stream.read(READ_CHUNK):
                upload.write(chunk)
            upload.publish()
        except BaseException:
            upload.abandon()
            raise

    async def log_artifact_from_async_stream(
        self, chunks: AsyncIterable[bytes], artifact_file_name: str, artifact_path: str | None = None
    ) -> None:
        """The async twin of :meth:`log_artifact_from_stream`: one upload thread writes, fed through a queue."""
        pipe = _Pipe(asyncio.get_running_loop())

        def write_all() -> None:
            try:
                self.log_artifact_from_stream(pipe, artifact_file_name, artifact_path)
            finally:
                pipe.reader_stopped()

        upload = asyncio.wrap_future(_upload_threads().submit(write_all))
        try:
            async for chunk in chunks:
                if upload.done():
                    break  # the store failed: its error is raised below
                if chunk:
                    await pipe.put(chunk)
        except BaseException as exc:  # the client went away: the upload is abandoned
            pipe.error = exc
            with contextlib.suppress(BaseException):
                await upload
            raise
        await pipe.put(_END)
        await upload


_END = object()  #: end of a streamed body
_THREADS: list[ThreadPoolExecutor] = []
_THREADS_LOCK = threading.Lock()


def _upload_threads() -> ThreadPoolExecutor:
    """The threads that run async streamed uploads: their own pool, never the event loop's
    default executor (uploads waiting for their bodies must not starve other work)."""
    with _THREADS_LOCK:
        if not _THREADS:
            _THREADS.append(ThreadPoolExecutor(max_workers=UPLOAD_THREADS, thread_name_prefix="artifact_fs-stream"))
        return _THREADS[0]


class _Pipe:
    """A body that arrives on the event loop, read by the uploading thread: at most ``depth``
    chunks wait in between (``read`` returns the next chunk whole, ``b""`` at the end, or
    raises the client's error once ``error`` is set)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, depth: int = 4):
        self._loop = loop
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._room = asyncio.Semaphore(depth)
        self._reader_gone = False
        self.error: BaseException | None = None

    async def put(self, item) -> None:
        """Hand over a chunk or ``_END`` once there is room; a no-op once the reader has stopped."""
        if not self._reader_gone:
            await self._room.acquire()
        if not self._reader_gone:
            self._queue.put(item)

    def reader_stopped(self) -> None:
        """Called by the uploading thread when it is done: a waiting ``put`` returns."""
        self._reader_gone = True
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            self._loop.call_soon_threadsafe(self._room.release)

    def read(self, _size: int = -1) -> bytes:
        """The next chunk (any size), ``b""`` at the end."""
        while self.error is None:
            try:
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self._loop.call_soon_threadsafe(self._room.release)
            return b"" if item is _END else item
        raise self.error


class _StreamedFile:
    """One streamed upload: the destination and its :class:`~artifact_fs.staging.StagedWrite`
    (temporary name where the store has directories, size and digest checked, then published)."""

    def __init__(self, repo, artifact_file_name: str, artifact_path: str | None):
        name = clean_file_name(os.path.basename(str(artifact_file_name).replace("\\", "/").rstrip("/")))
        relative = join_artifact_path(clean_artifact_path(artifact_path), name)
        self.repo, self.fs, self.row = repo, repo.fs, repo.row
        self.final = repo._remote(relative)
        self.staged = StagedWrite(self.fs, self.final, self.row, verify=repo.policy.verify, **self._open_options())

    def open(self) -> None:
        """Open the fsspec file (its parent directory made first where directories are real)."""
        self.staged.open()

    def _open_options(self) -> dict[str, Any]:
        if self.row.paths.local or self.row.paths.real_directories:
            return {}
        resolved = self.repo.resolved
        extra = resolved.storage_options.get(self.row.transfer.upload_extra_option or "", {}) or {}
        headers = self.row.transfer.guessed_headers(self.final, extra)
        block = resolved.upload_options.get("chunksize") or DEFAULT_BLOCK
        return transfer._with_headers({"block_size": block}, headers.items())

    def write(self, chunk: bytes) -> None:
        """Append ``chunk`` (the file sends a part whenever its block is full)."""
        self.staged.write(chunk)

    def publish(self) -> None:
        """Complete the upload, verify it and publish it under its final name."""
        self.staged.publish()

    def abandon(self) -> None:
        """Throw the upload away: nothing appears under the final name. Best effort, never raises."""
        self.staged.discard()
