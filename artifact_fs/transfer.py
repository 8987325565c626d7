"""Moving and deleting many files at once through fsspec, with no partial file under a final name.

Async filesystems (s3fs, gcsfs, adlfs, sshfs) get one batched ``put``/``get`` call,
which fsspec runs concurrently (``batch_size`` at a time). Sync filesystems (local,
HDFS) get a small thread pool of ``put_file``/``get_file`` calls; a row whose client
must not be shared between threads (``thread_safe=False``: FTP's one control
connection) gets them one at a time.

Uploads to stores with real directories (local, SFTP, FTP, HDFS) are written under a
temporary name beside the target and renamed into place; object stores publish an
object only when its single PUT or multipart upload completes. Downloads always land
under a temporary name and are renamed with ``os.replace`` once complete.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from glob import has_magic  # what fsspec's rm/expand_path ask before globbing a name
from itertools import groupby
from typing import Any

from . import integrity
from .integrity import TransferPolicy
from .rows import Scheme
from .staging import discard_local, discard_remote, release, temp_name

Pair = tuple[str, str]  # (source, destination)


SYNC_WORKERS = 8


def _with_headers(options: dict[str, Any], headers: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Upload kwargs plus the headers; a dotted header name (adlfs's
    ``content_settings.content_type``) goes into a nested dict kwarg."""
    out = dict(options)
    for name, value in headers:
        *parents, leaf = name.split(".")
        tree = out
        for key in parents:
            tree[key] = tree = dict(tree.get(key) or {})
        tree[leaf] = value
    return out


def _workers(row: Scheme | None) -> int:
    """Threads for a sync filesystem: the row's ``sync_threads``, one when its client must not be shared (FTP)."""
    if row is None:
        return SYNC_WORKERS
    return row.transfer.sync_threads if row.client.thread_safe else 1


def _put_into_made_parent(fs, lpath: str, rpath: str, callback=None, **kwargs) -> None:
    """fsspec's generic ``put_file`` without its ``mkdirs`` of the parent (``upload`` made every
    parent once, before the batch; on FTP each check is a listing: 40 % of a 200-file upload)."""
    with open(lpath, "rb") as source, fs.open(rpath, "wb", **kwargs) as target:
        if callback is not None:
            callback.set_size(os.fstat(source.fileno()).st_size)
        while chunk := source.read(target.blocksize):
            target.write(chunk)
            if callback is not None:
                callback.relative_update(len(chunk))


def _skips_made_parents(fs) -> bool:
    """A ``put_file`` a row's ``prepare`` hook installed takes ``parents_exist`` itself."""
    return getattr(getattr(fs, "put_file", None), "skips_made_parents", False)


def _run_each(fs, method, pairs: Sequence[Pair], workers: int = SYNC_WORKERS, **kwargs) -> None:
    """``fs.<method>(src, dst)`` (or ``method(fs, src, dst)``) for every pair, ``workers`` at a time."""
    call = getattr(fs, method) if isinstance(method, str) else functools.partial(method, fs)
    if len(pairs) == 1 or workers <= 1:
        for src, dst in pairs:
            call(src, dst, **kwargs)
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(pairs))) as pool:
        for future in [pool.submit(call, src, dst, **kwargs) for src, dst in pairs]:
            future.result()


def _run_on_connections(fs, method, pairs: Sequence[Pair], connections: int, prepare=None, **kwargs) -> None:
    """A client that must not be shared between threads (FTP's one control connection): split
    the files over ``connections`` private copies of it, one thread each, closed afterwards.
    The copies cache listings for the batch (planned from a fresh listing just before): fsspec's
    FTP ``get_file`` lists the parent to check the path is no directory, once per file otherwise."""
    shares = [pairs[i::connections] for i in range(connections)]
    options = {**fs.storage_options, "skip_instance_cache": True, "use_listings_cache": True}
    clones = [type(fs)(*fs.storage_args, **options) for _ in shares]
    for clone in clones if prepare is not None else ():
        prepare(clone)  # the row's hook, as the original got it (FTP: a file in one STOR)
    try:
        with ThreadPoolExecutor(max_workers=connections) as pool:
            futures = [
                pool.submit(_run_each, client, method, share, 1, **kwargs) for client, share in zip(clones, shares)
            ]
            for future in futures:
                future.result()
    finally:
        for clone in clones:
            getattr(getattr(clone, "ftp", None), "close", lambda: None)()


