"""Verified reads: ``runs://`` and ``models://`` files opened for reading are checked
against the digest the store lists (:mod:`artifact_fs.digests`), fetched whole and retried
when small, hashed as they are read in order when big."""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from typing import Any

from .digests import Digester, Expected, expected_digest
from .errors import CorruptedInTransit, IntegrityError
from .integrity import TransferPolicy, with_retries
from .rows import Scheme

log = logging.getLogger(__name__)


def read_verified(fs, row: Scheme, remote: str, entry: Mapping[str, Any], policy: TransferPolicy) -> bytes:
    """The whole of ``remote`` in one GET, checked against ``entry``'s size and digest, retried
    within the budget; a mismatch left is an :class:`~artifact_fs.errors.IntegrityError`."""
    expected = expected_digest(fs, row, remote, entry) if policy.verify != "size" else None

    def attempt(_number: int) -> bytes:
        data = fs.cat_file(remote)
        why = None
        if expected is not None:
            digester = Digester(expected)
            digester.update(data)
            why = digester.verdict(fs, row, remote, "read")
        elif entry.get("size") is not None and len(data) != int(entry["size"]):
            why = f"size {entry['size']} in the store, {len(data)} read"
        if why is not None:
            raise CorruptedInTransit(f"read of {remote!r} not verified: {why}")
        return data

    return with_retries(policy, row, attempt, f"reading {remote!r}")


class VerifiedReader(io.RawIOBase):
    """A file opened for reading whose bytes are hashed as they are read: once the whole file
    has been read in order (from the start, any read sizes, re-reads allowed), the digest is
    compared with the store's, and the read that completes it raises
    :class:`~artifact_fs.errors.IntegrityError` on a mismatch instead of returning. A read that skips ahead
    (``seek`` past what was read: a Parquet footer first, a byte range) cannot be verified
    that way: the rest of the file is then served unchecked (logged at DEBUG). Every other
    attribute is the wrapped file's."""

    def __init__(self, raw, fs, row: Scheme, remote: str, expected: Expected):
        super().__init__()
        self._raw, self._fs, self._row, self._remote = raw, fs, row, remote
        self._digester, self._size = Digester(expected), expected.size
        self._hashed = 0
        self.verified: bool | None = None  #: True once checked, False once a skip made it uncheckable

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._raw, name)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def read(self, size: int | None = -1) -> bytes:
        start = self._raw.tell()
        data = self._raw.read() if size is None or size < 0 else self._raw.read(size)
        self._account(start, data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        if size is not None and size >= 0:
            return super().readline(size)
        start = self._raw.tell()
        line = self._raw.readline()
        self._account(start, line)
        return line

    def readall(self) -> bytes:
        return self.read()

    def _account(self, start: int, data: bytes) -> None:
        if self.verified is not None:
            return
        if start > self._hashed:
            self.verified = False
            log.debug(
                "%s: read from byte %d before bytes %d.. were read: not verified", self._remote, start, self._hashed
            )
            return
        end = start + len(data)
        if end > self._hashed:
            self._digester.update(memoryview(data)[self._hashed - start :])
            self._hashed = end
        if self._hashed >= self._size or (not data and start == self._hashed):
            self.verified = True
            why = self._digester.verdict(self._fs, self._row, self._remote, "read")
            if why is not None:
                raise IntegrityError(
                    f"read of {self._remote!r} not verified: {why} (read it again, or copy it with af.cp / "
                    "download_artifacts, which retry)"
                )

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def verified_reader(raw, fs, row: Scheme | None, remote: str, entry: Mapping[str, Any] | None, policy: TransferPolicy):
    """``raw`` wrapped in a :class:`VerifiedReader` when the store lists a digest to check
    (and ``ARTIFACT_FS_VERIFY`` is not ``size``), else ``raw`` itself."""
    if row is None or policy.verify == "size" or entry is None:
        return raw
    expected = expected_digest(fs, row, remote, entry)
    return raw if expected is None else VerifiedReader(raw, fs, row, remote, expected)
