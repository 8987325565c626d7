"""Contender ``raw`` on SFTP (asyncssh, by hand) and FTP (ftplib, several connections).

SFTP: one asyncssh connection and SFTP session, many requests in flight on it
(``SFTP_FILES_IN_FLIGHT`` small files at once; asyncssh's own parallel-block ``put``/``get``
for a big file), one ``readdir`` (names with attributes) per listed directory.
FTP: ``FTP_CONNECTIONS`` ftplib control connections in threads for the small-file trees,
one connection with 1 MiB blocks for a big file, one ``MLSD`` per listed directory.
Same signature as :mod:`benchmarks.raw`: ``op(store, data, scratch, out)``.
"""

from __future__ import annotations

import asyncio
import ftplib
import os
import posixpath
from concurrent.futures import ThreadPoolExecutor

from . import datasets
from .config import BIG_FILE_NAME, LIST_CALLS
from .raw import walk_count

SFTP_FILES_IN_FLIGHT = 64
FTP_CONNECTIONS = 4
FTP_BLOCK = 2**20

# --- sftp ----------------------------------------------------------------------------


def _sftp(store, body):
    """Run ``body(sftp)`` on a fresh asyncssh connection (the keys the store names)."""
    import asyncssh

    c = store.client

    async def main():
        async with asyncssh.connect(
            c["host"], port=c["port"], username=c["username"], client_keys=[c["key"]], known_hosts=None,
        ) as conn, conn.start_sftp_client() as sftp:  # fmt: skip
            return await body(sftp)

    return asyncio.run(main())


async def _gather_bounded(calls):
    gate = asyncio.Semaphore(SFTP_FILES_IN_FLIGHT)

    async def one(call):
        async with gate:
            await call()

    await asyncio.gather(*(one(call) for call in calls))


def sftp_w1(store, data, scratch, out):
    """W1: mkdir the 20 directories, then every file put concurrently on one session."""
    files = datasets.local_files(data["tree"])
    target = store.path(out)

    async def body(sftp):
        for directory in sorted({posixpath.dirname(f"{target}/{rel}") for _, rel in files}):
            await sftp.makedirs(directory, exist_ok=True)
        await _gather_bounded([lambda f=f, r=r: sftp.put(f, f"{target}/{r}") for f, r in files])

    _sftp(store, body)


def sftp_w2(store, data, scratch, out):
    """W2: readdir walk of the tree, then every file fetched concurrently."""
    top = store.path(datasets.TREE)

    async def body(sftp):
        files, pending = [], [""]
        while pending:
            rel = pending.pop()
            for entry in await sftp.readdir(f"{top}/{rel}".rstrip("/")):
                if entry.filename in (".", ".."):
                    continue
                child = f"{rel}/{entry.filename}".lstrip("/")
                (pending if entry.attrs.type == 2 else files).append(child)  # 2: FILEXFER_TYPE_DIRECTORY
        for parent in {posixpath.dirname(rel) for rel in files}:
            os.makedirs(os.path.join(scratch, parent), exist_ok=True)
        await _gather_bounded([lambda r=r: sftp.get(f"{top}/{r}", os.path.join(scratch, r)) for r in files])

    _sftp(store, body)


def sftp_w3(store, data, scratch, out):
    """W3: asyncssh ``put`` (parallel block writes) of the big file."""
    target = store.path(out)

    async def body(sftp):
        await sftp.makedirs(target, exist_ok=True)
        await sftp.put(data["big"], f"{target}/{BIG_FILE_NAME}")

    _sftp(store, body)


def sftp_w4(store, data, scratch, out):
    """W4: asyncssh ``get`` (parallel block reads) of the big file."""
    source = store.path(f"{data['big_dir']}/{BIG_FILE_NAME}")
    _sftp(store, lambda sftp: sftp.get(source, os.path.join(scratch, BIG_FILE_NAME)))


async def _readdir(sftp, path):
    return [
        (e.filename, e.attrs.type == 2, e.attrs.size) for e in await sftp.readdir(path) if e.filename not in (".", "..")
    ]


def sftp_w5a(store, data, scratch, out):
    """W5a: one readdir of the big directory, ``LIST_CALLS`` times."""
    path = store.path(datasets.LISTING)

    async def body(sftp):
        return sum([len(await _readdir(sftp, path)) for _ in range(LIST_CALLS)])

    return _sftp(store, body)


def sftp_w5b(store, data, scratch, out):
    """W5b: readdir of the tree root, then of all its directories at once."""

    async def body(sftp):
        top = await _readdir(sftp, store.path(datasets.TREE))
        subs = await asyncio.gather(*(_readdir(sftp, store.path(f"{datasets.TREE}/{n}")) for n, d, _ in top if d))
        return len(top) + sum(len(s) for s in subs)

    return _sftp(store, body)