def _transfer(fs, method: str, pairs: Sequence[Pair], workers: int = SYNC_WORKERS, prepare=None, **kwargs) -> None:
    """The concurrency budget (files in flight x parts in flight per file x bytes per part):
    files in flight are fsspec's ``batch_size`` for async clients, ``workers`` threads for sync
    ones, and for a client that must not be shared (``workers == 1``) its ``connections``
    private copies; a ``batch_size`` option (``ARTIFACT_FS_FILES_IN_FLIGHT``) replaces each
    default. Parts in flight and bytes per part are the client's own options (the row's
    ``ARTIFACT_FS_PARTS_IN_FLIGHT`` setting and its chunk/block sizes)."""
    if not pairs:
        return
    batch_size = kwargs.pop("batch_size", None)  # files in flight (ARTIFACT_FS_FILES_IN_FLIGHT): replaces the default
    default_connections = kwargs.pop("connections", None)
    connections = min(batch_size or default_connections or 1, len(pairs))
    if not getattr(fs, "async_impl", False) and method == "put_file" and not _skips_made_parents(fs):
        if kwargs.pop("parents_exist", False):  # async clients and prepared ones (SFTP, FTP) take it as an option
            method = _put_into_made_parent
    if getattr(fs, "async_impl", False) or getattr(fs, "transfers_in_batches", False):
        batched = method.removesuffix("_file")
        extra = {"batch_size": batch_size} if batch_size else {}
        getattr(fs, batched)([s for s, _ in pairs], [d for _, d in pairs], **extra, **kwargs)
    elif workers <= 1 and connections > 1:
        _run_on_connections(fs, method, pairs, connections, prepare, **kwargs)
    else:
        _run_each(fs, method, pairs, batch_size or workers, **kwargs)


def upload(
    fs,
    row: Scheme,
    pairs: Iterable[Pair],
    options: dict[str, Any],
    extra: dict[str, Any],
    policy: TransferPolicy | None = None,
) -> None:
    """Upload ``(local, remote)`` pairs; grouped by content headers so each group is one batch.
    With a ``policy``, every file is verified (:mod:`artifact_fs.integrity`) before it is
    renamed into place, or, on object stores, right after it was published."""
    pairs = list(pairs)
    if row.paths.real_directories:
        for parent in sorted({remote.rpartition("/")[0] for _, remote in pairs} - {""}):
            fs.makedirs(parent, exist_ok=True)
    staged = [(local, temp_name(remote)) for local, remote in pairs] if row.paths.atomic_rename else pairs
    try:
        keyed = sorted(staged, key=lambda p: sorted(row.transfer.guessed_headers(p[0], extra).items()))
        for headers, group in groupby(
            keyed, key=lambda p: tuple(sorted(row.transfer.guessed_headers(p[0], extra).items()))
        ):
            _transfer(fs, "put_file", list(group), _workers(row), row.client.prepare, **_with_headers(options, headers))
        if policy is not None:
            integrity.verify_uploads(fs, row, staged, policy)
        if row.paths.atomic_rename:  # one round trip each: run them concurrently (one at a time on FTP)
            renames = [(temp, final) for (_, final), (_, temp) in zip(pairs, staged)]
            _run_each(fs, "mv", renames, _workers(row), **row.paths.rename_options)
    except BaseException:
        if row.paths.atomic_rename:
            discard_remote(fs, [temp for _, temp in staged])
        raise
    finally:
        if row.paths.atomic_rename:
            release(temp for _, temp in staged)


