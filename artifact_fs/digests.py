"""Digests of an object's bytes and what the store lists for it: plain digests (S3
single-part ETag, GCS ``md5Hash``, Azure ``Content-MD5``) and S3 multipart ETags
(``"<md5 of the parts' md5s>-<N>"``), recomputed from the bytes.

artifact_fs's own multipart uploads record their part size in the object's metadata
(``artifact-fs-part-size``, read with one HEAD, for multipart ETags only); otherwise the
part sizes common uploaders use (the row's, 8 MiB, 5 MiB, 10 MiB, 16 MiB, s3fs's 50 MiB,
100 MiB, grown as boto3 and s3fs grow them past 10,000 parts) are tried when they give N
parts. When none explains the ETag, the store is asked for each part's size
(``HEAD ?partNumber=k``, one per part) and the ETag is recomputed exactly: only then, or
with a recorded part size, is a mismatch reported. An object with no recorded part size
on a store that cannot say is verified by size only (logged): never a false mismatch.
:mod:`artifact_fs.integrity` decides what to do with a verdict.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .rows import Scheme

log = logging.getLogger(__name__)

_BLOCK = 1 << 20


def _field(entry: Mapping[str, Any], dotted: str) -> Any:
    value: Any = entry
    for key in dotted.split("."):  # dicts, and dict-likes such as azure's ContentSettings
        value = value.get(key) if hasattr(value, "get") else None
    return value


def listed_digest(row: Scheme, entry: Mapping[str, Any]) -> str | None:
    """The hex digest the store lists for an object, or None (no field, multipart ETag...)."""
    spec = row.transfer.checksum
    value = _field(entry, spec.field) if spec else None
    if not value:
        return None
    if spec.encoding == "bytes":
        return bytes(value).hex()
    text = str(value).strip().strip('"')
    if spec.composite and spec.composite in text:
        return None
    if spec.encoding == "base64":
        try:
            return base64.b64decode(text, validate=True).hex()
        except ValueError:
            return None
    return text.lower()


def file_digest(path: str, algorithm: str) -> str:
    """Hex digest of a local file, read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def remote_digest(fs, path: str, algorithm: str) -> str:
    """The hex ``algorithm`` digest of the remote file at ``path``, read through ``fs``."""
    digest = hashlib.new(algorithm)
    with fs.open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


# --- multipart ETags: md5 of the parts' md5s ----------------------------------------------

Layout = tuple[int, ...]  #: the size of each part of a multipart object, in order

MIB = 2**20
#: part sizes uploaders commonly use, tried (when they fit the ETag's part count) for an
#: object whose uploader recorded none: boto3's and MLflow's S3 repository's 8 MiB, the S3
#: minimum 5 MiB, MLflow's multipart upload chunk 10 MiB, 16 MiB, s3fs's 50 MiB, MLflow's
#: 100 MiB multipart chunk and its decimal twin
GUESSED_PART_SIZES = (8 * MIB, 5 * MIB, 10 * MIB, 16 * MIB, 50 * MIB, 100 * MIB, 100_000_000)
MAX_PARTS = 10_000  #: S3's limit: boto3 doubles its part size, s3fs divides the size, to stay under it
MAX_GUESSES = 4  #: layouts hashed in one pass at most (each costs one more MD5 of the bytes)


def uniform_layout(size: int, part_size: int) -> Layout | None:
    """Parts of ``part_size`` bytes but a shorter last one, as s3fs and boto3 cut a file."""
    if part_size <= 0 or size <= 0:
        return None
    count = math.ceil(size / part_size)
    return (part_size,) * (count - 1) + (size - part_size * (count - 1),)


