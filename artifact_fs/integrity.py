"""Integrity checks and the one retry budget: a transfer is a success only once it is verified.

After each upload the store's own record of every file (one listing per parent directory,
``info()`` for a single file) must show the local size and, where the scheme row names a
digest the store lists (`~artifact_fs.rows.StoreChecksum`: S3 ETag, GCS
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

Digests, multipart ETags included, are worked out in :mod:`artifact_fs.digests`.

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

import logging
import os
import posixpath
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .digests import _field, expected_digest, file_digest, file_verdict, remote_digest
from .errors import CorruptedInTransit, IntegrityError, is_corruption_in_transit, is_transient
from .paths import TEMP_PREFIX
from .rows import Scheme
from .settings import RETRIES_VAR, TRANSFER_SETTINGS, settings_options

log = logging.getLogger(__name__)

Pair = tuple[str, str]
T = TypeVar("T")
DEFAULT_RETRIES = 2
BACKOFF_SECONDS = 0.5  #: before the first retry; doubled for each next one


@dataclass(frozen=True)
class TransferPolicy:
    """How hard artifact_fs tries and how closely it checks (``ARTIFACT_FS_RETRIES``, ``ARTIFACT_FS_VERIFY``)."""

    retries: int = DEFAULT_RETRIES
    verify: str = "checksum"  #: ``size``, ``checksum`` or ``full``


def transfer_policy(env: Mapping[str, str] | None = None) -> TransferPolicy:
    """The policy ``env`` alone sets (read now, never at import); bad values name their variable.
    Repositories take theirs from ``Resolved.transfer_options``, where a profile may set it."""

    options = settings_options(TRANSFER_SETTINGS, os.environ if env is None else env)
    return TransferPolicy(**{path.removeprefix("transfer:"): value for path, (value, _source) in options.items()})


# --- the retry budget --------------------------------------------------------------------


def with_retries(policy: TransferPolicy, row: Scheme, attempt: Callable[[int], T], what: str) -> T:
    """Run ``attempt(n)`` for n = 0, 1, ... until it succeeds, the error is neither transient
    nor corruption in transit, or the budget is spent; the last error then says how many
    attempts were made. Corruption from any layer leaves as an ``IntegrityError`` (the
    :class:`CorruptedInTransit` marker that asked for the retries stays in its cause chain)."""
    budget = 0 if row.client.client_retries else policy.retries
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
            log.warning(
                "%s failed (%s: %s); attempt %d of %d in %.1f s",
                what,
                type(exc).__name__,
                exc,
                number + 2,
                budget + 1,
                delay,
            )
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


def mismatch(
    fs, row: Scheme, local: str, remote: str, entry: Mapping[str, Any] | None, policy: TransferPolicy
) -> str | None:
    """Why ``local`` and the store's ``remote`` differ, or None when they agree."""
    if entry is None:
        return "not found in the store"
    local_size, remote_size = os.path.getsize(local), entry.get("size")
    if remote_size is None or int(remote_size) != local_size:
        return f"size {remote_size} in the store, {local_size} on disk"
    if policy.verify == "size":
        return None
    expected = expected_digest(fs, row, remote, entry)
    return None if expected is None else file_verdict(fs, row, local, remote, expected)


