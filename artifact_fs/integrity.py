"""Integrity checks and the one retry budget: a transfer is a success only once it is verified.

After each upload the store's own record of every file (one listing per parent directory,
``info()`` for a single file) must show the local size and, where the scheme row names a
digest the store lists (:class:`~artifact_fs._table.StoreChecksum`: S3 ETag, GCS
``md5Hash``, Azure ``Content-MD5``), the same digest. Stores with a temporary name
are checked before the rename, so a bad file never appears under its final name. On
object stores the check follows the upload; a mismatching object is deleted only when it
is provably this client's own upload (its ETag is the one our own PutObject /
CompleteMultipartUpload got back: the store kept bytes corrupted on the way), never when
it may be another writer's newer upload of the same name (last writer wins): that is
reported. After each download the temporary file must have the size and digest the store
listed before it is renamed. ``ARTIFACT_FS_VERIFY=full`` also reads every upload back and
compares SHA-256; ``ARTIFACT_FS_VERIFY=size`` compares sizes only. A mismatch raises
:class:`~artifact_fs.errors.IntegrityError` (MLflow ``DATA_LOSS``), never a silent success.

**S3 multipart ETags** (``"<md5 of the parts' md5s>-<N>"``) are recomputed from the bytes:
artifact_fs's own multipart uploads record their part size in the object's metadata
(``artifact-fs-part-size``, read with one HEAD, for multipart ETags only); otherwise the
part sizes common uploaders use (the row's, 8 MiB, 5 MiB, 10 MiB, 16 MiB, s3fs's 50 MiB,
100 MiB, grown as boto3 and s3fs grow them past 10,000 parts) are tried when they give N
parts. When none explains the ETag, the store is asked for each part's size
(``HEAD ?partNumber=k``, one per part) and the ETag is recomputed exactly: only then, or
with a recorded part size, is a mismatch reported. An object with no recorded part size
on a store that cannot say is verified by size only (logged): never a false mismatch.

The retry budget (``ARTIFACT_FS_RETRIES``, default 2): a transfer that failed on a dropped
or refused connection, or on bytes corrupted in transit, is attempted again, after 0.5 s,
1 s, 2 s..., skipping the files already verified in the store. Corruption in transit is a
checksum failure from any layer (a store refusing a body whose ``Content-MD5`` did not
match, botocore's CRC32 of a response) or a mismatch known not to be another writer's: a
download that differs from the listing, an upload whose corrupted object was provably our
own and was deleted (:class:`~artifact_fs.errors.CorruptedInTransit`). A mismatch that may
be another writer's object is not retried (sending again would overwrite the newer object).
A timeout is never retried (a store that stayed silent for the whole timeout fails the
call after one timeout), and neither is any other error. When the budget is spent, a
corruption leaves as an :class:`~artifact_fs.errors.IntegrityError` (``DATA_LOSS``)
whichever layer noticed it. It is the only retry layer: the S3 rows switch botocore's and
s3fs's own retries off; rows whose client retries by itself with no switch
(``client_retries``: azure-core, gcsfs) get no artifact_fs attempts on top.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import math
import os
import posixpath
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

from ._table import Scheme
from .errors import CorruptedInTransit, IntegrityError, is_corruption_in_transit, is_transient
from .paths import TEMP_PREFIX
from .settings_table import RETRIES_VAR, TRANSFER_SETTINGS

log = logging.getLogger(__name__)

Pair = tuple[str, str]
T = TypeVar("T")
DEFAULT_RETRIES = 2
BACKOFF_SECONDS = 0.5  #: before the first retry; doubled for each next one
_BLOCK = 1 << 20


@dataclass(frozen=True)
class TransferPolicy:
    """How hard artifact_fs tries and how closely it checks (``ARTIFACT_FS_RETRIES``, ``ARTIFACT_FS_VERIFY``)."""

    retries: int = DEFAULT_RETRIES
    verify: str = "checksum"  #: ``size``, ``checksum`` or ``full``


def transfer_policy(env: Mapping[str, str] | None = None) -> TransferPolicy:
    """The policy ``env`` alone sets (read now, never at import); bad values name their variable.
    Repositories take theirs from ``Resolved.transfer_options``, where a profile may set it."""
    from .resolver import settings_options

    options = settings_options(TRANSFER_SETTINGS, os.environ if env is None else env)
    return TransferPolicy(**{path.removeprefix("transfer:"): value for path, (value, _source) in options.items()})


# --- the retry budget --------------------------------------------------------------------


def with_retries(policy: TransferPolicy, row: Scheme, attempt: Callable[[int], T], what: str) -> T:
    """Run ``attempt(n)`` for n = 0, 1, ... until it succeeds, the error is neither transient
    nor corruption in transit, or the budget is spent; the last error then says how many
    attempts were made. Corruption from any layer leaves as an ``IntegrityError`` (the
    :class:`CorruptedInTransit` marker that asked for the retries stays in its cause chain)."""
    budget = 0 if row.client_retries else policy.retries
    for number in range(budget + 1):
        try:
            return attempt(number)
        except Exception as exc:
            corrupted = is_corruption_in_transit(exc)
            if not corrupted and not is_transient(exc):
                raise
            if number == budget:
                gave_up = f" (gave up after {number + 1} attempts; {RETRIES_VAR}={budget})" if number else ""
                if corrupted:  # whichever layer noticed it, and whichever class it used
                    if type(exc) is IntegrityError and not gave_up:
                        raise
                    raise IntegrityError(f"{what}: {exc}{gave_up}") from exc
                if not gave_up:
                    raise
                raise ConnectionError(f"{exc}{gave_up}") from exc
            delay = BACKOFF_SECONDS * 2**number
            log.warning("%s failed (%s: %s); attempt %d of %d in %.1f s", what, type(exc).__name__, exc, number + 2, budget + 1, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


# --- what the store says about a file ----------------------------------------------------


def _name(fs, path: str) -> str:
    return fs._strip_protocol(path).rstrip("/")


#: up to this many files are looked up one by one (``info``); more, by one listing per parent
#: directory (a few files logged into a directory that already holds many stay cheap)
INFO_LOOKUPS = 8


def remote_entries(fs, paths: Sequence[str]) -> dict[str, dict]:
    """The store's entries for ``paths``: ``info()`` for a few paths, one listing per parent
    otherwise. A missing path is absent from the result."""
    if len(paths) <= INFO_LOOKUPS:
        found = {}
        for path in paths:
            try:
                found[_name(fs, path)] = fs.info(path)
            except FileNotFoundError:
                pass
        return found
    wanted = {_name(fs, path) for path in paths}
    found: dict[str, dict] = {}
    for parent in sorted({posixpath.dirname(name) for name in wanted}):
        try:
            entries = fs.ls(parent or fs.root_marker or "/", detail=True)
        except FileNotFoundError:
            continue
        for entry in entries:
            name = _name(fs, entry["name"])
            if name in wanted:
                found[name] = entry
    return found


def _field(entry: Mapping[str, Any], dotted: str) -> Any:
    value: Any = entry
    for key in dotted.split("."):  # dicts, and dict-likes such as azure's ContentSettings
        value = value.get(key) if hasattr(value, "get") else None
    return value


def listed_digest(row: Scheme, entry: Mapping[str, Any]) -> str | None:
    """The hex digest the store lists for an object, or None (no field, multipart ETag...)."""
    spec = row.checksum
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


def _remote_digest(fs, path: str, algorithm: str) -> str:
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
    spec = row.checksum
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
    from . import client_hooks

    try:
        return client_hooks.s3_recorded_part_size(fs, remote)
    except Exception:  # noqa: BLE001 - no recorded size: the guesses and the store's part sizes remain
        return None


def expected_digest(fs, row: Scheme, remote: str, entry: Mapping[str, Any] | None) -> Expected | None:
    """What ``remote``'s bytes must hash to, from the store's ``entry``; None when the store
    lists nothing to compare (no digest field, SSE objects are found out later). A multipart
    ETag costs one HEAD here (the part size artifact_fs's upload recorded)."""
    spec = row.checksum
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
    first = [row.defaults["upload:chunksize"]] if row.defaults.get("upload:chunksize") else []
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
    plain = row.checksum.is_plain_digest if row.checksum else None
    if plain is None:
        return True
    try:
        return bool(plain(fs, remote))
    except Exception:  # noqa: BLE001 - cannot ask: the listed digest stands
        return True


def _store_part_sizes(fs, row: Scheme, remote: str, parts: int, size: int) -> Layout | None:
    from . import client_hooks

    try:
        return client_hooks.s3_part_sizes(fs, remote, parts, size)
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

    def verdict(self, fs, row: Scheme, remote: str, where: str, rehash: Callable[[Layout], str | None] | None = None) -> str | None:
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
            log.info("%s: multipart ETag %s-%d not recomputed (no part size explains it and the store does not "
                     "report each part's size): verified by size only", remote, expected.digest, expected.parts)
            return None
        actual = hashed.get(layout)
        if actual is None and rehash is not None:
            actual = rehash(layout)
        if actual is None:
            log.info("%s: multipart ETag %s-%d not recomputed (its parts are not the sizes hashed while reading): "
                     "verified by size only", remote, expected.digest, expected.parts)
            return None
        if actual == expected.digest:
            return None
        shape = f"{len(layout)} parts of {layout[0]} bytes" if len(set(layout[:-1])) <= 1 else f"{len(layout)} parts"
        return (f"md5 multipart ETag {expected.digest}-{expected.parts} in the store ({expected.field}), "
                f"{actual}-{len(layout)} {where} ({shape})")


def _file_verdict(fs, row: Scheme, local: str, remote: str, expected: Expected) -> str | None:
    digester = Digester(expected)
    with open(local, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digester.update(block)
    return digester.verdict(fs, row, remote, "on disk", rehash=lambda layout: _composite_of_file(local, layout))


def mismatch(fs, row: Scheme, local: str, remote: str, entry: Mapping[str, Any] | None, policy: TransferPolicy) -> str | None:
    """Why ``local`` and the store's ``remote`` differ, or None when they agree."""
    if entry is None:
        return "not found in the store"
    local_size, remote_size = os.path.getsize(local), entry.get("size")
    if remote_size is None or int(remote_size) != local_size:
        return f"size {remote_size} in the store, {local_size} on disk"
    if policy.verify == "size":
        return None
    expected = expected_digest(fs, row, remote, entry)
    return None if expected is None else _file_verdict(fs, row, local, remote, expected)


def _raise(problems: list[tuple[str, str]], direction: str, error: type[IntegrityError] = IntegrityError) -> None:
    shown = "; ".join(f"{path!r}: {why}" for path, why in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    cause = "corrupted in transit" if error is CorruptedInTransit else "corrupted in transit, or replaced by another writer meanwhile"
    raise error(f"{direction} not verified, {len(problems)} file(s) differ ({cause}): {shown}{more}")


# --- the hooks transfer.py calls -----------------------------------------------------------


def _own_upload(fs, row: Scheme, remote: str, entry: Mapping[str, Any] | None) -> bool:
    """``remote`` is provably this client's own upload: a temporary name of ours, or an object
    whose ETag is the one our own PutObject / CompleteMultipartUpload got back."""
    if posixpath.basename(_name(fs, remote)).startswith(TEMP_PREFIX):
        return True
    if entry is None or row.checksum is None:
        return False
    published = _published(fs, remote)
    listed = _field(entry, row.checksum.field)
    return published is not None and listed is not None and str(listed).strip().strip('"').lower() == published.etag


def _published(fs, remote: str):
    """What this client's own last upload of ``remote`` published (S3: ETag, and whether the
    store's ETags are the MD5s of the bodies sent), or None."""
    from . import client_hooks

    try:
        return client_hooks.s3_published(fs, remote)
    except Exception:  # noqa: BLE001 - not an S3 filesystem
        return None


def _confirmed_while_sent(fs, row: Scheme, local: str, remote: str, entry: Mapping[str, Any] | None) -> bool:
    """The store already confirmed these bytes as they went: every body was sent with the MD5
    of what was read from ``local``, the store's ETag of each was that MD5, and the object
    listed now is the one our upload published, with the local size. Reading the file
    again to recompute its digest would tell nothing more (a 256 MiB upload: 0.4 s less)."""
    if entry is None or row.checksum is None or entry.get("size") is None:
        return False
    published = _published(fs, remote)
    if published is None or published.intact is not True:
        return False
    return int(entry["size"]) == os.path.getsize(local) and _own_upload(fs, row, remote, entry)


def verify_uploads(fs, row: Scheme, pairs: Sequence[Pair], policy: TransferPolicy) -> None:
    """Check every ``(local, remote)`` upload (temporary names on stores that rename). An
    object store's mismatching object is deleted when it is provably our own upload (the
    error is then :class:`CorruptedInTransit`, retried); otherwise it stays and is reported."""
    if not pairs:
        return
    entries = remote_entries(fs, [remote for _, remote in pairs])
    problems = []
    for local, remote in pairs:
        entry = entries.get(_name(fs, remote))
        if policy.verify == "checksum" and _confirmed_while_sent(fs, row, local, remote, entry):
            continue
        why = mismatch(fs, row, local, remote, entry, policy)
        if why is None and policy.verify == "full":
            local_sha, remote_sha = file_digest(local, "sha256"), _remote_digest(fs, remote, "sha256")
            why = None if local_sha == remote_sha else f"sha256 {remote_sha} read back, {local_sha} on disk"
        if why is not None:
            problems.append((remote, why, entry))
    if not problems:
        return
    shown, own = [], 0
    for remote, why, entry in problems:
        if not _own_upload(fs, row, remote, entry):
            shown.append((remote, why))
            continue
        if posixpath.basename(_name(fs, remote)).startswith(TEMP_PREFIX):
            own += 1  # the transfer removes its temporary names itself
            shown.append((remote, why))
            continue
        try:
            fs.rm_file(remote)
        except Exception as exc:  # noqa: BLE001 - reported below; the object stays
            shown.append((remote, f"{why}; our corrupted object could not be deleted ({type(exc).__name__}: {exc})"))
            continue
        own += 1
        shown.append((remote, f"{why}; our own upload, deleted"))
    _raise(shown, "upload", CorruptedInTransit if own == len(problems) else IntegrityError)


def verify_downloads(fs, row: Scheme, staged: Sequence[Pair], expected: Mapping[str, dict] | None, policy: TransferPolicy) -> None:
    """Check every ``(remote, local temp)`` download against the entry the store listed for it
    (``expected``, by remote name; asked for now when not given). A mismatch is
    :class:`CorruptedInTransit`: the local copy is ours, a new attempt may get good bytes."""
    if not staged:
        return
    if expected is None:
        expected = remote_entries(fs, [remote for remote, _ in staged])
    problems = []
    for remote, local in staged:
        why = mismatch(fs, row, local, remote, expected.get(_name(fs, remote)), policy)
        if why is not None:
            problems.append((remote, why))
    if problems:
        _raise(problems, "download", CorruptedInTransit)


def verify_written(fs, row: Scheme | None, remote: str, policy: TransferPolicy, entry: Mapping[str, Any] | None = None) -> None:
    """For a file streamed to an object store (no local copy to compare): when the object is
    still the one this client's own upload published (same ETag) and the store's ETag of a
    body sent (the object's, or a part's) is the MD5 of other bytes, the bytes were corrupted
    on the way to a store that ignored Content-MD5: the object is deleted and
    :class:`CorruptedInTransit` raised. Anything else passes (an encrypted object, another
    writer's newer object, a store whose ETags are no MD5s: nothing to tell)."""
    if row is None or row.checksum is None or policy.verify == "size":
        return
    published = _published(fs, remote)
    if published is None or published.intact is not False:
        return
    entry = fs.info(remote) if entry is None else entry
    if not _own_upload(fs, row, remote, entry):
        return
    why = f"the store's ETag {published.etag} is not the MD5 of what was sent (corrupted in transit)"
    try:
        fs.rm_file(remote)
    except Exception as exc:  # noqa: BLE001 - said below; the corruption is the error
        raise CorruptedInTransit(f"upload not verified: {remote!r}: {why}; our corrupted object could not be deleted "
                                 f"({type(exc).__name__}: {exc})") from exc
    raise CorruptedInTransit(f"upload not verified: {remote!r}: {why}; our own upload, deleted")


def unverified(fs, row: Scheme, pairs: Sequence[Pair], policy: TransferPolicy) -> list[Pair]:
    """The ``(local, remote)`` uploads the store does not hold intact yet (all of them when it
    cannot be asked): what a retry still has to send."""
    try:
        entries = remote_entries(fs, [remote for _, remote in pairs])
        return [(l, r) for l, r in pairs if mismatch(fs, row, l, r, entries.get(_name(fs, r)), policy) is not None]
    except Exception:  # noqa: BLE001 - the store is still unwell: send everything again
        return list(pairs)


# --- verified reads (runs:// and models:// opened for reading) ----------------------------


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
            log.debug("%s: read from byte %d before bytes %d.. were read: not verified", self._remote, start, self._hashed)
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