def download(
    fs, pairs: Iterable[Pair], options: dict[str, Any], row: Scheme | None = None,
    policy: TransferPolicy | None = None, expected: dict[str, dict] | None = None,
) -> None:  # fmt: skip
    """Download ``(remote, local)`` pairs; each file appears under its name only when complete
    and, with a ``policy``, verified against the store's entry (``expected``, by remote name)."""
    pairs = list(pairs)
    for parent in {os.path.dirname(local) for _, local in pairs}:
        os.makedirs(parent, exist_ok=True)
    staged = [(remote, temp_name(local, os.sep)) for remote, local in pairs]
    try:
        _transfer(fs, "get_file", staged, _workers(row), row.client.prepare if row else None, **options)
        if policy is not None and row is not None:
            integrity.verify_downloads(fs, row, staged, expected, policy)
        for (_, final), (_, temp) in zip(pairs, staged):
            os.replace(temp, final)
    finally:
        discard_local(temp for _, temp in staged)
        release(temp for _, temp in staged)


def delete(fs, row: Scheme | None, target: str, recursive: bool = True) -> None:
    """The one delete policy: a file is removed; a directory (with ``recursive``) as a tree
    on stores with real directories, else as the objects below ``<target>/`` and their
    folder markers, never the bucket or container. A missing ``target`` raises
    ``FileNotFoundError``."""
    if fs.info(target).get("type") != "directory":
        fs.rm_file(target)
    elif not recursive:
        raise IsADirectoryError(f"{target} is a directory: delete it recursively")
    elif row is None or row.paths.real_directories:
        delete_tree(fs, target)
    else:
        delete_prefix(fs, target)


def delete_tree(fs, target: str) -> None:
    """Stores with real directories: remove ``target`` recursively; for ``/`` (an FTP or
    SFTP home) remove its contents, never the root itself. A name holding ``*``, ``?`` or
    ``[`` is removed by its own name, never read as a glob (``fs.rm`` would)."""
    if target.strip("/") and not has_magic(target):
        fs.rm(target, recursive=True)
        return
    for entry in fs.ls(target, detail=True):
        name = fs._strip_protocol(entry["name"]).rstrip("/")
        if entry.get("type") == "directory":
            delete_tree(fs, name)
        else:
            fs.rm_file(name)
    if target.strip("/"):
        fs.rmdir(target)


def delete_prefix(fs, target: str) -> None:
    """Object stores: delete every object under ``target/`` in bulk, then any folder
    markers left behind (zero-byte ``d/`` keys; SeaweedFS folders), deepest first.
    Never the bucket or container itself."""
    prefix = target.rstrip("/") + "/"
    found = fs.find(target, withdirs=True, detail=True)
    files = [name for name, e in found.items() if e.get("type") != "directory" and name.startswith(prefix)]
    # fsspec's rm() reads '*', '?' and '[' as a glob: a key holding one is deleted by its own
    # name (``run/?/f`` must never take ``run/x/f`` with it), the others in bulk
    literal = [name for name in files if has_magic(name)]
    for name in literal:
        fs.rm_file(name)
    if len(literal) < len(files):
        fs.rm([name for name in files if not has_magic(name)])
    markers = sorted(_folders_below(fs, target), key=lambda name: name.count("/"), reverse=True)
    if "/" in target.strip("/"):
        markers.append(target.rstrip("/"))
    for marker in markers:
        try:
            fs.rm_file(marker + "/")
        except FileNotFoundError:
            pass


def _folders_below(fs, target: str) -> set[str]:
    """Directories still listed under ``target`` (one delimiter listing per level)."""
    found, pending = set(), [target]
    while pending:
        try:
            entries = fs.ls(pending.pop(), detail=True)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            name = fs._strip_protocol(entry["name"]).rstrip("/")
            if entry.get("type") == "directory" and name.startswith(target.rstrip("/") + "/") and name not in found:
                found.add(name)
                pending.append(name)
    return found
