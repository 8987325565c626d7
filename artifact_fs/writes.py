"""Writing one file through ``runs://`` / ``models://`` with no partial file under its final name.

Stores with real directories (local, SFTP, FTP, HDFS, memory) are
written under a hidden temporary name beside the target and renamed into place when the
file is closed, as the repository's uploads are. Object stores publish an object only
when its upload completes; a write that fails inside ``with`` is discarded (the multipart
upload aborted) instead of being flushed by ``close()``.
"""

from __future__ import annotations

import io
from typing import Any

from .staging import StagedWrite


class PublishOnClose(io.RawIOBase):
    """A binary writer that publishes ``final`` on a clean close and nothing after a failure
    (a :class:`~artifact_fs.staging.StagedWrite`: size and digest checked before publishing)."""

    def __init__(self, fs, final: str, row, mode: str = "wb", verify: str = "checksum", **kwargs: Any):
        super().__init__()
        self._staged = StagedWrite(fs, final, row, verify=verify, **kwargs).open(mode)

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self._staged.write(data)

    def flush(self) -> None:
        if not self.closed and not self._staged.file.closed:
            self._staged.file.flush()

    def close(self) -> None:
        """Finish the upload and publish the file under its final name."""
        if self.closed:
            return
        try:
            self._staged.publish()
        finally:
            super().close()

    def discard(self) -> None:
        """Give up: nothing appears under the final name (an object store's upload is aborted)."""
        if self.closed:
            return
        try:
            self._staged.discard()
        finally:
            super().close()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.discard()


def open_for_writing(fs, path: str, row, mode: str = "wb", encoding: str | None = None, **kwargs: Any):
    """A :class:`PublishOnClose` (wrapped for text when ``mode`` is ``"w"``)."""
    binary = PublishOnClose(fs, path, row, mode.replace("t", "") if "b" in mode else mode + "b", **kwargs)
    if "b" in mode:
        return binary
    return _TextPublish(binary, encoding=encoding or "utf-8", write_through=True)


class _TextPublish(io.TextIOWrapper):
    """Text over :class:`PublishOnClose`, discarding on an exception inside ``with``."""

    def close(self) -> None:
        if not self.buffer.closed:  # after a discard there is nothing left to flush
            super().close()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.buffer.discard()
