"""Temporary names, publishing and clean-up: the one way a file appears under its final name.

Every path that writes a file (the repository's uploads and downloads, streamed uploads in
the tracking server, ``runs://`` writes, ``af.cp`` and the CLI, cache fills) stages it under
a temporary name beside its final one where the store has real directories, checks it, and
then publishes it with one rename; object stores publish an object only when its upload
completes. A temporary name is

    ``.artifact_fs.partial.<10 hex: the final name's hash>.<8 random hex>.<start of the name>``

so it is at most ~100 bytes whatever the final name's length (a 255-byte name still fits a
255-byte file-name limit), two writers never share one, and a later transfer of the same
final name finds every temporary name an interrupted one left behind (same hash) and
removes it once its own file is published (:func:`sweep_remote`, :func:`sweep_local`):
every batch of files and every file of at least :data:`SWEEP_AFTER_BYTES` does.

The random part names its writer: 4 random hex digits, a tag of this machine's host name
and the writing process's id (``<rand><host>x<pid>``). A sweep never removes a name that may
still be written: one this process has in flight (another thread writing the same final
name: names are registered when made and released by :func:`release` when their file is
published or thrown away), one of a process of this machine that is still running, or one
of another machine changed less than :data:`STALE_AFTER_SECONDS` ago.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from .errors import IntegrityError
from .paths import TEMP_PREFIX

#: bytes of the final name kept at the end of a temporary name (for people reading a listing)
NAME_BYTES = 48
#: a transfer of one file smaller than this does not sweep its directory: listing a big
#: directory costs several small uploads (benchmarks/README.md, "Other measurements"); a batch
#: of files, or one file this big, pays one listing per directory for a negligible share of its time
SWEEP_AFTER_BYTES = 2**20


#: hex digits of the final name's hash in a temporary name
HASH_HEX = 10
_PREFIX_LENGTH = len(TEMP_PREFIX) + HASH_HEX + 1


#: another machine's temporary name is only swept once unchanged for this long (it may be in flight)
STALE_AFTER_SECONDS = 3600
#: this machine's tag in the temporary names it makes
HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:4]
_WRITER = re.compile(r"[0-9a-f]{4}(?P<host>[0-9a-f]{4})x(?P<pid>[0-9a-f]+)")

_in_flight: set[str] = set()
_in_flight_lock = threading.Lock()


def debris_prefix(name: str) -> str:
    """The start of every temporary name for a final file called ``name`` (its basename)."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_HEX]
    return f"{TEMP_PREFIX}{digest}."


def _short(name: str) -> str:
    return name.encode("utf-8", "surrogatepass")[:NAME_BYTES].decode("utf-8", "ignore")


def temp_name(path: str, sep: str = "/") -> str:
    """A hidden sibling of ``path`` for an in-flight transfer, bounded in length; registered
    as in flight (sweeps leave it alone) until :func:`release`."""
    parent, _, name = path.rpartition(sep)
    writer = f"{uuid.uuid4().hex[:4]}{HOST_TAG}x{os.getpid():x}"
    temp = f"{parent}{sep if parent else ''}{debris_prefix(name)}{writer}.{_short(name)}"
    with _in_flight_lock:
        _in_flight.add(temp)
    return temp


def release(temps: Iterable[str]) -> None:
    """Forget temporary names whose transfer is over (published or thrown away)."""
    with _in_flight_lock:
        _in_flight.difference_update(temps)


def _swept(path: str, modified=None) -> bool:
    """Whether the temporary name ``path`` is debris a sweep may remove (see the module
    docstring); ``modified()`` gives its modification time (asked only for another machine's)."""
    with _in_flight_lock:
        if path in _in_flight:
            return False
    base = path.replace(os.sep, "/").rpartition("/")[2]
    writer = _WRITER.fullmatch(base[_PREFIX_LENGTH:].partition(".")[0])
    if writer is None:  # made by an earlier version: no writer to ask
        return True
    if writer["host"] != HOST_TAG:
        try:
            return modified is not None and time.time() - _timestamp(modified()) > STALE_AFTER_SECONDS
        except Exception:  # noqa: BLE001 - unknown age: it may be in flight, leave it
            return False
    pid = int(writer["pid"], 16)
    if pid == os.getpid():
        return True  # not in flight (above): this process's own interrupted transfer
    return not _running(pid)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: running, someone else's
        return True
    return True


def _timestamp(value) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def _by_parent(paths: Iterable[str], sep: str) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = defaultdict(set)
    for path in paths:
        parent, _, name = path.rpartition(sep)
        groups[parent].add(debris_prefix(name))
    return groups


def sweep_remote(fs, finals: Iterable[str]) -> int:
    """Remove the temporary names interrupted transfers left beside ``finals`` (one listing
    per parent directory); best effort, returns how many were removed."""
    removed = 0
    for parent, prefixes in _by_parent(finals, "/").items():
        try:
            names = fs.ls(parent or fs.root_marker or "/", detail=False)
        except Exception:  # noqa: BLE001 - clean-up only: the transfer itself succeeded
            continue
        for name in names:
            base = posixpath.basename(str(name).rstrip("/"))
            path = f"{parent}/{base}" if parent else base
            if (
                base.startswith(TEMP_PREFIX)
                and base[:_PREFIX_LENGTH] in prefixes
                and _swept(path, lambda path=path: fs.modified(path))
            ):
                removed += discard_remote(fs, [path])
    return removed