def _raise(problems: list[tuple[str, str]], direction: str, error: type[IntegrityError] = IntegrityError) -> None:
    shown = "; ".join(f"{path!r}: {why}" for path, why in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    cause = (
        "corrupted in transit"
        if error is CorruptedInTransit
        else "corrupted in transit, or replaced by another writer meanwhile"
    )
    raise error(f"{direction} not verified, {len(problems)} file(s) differ ({cause}): {shown}{more}")


# --- the hooks transfer.py calls -----------------------------------------------------------


def _own_upload(fs, row: Scheme, remote: str, entry: Mapping[str, Any] | None) -> bool:
    """``remote`` is provably this client's own upload: a temporary name of ours, or an object
    whose ETag is the one our own PutObject / CompleteMultipartUpload got back."""
    if posixpath.basename(_name(fs, remote)).startswith(TEMP_PREFIX):
        return True
    if entry is None or row.transfer.checksum is None:
        return False
    published = _published(fs, row, remote)
    listed = _field(entry, row.transfer.checksum.field)
    return published is not None and listed is not None and str(listed).strip().strip('"').lower() == published.etag


def _published(fs, row: Scheme, remote: str):
    """What this client's own last upload of ``remote`` published (S3: ETag, and whether the
    store's ETags are the MD5s of the bodies sent), or None."""
    published = row.transfer.checksum.published if row.transfer.checksum else None
    if published is None:
        return None
    try:
        return published(fs, remote)
    except Exception:  # noqa: BLE001 - not the filesystem the row expects
        return None


def confirmed_on_receipt(fs, row: Scheme, remote: str, md5_hex: str) -> bool:
    """The store answered this client's own upload of ``remote`` (one body, sent with its
    Content-MD5) with the ETag ``md5_hex``, the MD5 of the bytes written: it holds exactly
    them, and asking for the object's entry again would tell nothing more."""
    published = _published(fs, row, remote)
    return bool(published is not None and published.intact is True and published.etag == md5_hex)


def _confirmed_while_sent(fs, row: Scheme, local: str, remote: str, entry: Mapping[str, Any] | None) -> bool:
    """The store already confirmed these bytes as they went: every body was sent with the MD5
    of what was read from ``local``, the store's ETag of each was that MD5, and the object
    listed now is the one our upload published, with the local size. Reading the file
    again to recompute its digest would tell nothing more (benchmarks/README.md: what verification costs)."""
    if entry is None or row.transfer.checksum is None or entry.get("size") is None:
        return False
    published = _published(fs, row, remote)
    if published is None or published.intact is not True:
        return False
    return int(entry["size"]) == os.path.getsize(local) and _own_upload(fs, row, remote, entry)


def _confirmed_while_received(fs, row: Scheme, local: str, entry: Mapping[str, Any] | None) -> bool:
    """The bytes written to ``local`` were hashed as they arrived into the very ETag the store
    lists for the object now, with its size: reading the file again would tell nothing more."""
    checksum = row.transfer.checksum
    if entry is None or checksum is None or checksum.received is None or entry.get("size") is None:
        return False
    try:
        received = checksum.received(fs, local)
    except Exception:  # noqa: BLE001 - not the filesystem the row expects
        return False
    listed = _field(entry, checksum.field)
    if received is None or received.hashed is None or listed is None:
        return False
    listed = str(listed).strip().strip('"').lower()
    size = os.path.getsize(local)
    return received.etag == listed == received.hashed and received.size == size == int(entry["size"])


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
            local_sha, remote_sha = file_digest(local, "sha256"), remote_digest(fs, remote, "sha256")
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


def verify_downloads(
    fs, row: Scheme, staged: Sequence[Pair], expected: Mapping[str, dict] | None, policy: TransferPolicy
) -> None:
    """Check every ``(remote, local temp)`` download against the entry the store listed for it
    (``expected``, by remote name; asked for now when not given). A mismatch is
    :class:`CorruptedInTransit`: the local copy is ours, a new attempt may get good bytes."""
    if not staged:
        return
    if expected is None:
        expected = remote_entries(fs, [remote for remote, _ in staged])
    problems = []
    for remote, local in staged:
        entry = expected.get(_name(fs, remote))
        if policy.verify != "size" and _confirmed_while_received(fs, row, local, entry):
            continue
        why = mismatch(fs, row, local, remote, entry, policy)
        if why is not None:
            problems.append((remote, why))
    if problems:
        _raise(problems, "download", CorruptedInTransit)


def verify_written(
    fs, row: Scheme | None, remote: str, policy: TransferPolicy, entry: Mapping[str, Any] | None = None
) -> None:
    """For a file streamed to an object store (no local copy to compare): when the object is
    still the one this client's own upload published (same ETag) and the store's ETag of a
    body sent (the object's, or a part's) is the MD5 of other bytes, the bytes were corrupted
    on the way to a store that ignored Content-MD5: the object is deleted and
    :class:`CorruptedInTransit` raised. Anything else passes (an encrypted object, another
    writer's newer object, a store whose ETags are no MD5s: nothing to tell)."""
    if row is None or row.transfer.checksum is None or policy.verify == "size":
        return
    published = _published(fs, row, remote)
    if published is None or published.intact is not False:
        return
    entry = fs.info(remote) if entry is None else entry
    if not _own_upload(fs, row, remote, entry):
        return
    why = f"the store's ETag {published.etag} is not the MD5 of what was sent (corrupted in transit)"
    try:
        fs.rm_file(remote)
    except Exception as exc:  # noqa: BLE001 - said below; the corruption is the error
        raise CorruptedInTransit(
            f"upload not verified: {remote!r}: {why}; our corrupted object could not be deleted "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    raise CorruptedInTransit(f"upload not verified: {remote!r}: {why}; our own upload, deleted")


def unverified(fs, row: Scheme, pairs: Sequence[Pair], policy: TransferPolicy) -> list[Pair]:
    """The ``(local, remote)`` uploads the store does not hold intact yet (all of them when it
    cannot be asked): what a retry still has to send."""
    try:
        entries = remote_entries(fs, [remote for _, remote in pairs])
        return [
            (lp, rp) for lp, rp in pairs if mismatch(fs, row, lp, rp, entries.get(_name(fs, rp)), policy) is not None
        ]
    except Exception:  # noqa: BLE001 - the store is still unwell: send everything again
        return list(pairs)