def guessed_layouts(size: int, parts: int, first: Iterable[int] = ()) -> list[Layout]:
    """Uniform layouts of ``size`` bytes in exactly ``parts`` parts: ``first`` part sizes,
    then :data:`GUESSED_PART_SIZES`, each also as boto3 and s3fs grow it past 10,000 parts."""
    sizes: list[int] = []
    for part_size in [*first, *GUESSED_PART_SIZES]:
        sizes.append(part_size)
        if size > part_size * MAX_PARTS:
            sizes.append(math.ceil(size / MAX_PARTS))  # s3fs
            grown = part_size
            while size > grown * MAX_PARTS:
                grown *= 2
            sizes.append(grown)  # boto3
    layouts: list[Layout] = []
    for part_size in sizes:
        if part_size > 0 and math.ceil(size / part_size) == parts:
            layout = uniform_layout(size, part_size)
            if layout is not None and layout not in layouts:
                layouts.append(layout)
        if len(layouts) == MAX_GUESSES:
            break
    return layouts


def listed_composite(row: Scheme, entry: Mapping[str, Any]) -> tuple[str, int] | None:
    """``(md5 of the parts' md5s, part count)`` of an S3 multipart ETag, or None."""
    spec = row.transfer.checksum
    value = _field(entry, spec.field) if spec and spec.composite else None
    if not value:
        return None
    digest, separator, count = str(value).strip().strip('"').partition(spec.composite)
    if not separator or not count.isdigit() or int(count) < 1 or len(digest) != 32:
        return None
    try:
        bytes.fromhex(digest)
    except ValueError:
        return None
    return digest.lower(), int(count)


@dataclass(frozen=True)
class Expected:
    """The digest a store lists for one object, and how to recompute it from its bytes."""

    algorithm: str
    digest: str  #: hex; for a multipart ETag, the md5 of the parts' md5s
    field: str  #: the entry's field it was read from
    size: int
    parts: int = 0  #: a multipart ETag's part count (0: a digest of the whole content)
    recorded: Layout | None = None  #: the layout the uploader recorded (artifact_fs's own uploads)
    guesses: tuple[Layout, ...] = field(default=())  #: layouts hashed in the first pass, recorded first

    @property
    def composite(self) -> bool:
        return self.parts > 0


def _recorded_part_size(fs, row: Scheme, remote: str) -> int | None:
    recorded = row.transfer.checksum.recorded_part_size if row.transfer.checksum else None
    if recorded is None:
        return None
    try:
        return recorded(fs, remote)
    except Exception:  # noqa: BLE001 - no recorded size: the guesses and the store's part sizes remain
        return None


def expected_digest(fs, row: Scheme, remote: str, entry: Mapping[str, Any] | None) -> Expected | None:
    """What ``remote``'s bytes must hash to, from the store's ``entry``; None when the store
    lists nothing to compare (no digest field, SSE objects are found out later). A multipart
    ETag costs one HEAD here (the part size artifact_fs's upload recorded)."""
    spec = row.transfer.checksum
    if spec is None or entry is None or entry.get("size") is None:
        return None
    size = int(entry["size"])
    listed = listed_digest(row, entry)
    if listed is not None:
        return Expected(spec.algorithm, listed, spec.field, size)
    composite = listed_composite(row, entry) if spec.algorithm == "md5" else None
    if composite is None or size <= 0:
        return None
    digest, parts = composite
    recorded_size = _recorded_part_size(fs, row, remote)
    recorded = uniform_layout(size, recorded_size) if recorded_size else None
    if recorded is not None and len(recorded) != parts:
        recorded = None  # not this object's layout (copied, rewritten...): ignored
    if recorded is not None:  # the uploader said: nothing to guess
        return Expected("md5", digest, spec.field, size, parts, recorded, (recorded,))
    first = [row.client.defaults["upload:chunksize"]] if row.client.defaults.get("upload:chunksize") else []
    return Expected("md5", digest, spec.field, size, parts, None, tuple(guessed_layouts(size, parts, first)))


class _Parts:
    """MD5 of each part of one layout, fed the bytes in order."""

    def __init__(self, layout: Layout):
        self.layout, self.index, self.left = layout, 0, layout[0]
        self.md5, self.digests, self.overflow = hashlib.md5(usedforsecurity=False), [], False

    def update(self, view: memoryview) -> None:
        offset = 0
        while offset < len(view):
            if self.index >= len(self.layout):
                self.overflow = True
                return
            take = min(self.left, len(view) - offset)
            self.md5.update(view[offset : offset + take])
            offset += take
            self.left -= take
            if self.left == 0:
                self.digests.append(self.md5.digest())
                self.index += 1
                if self.index < len(self.layout):
                    self.md5, self.left = hashlib.md5(usedforsecurity=False), self.layout[self.index]

    def hexdigest(self) -> str | None:
        if self.overflow or self.index < len(self.layout):
            return None
        return hashlib.md5(b"".join(self.digests), usedforsecurity=False).hexdigest()


