"""Writing one file through ``runs://`` / ``models://`` with no partial file under its final name.

Stores with real directories (rows with ``atomic_rename``: local, SFTP, FTP, HDFS) are
written under a hidden temporary name beside the target and renamed into place when the
file is closed, as the repository's uploads are. Object stores publish an object only
when its upload completes; a write that fails inside ``with`` is discarded (the multipart
upload aborted) instead of being flushed by ``close()``.
"""

from __future__ import annotations

import io
from typing import Any

from .transfer import temp_name


class PublishOnClose(io.RawIOBase):
    """A binary writer that publishes ``final`` on a clean close and nothing after a failure."""

    def __init__(self, fs, final: str, row, mode: str = "wb", **kwargs: Any):
        super().__init__()
        self._fs, self._final, self._row = fs, final, row
        atomic = bool(row is not None and row.atomic_rename)
        self._temp = temp_name(final) if atomic else None
        self._file = fs.open(self._temp or final, mode, **kwargs)

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        written = self._file.write(data)
        return len(data) if written is None else written

    def flush(self) -> None:
        if not self.closed and not self._file.closed:
            self._file.flush()

    def close(self) -> None:
        """Finish the upload and publish the file under its final name."""
        if self.closed:
            return
        try:
            self._file.close()
            if self._temp is not None:
                self._fs.mv(self._temp, self._final, **dict(self._row.rename_options))
        except BaseException:
            self._remove_temp()
            raise
        finally:
            super().close()

    def discard(self) -> None:
        """Give up: nothing appears under the final name (an object store's upload is aborted)."""
        if self.closed:
            return
        try:
            if self._temp is not None:
                self._file.close()
                self._remove_temp()
            else:
                getattr(self._file, "discard", lambda: None)()
                self._file.closed = True  # fsspec's buffered files flush on close(): never now
        finally:
            super().close()

    def _remove_temp(self) -> None:
        try:
            if self._temp is not None and self._fs.exists(self._temp):
                self._fs.rm_file(self._temp)
        except Exception:  # noqa: BLE001 - best effort; the original error matters
            pass

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