def sweep_local(finals: Iterable[str]) -> int:
    """:func:`sweep_remote` for files on this machine."""
    removed = 0
    for parent, prefixes in _by_parent(finals, os.sep).items():
        try:
            entries = list(os.scandir(parent or os.sep))
        except OSError:
            continue
        for entry in entries:
            if (
                entry.name.startswith(TEMP_PREFIX)
                and entry.name[:_PREFIX_LENGTH] in prefixes
                and _swept(entry.path, lambda entry=entry: entry.stat().st_mtime)
            ):
                try:
                    os.remove(entry.path)
                    removed += 1
                except OSError:
                    pass
    return removed


def discard_remote(fs, paths: list[str]) -> int:
    """Delete ``paths`` if they exist; best effort (the caller's error is the one that matters)."""
    removed = 0
    for path in paths:
        try:
            if fs.exists(path):
                fs.rm_file(path)
                removed += 1
        except TimeoutError:
            return removed  # the store stopped answering: asking again for each file would wait that long each time
        except Exception:  # noqa: BLE001 - best effort clean-up
            pass
    return removed


def discard_local(paths: Iterable[str]) -> None:
    """Delete local temporary files that exist."""
    for path in paths:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def stages(row) -> bool:
    """Whether a row's files are written under a temporary name and renamed into place."""
    return bool(row is not None and (row.paths.atomic_rename or row.paths.real_directories))


class StagedWrite:
    """One file written as a stream of chunks, published under ``final`` only when complete
    and verified: under a temporary name renamed into place where the store has directories,
    else as one object whose upload completes on :meth:`publish`. :meth:`discard` leaves
    nothing under the final name (an object store's multipart upload is aborted).

    The size written and, where the row's store lists one, the MD5 of the bytes are checked
    against the store's entry before the rename (after the upload on object stores)."""

    def __init__(self, fs, final: str, row, *, verify: str = "checksum", **open_options: Any):
        self.fs, self.final, self.row, self.verify = fs, final, row, verify
        self.target = temp_name(final) if stages(row) else final
        self.open_options = open_options
        self.file: Any = None
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False) if self._digest_listed() else None
        self.done = False

    def _digest_listed(self) -> bool:
        spec = self.row.transfer.checksum if self.row is not None else None
        return bool(spec and spec.algorithm == "md5" and self.verify != "size")

    def open(self, mode: str = "wb") -> StagedWrite:
        """Open the store's file (the parent made first where directories are real)."""
        if self.row is not None and self.row.paths.real_directories:
            parent = self.final.rpartition("/")[0]
            if parent:
                self.fs.makedirs(parent, exist_ok=True)
        self.file = self.fs.open(self.target, mode, **self.open_options)
        return self

    def write(self, chunk) -> int:
        """Append ``chunk`` (the file sends a part whenever its block is full)."""
        written = self.file.write(chunk)
        count = len(chunk) if written is None else written
        self.size += count
        if self._md5 is not None:
            self._md5.update(memoryview(chunk)[:count])
        return count

    def publish(self) -> None:
        """Complete the upload, verify it, and (for temporary names) rename it into place."""
        try:
            self.file.close()
            if self.target == self.final and self.row is not None:
                from .integrity import TransferPolicy, verify_written

                # an object store that ignored Content-MD5 kept corrupted bytes: ours are deleted
                verify_written(self.fs, self.row, self.final, TransferPolicy(verify=self.verify))
            self._check()
            if self.target != self.final:
                self.fs.mv(self.target, self.final, **dict(self.row.paths.rename_options))
                if self.size >= SWEEP_AFTER_BYTES:
                    sweep_remote(self.fs, [self.final])  # what interrupted writes of this name left
        except BaseException:
            self.done = True
            if self.target != self.final:
                discard_remote(self.fs, [self.target])
            raise
        finally:
            release([self.target])
        self.done = True

    def _check(self) -> None:
        if self.row is None:
            return
        from .digests import listed_digest
        from .integrity import confirmed_on_receipt

        if self._md5 is not None and self.target == self.final:
            if confirmed_on_receipt(self.fs, self.row, self.final, self._md5.hexdigest()):
                return  # the store's answer to the upload names the MD5 of these bytes: nothing to ask
        entry = self.fs.info(self.target)
        size = entry.get("size")
        why = None
        if size is None or int(size) != self.size:
            why = f"size {size} in the store, {self.size} written"
        elif self._md5 is not None:
            listed = listed_digest(self.row, entry)
            plain = self.row.transfer.checksum.is_plain_digest
            actual = self._md5.hexdigest()
            if listed is not None and listed != actual and (plain is None or plain(self.fs, self.target)):
                why = f"md5 {listed} in the store, {actual} written"
        if why is not None:
            raise IntegrityError(f"upload not verified: {self.final!r}: {why} (corrupted in transit?)")

    def discard(self) -> None:
        """Throw the upload away: nothing appears under the final name. Never raises."""
        if self.done or self.file is None:
            return
        self.done = True
        release([self.target])
        if self.target != self.final:
            try:
                self.file.close()
            except Exception:  # noqa: BLE001 - clean-up; the original error is what matters
                pass
            discard_remote(self.fs, [self.target])
            return
        try:
            self.file.discard()  # s3fs: abort the multipart upload; gcsfs: cancel the resumable one
        except Exception:  # noqa: BLE001
            pass
        try:
            self.file.closed = True  # so close() (and __del__) never publish what was written so far
        except AttributeError:  # a file that publishes only in close() (fsspec's memory file)
            pass