def _composite_of_file(path: str, layout: Layout) -> str | None:
    parts = _Parts(layout)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            parts.update(memoryview(block))
    return parts.hexdigest()


def _is_plain(fs, row: Scheme, remote: str) -> bool:
    plain = row.transfer.checksum.is_plain_digest if row.transfer.checksum else None
    if plain is None:
        return True
    try:
        return bool(plain(fs, remote))
    except Exception:  # noqa: BLE001 - cannot ask: the listed digest stands
        return True


def _store_part_sizes(fs, row: Scheme, remote: str, parts: int, size: int) -> Layout | None:
    part_sizes = row.transfer.checksum.part_sizes if row.transfer.checksum else None
    if part_sizes is None:
        return None
    try:
        return part_sizes(fs, remote, parts, size)
    except Exception:  # noqa: BLE001 - the store cannot say
        return None


class Digester:
    """The digests of one object's bytes fed in order: the plain digest, or the multipart
    ETag for each guessed layout at once; :meth:`verdict` compares them with the store's."""

    def __init__(self, expected: Expected):
        self.expected = expected
        self.plain = None if expected.composite else hashlib.new(expected.algorithm)
        self.parts = [_Parts(layout) for layout in expected.guesses]
        self.size = 0

    def update(self, data) -> None:
        view = memoryview(data).cast("B")
        self.size += len(view)
        if self.plain is not None:
            self.plain.update(view)
        for parts in self.parts:
            parts.update(view)

    def verdict(
        self, fs, row: Scheme, remote: str, where: str, rehash: Callable[[Layout], str | None] | None = None
    ) -> str | None:
        """Why the bytes fed differ from what the store lists, or None (also when it cannot be
        told: an SSE object, or a multipart object whose part sizes nobody knows)."""
        expected = self.expected
        if self.size != expected.size:
            return f"size {expected.size} in the store, {self.size} {where}"
        if self.plain is not None:
            actual = self.plain.hexdigest()
            if actual == expected.digest or not _is_plain(fs, row, remote):
                return None
            return f"{expected.algorithm} {expected.digest} in the store ({expected.field}), {actual} {where}"
        hashed = {parts.layout: parts.hexdigest() for parts in self.parts}
        if expected.digest in hashed.values() or not _is_plain(fs, row, remote):
            return None
        layout = _store_part_sizes(fs, row, remote, expected.parts, expected.size) or expected.recorded
        if layout is None:
            log.info(
                "%s: multipart ETag %s-%d not recomputed (no part size explains it and the store does not "
                "report each part's size): verified by size only",
                remote,
                expected.digest,
                expected.parts,
            )
            return None
        actual = hashed.get(layout)
        if actual is None and rehash is not None:
            actual = rehash(layout)
        if actual is None:
            log.info(
                "%s: multipart ETag %s-%d not recomputed (its parts are not the sizes hashed while reading): "
                "verified by size only",
                remote,
                expected.digest,
                expected.parts,
            )
            return None
        if actual == expected.digest:
            return None
        shape = f"{len(layout)} parts of {layout[0]} bytes" if len(set(layout[:-1])) <= 1 else f"{len(layout)} parts"
        return (
            f"md5 multipart ETag {expected.digest}-{expected.parts} in the store ({expected.field}), "
            f"{actual}-{len(layout)} {where} ({shape})"
        )


def file_verdict(fs, row: Scheme, local: str, remote: str, expected: Expected) -> str | None:
    """Why the local file's bytes do not match ``expected`` (the store's digest), or None when they do."""
    digester = Digester(expected)
    with open(local, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digester.update(block)
    return digester.verdict(fs, row, remote, "on disk", rehash=lambda layout: _composite_of_file(local, layout))
