"""Transfer progress: one tqdm bar of bytes (with a file count), as an fsspec callback.

fsspec hands a callback to batched ``get``/``put`` (it calls ``branch`` once per file and
``relative_update(1)`` when each file is done; the branches receive the bytes) and to
single ``get_file``/``put_file`` calls (bytes straight to the callback).
:class:`TransferProgress` serves both: until ``branch`` is called, updates are bytes.
tqdm is optional (``pip install 'artifact_fs[cli]'``); without it there is no bar.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from fsspec.callbacks import Callback, NoOpCallback


def wanted(progress: bool | None, stream=None) -> bool:
    """Show a bar? ``None`` means: only when ``stream`` (stderr) is a terminal and tqdm is installed."""
    if progress is False:
        return False
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    if progress is True:
        return True
    stream = sys.stderr if stream is None else stream
    return bool(getattr(stream, "isatty", lambda: False)())


def make(total_bytes: int, total_files: int, description: str, progress: bool | None) -> Callback:
    """A :class:`TransferProgress`, or fsspec's no-op callback when no bar is wanted."""
    if not wanted(progress):
        return NoOpCallback()
    return TransferProgress(total_bytes, total_files, description)


class TransferProgress(Callback):
    """Bytes moved (the bar) and files completed (its postfix)."""

    def __init__(self, total_bytes: int, total_files: int, description: str):
        from tqdm import tqdm

        super().__init__()
        self.total_files, self.files_done, self.batched = total_files, 0, False
        self._lock = threading.Lock()
        try:
            size = os.get_terminal_size(sys.stderr.fileno())
        except (OSError, ValueError):
            size = os.terminal_size((0, 0))
        fixed = {} if size.columns and size.lines else {"ncols": 100, "nrows": 24}  # a terminal of unknown size
        self.bar = tqdm(
            total=total_bytes,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=description,
            file=sys.stderr,
            leave=True,
            **fixed,
        )
        self._show_files()

    def _show_files(self) -> None:
        self.bar.set_postfix_str(f"{self.files_done}/{self.total_files} files", refresh=False)

    def add_bytes(self, count: int) -> None:
        """Advance the bar by ``count`` bytes (thread-safe)."""
        with self._lock:
            self.bar.update(count)

    def file_done(self) -> None:
        """Count one completed file."""
        with self._lock:
            self.files_done += 1
            self._show_files()
            self.bar.refresh()

    def set_size(self, size):  # totals are known up front
        pass

    def relative_update(self, inc=1):
        if self.batched:
            self.file_done()
        else:
            self.add_bytes(inc)

    def absolute_update(self, value):
        pass

    def branch(self, path_1, path_2, kwargs: dict[str, Any]):
        self.batched = True
        kwargs["callback"] = _FileBytes(self)

    def close(self) -> None:
        """Finish the bar."""
        if self.batched is False:
            self.files_done = self.total_files
            self._show_files()
        self.bar.close()


class _FileBytes(Callback):
    """The bytes of one file of a batch, forwarded to the shared bar."""

    def __init__(self, parent: TransferProgress):
        super().__init__()
        self.parent, self.seen = parent, 0

    def set_size(self, size):
        pass

    def relative_update(self, inc=1):
        self.seen += inc
        self.parent.add_bytes(inc)

    def absolute_update(self, value):
        self.parent.add_bytes(value - self.seen)
        self.seen = value
