"""What the obstore engine knows of the bytes it moved, so that verifying them needs no second
read: :class:`Published` (the ETag the store answered an upload with, and whether it is the
MD5 of what was sent), :class:`Received` (the ETag a download came with and the one its bytes
hashed to as they arrived), and :class:`ETagHasher`, the S3-style ETag of bytes fed in order."""

from __future__ import annotations

import hashlib


class Published(tuple):
    """What a filesystem's own last upload of a key published: the ETag the store returned
    (no quotes) and ``intact``: True when it is the MD5 (or multipart MD5) of the bytes sent,
    False when it is an MD5 of other bytes, None when that cannot be told (not hashed here,
    encrypted objects)."""

    __slots__ = ()

    def __new__(cls, etag: str, intact: bool | None = None):
        return super().__new__(cls, (etag, intact))

    etag = property(lambda self: self[0])
    intact = property(lambda self: self[1])


class Received(tuple):
    """What a filesystem's own download into a local file received: the ETag the store sent
    (no quotes), the bytes' size, and the ETag those bytes hash to (None: not an MD5 ETag
    whose layout is known)."""

    __slots__ = ()

    def __new__(cls, etag: str, size: int, hashed: str | None):
        return super().__new__(cls, (etag, size, hashed))

    etag = property(lambda self: self[0])
    size = property(lambda self: self[1])
    hashed = property(lambda self: self[2])


class ETagHasher:
    """The S3-style ETag of bytes fed in order: the MD5 of the whole, or with ``part_size``
    the multipart ETag ``<MD5 of the parts' MD5s>-<parts>`` of parts of that size. Hashing
    as the bytes go or arrive spares reading the file again to verify it (``hashlib`` lets
    the GIL go for big blocks). :meth:`for_etag` hashes a download the way its ETag says."""

    def __init__(self, part_size: int | None = None, etag: str = "", usable: bool = True) -> None:
        self.part_size, self.etag, self.usable, self.size = int(part_size or 0), etag, usable, 0
        self.current = hashlib.md5(usedforsecurity=False)
        self.filled = 0
        self.done: list[bytes] = []

    @classmethod
    def for_etag(cls, etag: str, part_size: int | None) -> ETagHasher:
        """A hasher for a download that came with ``etag``; a multipart one needs ``part_size``
        (the size artifact_fs's own upload recorded), an ETag that is no MD5 is not hashed."""
        digest, _, parts = etag.partition("-")
        shaped = len(digest) == 32 and all(c in "0123456789abcdef" for c in digest)
        usable = shaped and (not parts or (parts.isdigit() and bool(part_size)))
        return cls(part_size if parts else None, etag, usable)

    def update(self, view) -> None:
        """Feed the next bytes."""
        self.size += len(view)
        if not self.usable:
            return
        if not self.part_size:
            self.current.update(view)
            return
        offset = 0
        while offset < len(view):
            take = min(self.part_size - self.filled, len(view) - offset)
            self.current.update(view[offset : offset + take])
            self.filled += take
            offset += take
            if self.filled == self.part_size:
                self.done.append(self.current.digest())
                self.current, self.filled = hashlib.md5(usedforsecurity=False), 0

    def hexdigest(self) -> str | None:
        """The ETag of the bytes fed (None: not hashed)."""
        if not self.usable:
            return None
        if not self.part_size:
            return self.current.hexdigest()
        parts = self.done + ([self.current.digest()] if self.filled or not self.done else [])
        return f"{hashlib.md5(b''.join(parts), usedforsecurity=False).hexdigest()}-{len(parts)}"

    def received(self) -> Received:
        """The ETag the download came with, its size, and the ETag of its bytes."""
        return Received(self.etag, self.size, self.hexdigest())


def file_etag(path: str, part_size: int | None = None, block: int = 2**20) -> str | None:
    """The S3-style ETag of the file at ``path`` (:class:`ETagHasher`)."""
    hasher = ETagHasher(part_size)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(block), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


__all__ = ["ETagHasher", "Published", "Received", "file_etag"]