SFTP = {"W1": sftp_w1, "W2": sftp_w2, "W3": sftp_w3, "W4": sftp_w4, "W5a": sftp_w5a, "W5b": sftp_w5b}

# --- ftp -----------------------------------------------------------------------------


def _ftp(store) -> ftplib.FTP:
    c = store.client
    ftp = ftplib.FTP()
    ftp.connect(c["host"], c["port"], timeout=60)
    ftp.login(c["username"], c["password"])
    return ftp


def _mlsd(ftp, path):
    return [
        (n, f["type"] == "dir", int(f.get("size", 0)))
        for n, f in ftp.mlsd(path, ["type", "size"])
        if f["type"] in ("dir", "file")
    ]


def _mkdirs(ftp, path):
    parts = path.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        try:
            ftp.mkd("/" + "/".join(parts[:i]))
        except ftplib.error_perm:
            pass  # exists


def _spread(store, jobs, run_one):
    """Run ``run_one(ftp, job)`` for every job over ``FTP_CONNECTIONS`` connections."""
    shares = [jobs[i::FTP_CONNECTIONS] for i in range(FTP_CONNECTIONS)]

    def worker(share):
        ftp = _ftp(store)
        try:
            for job in share:
                run_one(ftp, job)
        finally:
            ftp.close()

    with ThreadPoolExecutor(FTP_CONNECTIONS) as pool:
        for future in [pool.submit(worker, share) for share in shares if share]:
            future.result()


def _store_file(ftp, local, remote):
    with open(local, "rb") as handle:
        ftp.storbinary(f"STOR {remote}", handle, FTP_BLOCK)


def _retr_file(ftp, remote, local):
    with open(local, "wb") as handle:
        ftp.retrbinary(f"RETR {remote}", handle.write, FTP_BLOCK)


def ftp_w1(store, data, scratch, out):
    """W1: mkdirs on one connection, then the files over several connections."""
    files = datasets.local_files(data["tree"])
    target = store.path(out)
    ftp = _ftp(store)
    for directory in sorted({posixpath.dirname(f"{target}/{rel}") for _, rel in files}):
        _mkdirs(ftp, directory)
    ftp.close()
    _spread(store, [(full, f"{target}/{rel}") for full, rel in files], lambda f, job: _store_file(f, *job))


def ftp_w2(store, data, scratch, out):
    """W2: MLSD walk, then the files over several connections."""
    top, files, pending = store.path(datasets.TREE), [], [""]
    ftp = _ftp(store)
    while pending:
        rel = pending.pop()
        for name, is_dir, _ in _mlsd(ftp, f"{top}/{rel}".rstrip("/")):
            (pending if is_dir else files).append(f"{rel}/{name}".lstrip("/"))
    ftp.close()
    for parent in {posixpath.dirname(rel) for rel in files}:
        os.makedirs(os.path.join(scratch, parent), exist_ok=True)
    _spread(store, [(f"{top}/{r}", os.path.join(scratch, r)) for r in files], lambda f, job: _retr_file(f, *job))


def ftp_w3(store, data, scratch, out):
    """W3: STOR with 1 MiB blocks."""
    ftp = _ftp(store)
    _mkdirs(ftp, store.path(out))
    _store_file(ftp, data["big"], store.path(f"{out}/{BIG_FILE_NAME}"))
    ftp.close()


def ftp_w4(store, data, scratch, out):
    """W4: RETR with 1 MiB blocks."""
    ftp = _ftp(store)
    _retr_file(ftp, store.path(f"{data['big_dir']}/{BIG_FILE_NAME}"), os.path.join(scratch, BIG_FILE_NAME))
    ftp.close()


def ftp_w5a(store, data, scratch, out):
    """W5a: one MLSD of the big directory, ``LIST_CALLS`` times."""
    ftp = _ftp(store)
    count = sum(len(_mlsd(ftp, store.path(datasets.LISTING))) for _ in range(LIST_CALLS))
    ftp.close()
    return count


def ftp_w5b(store, data, scratch, out):
    """W5b: one MLSD per directory of the tree."""
    ftp = _ftp(store)
    count = walk_count(lambda path: _mlsd(ftp, path), store.path(datasets.TREE))
    ftp.close()
    return count


FTP = {"W1": ftp_w1, "W2": ftp_w2, "W3": ftp_w3, "W4": ftp_w4, "W5a": ftp_w5a, "W5b": ftp_w5b}
