"""Integrity checks and the one retry budget: a transfer is a success only once it is verified.

After each upload the store's own record of every file (one listing per parent directory,
``info()`` for a single file) must show the local size and, where the scheme row names a
digest the store lists (:class:`~artifact_fs._table.StoreChecksum`: S3 single-part ETag,
GCS ``md5Hash``, Azure ``Content-MD5``), the same digest. Stores with a temporary name
are checked before the rename, so a bad file never appears under its final name; on
object stores the check follows the upload and a mismatch is reported, never deleted (the
object may be another writer's newer upload of the same name: last writer wins). After each download
the temporary file must have the size and digest the store listed before it is renamed.
``ARTIFACT_FS_VERIFY=full`` also reads every upload back and compares SHA-256;
``ARTIFACT_FS_VERIFY=size`` compares sizes only. A mismatch raises
:class:`~artifact_fs.errors.IntegrityError` (MLflow ``DATA_LOSS``), never a silent success.

The retry budget (``ARTIFACT_FS_RETRIES``, default 2): a transfer that failed on a dropped
or refused connection is attempted again, after 0.5 s, 1 s, 2 s..., skipping the files
already verified in the store. A timeout is never retried (a store that stayed silent for
the whole timeout fails the call after one timeout), and neither is any other error.
It is the only retry layer: the S3 rows switch botocore's and s3fs's own retries off; rows
whose client retries by itself with no switch (``client_retries``: azure-core, gcsfs) get
no artifact_fs attempts on top.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import posixpath
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, TypeVar

from ._table import Scheme
from .errors import IntegrityError, is_transient
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
    """Run ``attempt(n)`` for n = 0, 1, ... until it succeeds, the error is not transient, or the
    budget is spent; the last error then says how many attempts were made."""
    budget = 0 if row.client_retries else policy.retries
    for number in range(budget + 1):
        try:
            return attempt(number)
        except Exception as exc:
            if not is_transient(exc):
                raise
            if number == budget:
                if number == 0:
                    raise
                raise ConnectionError(f"{exc} (gave up after {number + 1} attempts; {RETRIES_VAR}={budget})") from exc
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


def mismatch(fs, row: Scheme, local: str, remote: str, entry: Mapping[str, Any] | None, policy: TransferPolicy) -> str | None:
    """Why ``local`` and the store's ``remote`` differ, or None when they agree."""
    if entry is None:
        return "not found in the store"
    local_size, remote_size = os.path.getsize(local), entry.get("size")
    if remote_size is None or int(remote_size) != local_size:
        return f"size {remote_size} in the store, {local_size} on disk"
    if policy.verify == "size":
        return None
    listed = listed_digest(row, entry)
    if listed is not None:
        actual = file_digest(local, row.checksum.algorithm)
        plain = row.checksum.is_plain_digest
        if actual != listed and (plain is None or plain(fs, remote)):
            return f"{row.checksum.algorithm} {listed} in the store ({row.checksum.field}), {actual} on disk"
    return None


def _raise(problems: list[tuple[str, str]], direction: str) -> None:
    shown = "; ".join(f"{path!r}: {why}" for path, why in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    raise IntegrityError(
        f"{direction} not verified, {len(problems)} file(s) differ (corrupted in transit, or replaced by another "
        f"writer meanwhile): {shown}{more}"
    )


# --- the hooks transfer.py calls -----------------------------------------------------------


def verify_uploads(fs, row: Scheme, pairs: Sequence[Pair], policy: TransferPolicy) -> None:
    """Check every ``(local, remote)`` upload (temporary names on stores that rename)."""
    if not pairs:
        return
    entries = remote_entries(fs, [remote for _, remote in pairs])
    problems = []
    for local, remote in pairs:
        why = mismatch(fs, row, local, remote, entries.get(_name(fs, remote)), policy)
        if why is None and policy.verify == "full":
            local_sha, remote_sha = file_digest(local, "sha256"), _remote_digest(fs, remote, "sha256")
            why = None if local_sha == remote_sha else f"sha256 {remote_sha} read back, {local_sha} on disk"
        if why is not None:
            problems.append((remote, why))
    if problems:
        _raise(problems, "upload")


def verify_downloads(fs, row: Scheme, staged: Sequence[Pair], expected: Mapping[str, dict] | None, policy: TransferPolicy) -> None:
    """Check every ``(remote, local temp)`` download against the entry the store listed for it
    (``expected``, by remote name; asked for now when not given)."""
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
        _raise(problems, "download")


def unverified(fs, row: Scheme, pairs: Sequence[Pair], policy: TransferPolicy) -> list[Pair]:
    """The ``(local, remote)`` uploads the store does not hold intact yet (all of them when it
    cannot be asked): what a retry still has to send."""
    try:
        entries = remote_entries(fs, [remote for _, remote in pairs])
        return [(l, r) for l, r in pairs if mismatch(fs, row, l, r, entries.get(_name(fs, r)), policy) is not None]
    except Exception:  # noqa: BLE001 - the store is still unwell: send everything again
        return list(pairs)

