"""The one road for every byte: staged, verified, retried and cleaned up the same way.

The repository's uploads and downloads, ``af.cp`` and ``artifact-fs cp`` in every
direction, ``runs://``/``models://`` file transfers and cache fills all call
:func:`upload` or :func:`download`:

* **staged**: a file appears under its final name only when complete
  (:mod:`artifact_fs.staging`: temporary name + rename, or the object store's own
  all-or-nothing upload);
* **verified**: size and the digest the store lists, before the rename
  (:mod:`artifact_fs.integrity`, ``ARTIFACT_FS_VERIFY``);
* **retried** within the one budget (``ARTIFACT_FS_RETRIES``), resending only what the
  store does not hold intact yet;
* **cleaned up**: the temporary names interrupted transfers of the same files left behind
  are removed once a transfer succeeds (one listing per directory written, so a lone small
  file, whose upload costs less than listing a big directory, is not swept: see
  :data:`artifact_fs.staging.SWEEP_AFTER_BYTES`), and so are the incomplete multipart
  uploads of the keys it uploaded (rows with ``abort_stale_uploads``).

Streams of unknown length (the tracking server's streamed uploads, ``runs://`` writes) use
:class:`artifact_fs.staging.StagedWrite`, the same staging and checks chunk by chunk.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from . import integrity, staging, transfer
from .integrity import TransferPolicy
from .rows import Client, Scheme, UriGrammar

Pair = tuple[str, str]

#: the row of a filesystem no scheme row describes (the tracking server's artifact API):
#: no digest listed, nothing renamed, one client shared by threads
PLAIN_ROW = Scheme(name="", uri=UriGrammar("fsspec"), client=Client(protocol="", impl=""))

#: files at least this big may have gone as multipart uploads: an interrupted one of the
#: same key is looked for (one request per such file) once the upload succeeded
MULTIPART_CANDIDATE_BYTES = 5 * 2**20


def policy_of(resolved) -> TransferPolicy:
    """The transfer policy of a resolved location (its profile and environment), or the
    environment's alone when there is none."""
    if resolved is None:
        return integrity.transfer_policy()
    return TransferPolicy(**resolved.transfer_options)


def _prepare(fs, resolved, policy: TransferPolicy | None, callback: Any, kind: str):
    """``(fs getter, row, policy, per-transfer options)`` of one transfer; ``fs`` is the
    filesystem or a function returning it."""
    get_fs = fs if callable(fs) and not hasattr(fs, "protocol") else (lambda: fs)
    options = dict(getattr(resolved, kind)) if resolved is not None else {}
    if callback is not None:
        options["callback"] = callback
    return get_fs, resolved.row if resolved is not None else PLAIN_ROW, policy or policy_of(resolved), options


def upload(
    fs, resolved, pairs: Sequence[Pair], policy: TransferPolicy | None = None, *,
    callback: Any = None, what: str = "",
) -> None:  # fmt: skip
    """Upload ``(local, remote)`` pairs through the one core (see the module docstring).

    ``fs`` is the filesystem, or a function returning it (asked again for each attempt, so
    a repository can hand back a new connection after a dropped one)."""
    pairs = list(pairs)
    if not pairs:
        return
    get_fs, row, policy, options = _prepare(fs, resolved, policy, callback, "upload_options")
    extra = (
        (resolved.storage_options.get(row.transfer.upload_extra_option or "", {}) or {}) if resolved is not None else {}
    )
    started = time.time()

    def attempt(number: int) -> None:
        current = get_fs()
        todo = integrity.unverified(current, row, pairs, policy) if number else pairs
        transfer.upload(current, row, todo, options, extra, policy)

    integrity.with_retries(policy, row, attempt, what or f"uploading {len(pairs)} file(s)")
    clean_up_after_upload(get_fs(), row, pairs, started)


def clean_up_after_upload(fs, row: Scheme, pairs: Sequence[Pair], started: float) -> None:
    """Remove what interrupted uploads of the same files left: temporary names beside them,
    and open multipart uploads of the same keys begun before this one. Best effort."""
    if row.paths.atomic_rename and (len(pairs) > 1 or _size(pairs[0][0]) >= staging.SWEEP_AFTER_BYTES):
        staging.sweep_remote(fs, [remote for _, remote in pairs])
    if row.transfer.abort_stale_uploads is not None:
        big = [remote for local, remote in pairs if _size(local) >= MULTIPART_CANDIDATE_BYTES]
        if big:
            try:
                row.transfer.abort_stale_uploads(fs, big, started)
            except Exception:  # noqa: BLE001 - clean-up only: the upload itself succeeded
                pass


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def download(
    fs, resolved, pairs: Sequence[Pair], expected: Mapping[str, dict] | None = None,
    policy: TransferPolicy | None = None, *, cache=None, callback: Any = None, what: str = "",
) -> None:  # fmt: skip
    """Download ``(remote, local)`` pairs through the one core; with a ``cache`` (and the
    store's ``expected`` entries, by remote name) hits are copied from it and misses
    fetched into it through the same verified transfer."""
    pairs = list(pairs)
    if not pairs:
        return
    get_fs, row, policy, options = _prepare(fs, resolved, policy, callback, "download_options")

    def fetch(batch: Sequence[Pair]) -> None:
        def attempt(_number: int) -> None:
            transfer.download(get_fs(), batch, options, row, policy, expected)

        integrity.with_retries(policy, row, attempt, what or f"downloading {len(batch)} file(s)")
        staging.sweep_local(local for _, local in batch)

    if cache is not None and expected:
        from .read_cache import download_through_cache

        download_through_cache(cache, get_fs(), pairs, expected, fetch)  # misses go through fetch: verified
    else:
        fetch(pairs)
