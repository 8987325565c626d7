"""FTP (``ftp://``) on fsspec's FTPFileSystem: what happens for FTP.

* **URI.** ``ftp://[user[:password]@]host[:port][/path]``; the password is a secret.
* **Settings**: MLflow's transfer timeout becomes ftplib's socket timeout.
* **Client** (:func:`ftp_client_setup`, the row's ``prepare``): passive mode; a file is one
  streamed ``STOR`` or ``RETR`` (fsspec's FTP would send one per buffered block); parents
  made once per upload by ``MKD`` first, no listings; a dropped control connection detected
  (:func:`ftp_connection_lost`) and replaced on the next call (fsspec's FTP never reconnects).
* **Paths**: real directories; uploads go to a temporary name, then ``RNFR``/``RNTO``; ``ls``
  of a file lists the file as its own child, so ``info`` is asked first.
* **Transfers**: one ftplib connection per thread (the client is not thread-safe), 4 control
  connections for a many-file transfer; checked by size (FTP lists no digest).
"""

from __future__ import annotations

import os

from ..converters import as_timeout
from ..rows import Client, PathTraits, Scheme, Setting, UriGrammar
from ..settings import NO_LISTINGS_CACHE, TIMEOUT

FTP_CONNECTIONS = 4  #: control connections of one many-file FTP transfer


def ftp_connection_lost(fs) -> bool:
    """True when an FTPFileSystem's control connection cannot serve another command: closed,
    timed out (ftplib's socket file refuses reads after a timeout), or holding unread bytes
    while idle (a server's ``421`` goodbye, or the late reply to a timed-out command).
    Looks at local state only; sends nothing."""
    import select

    ftp = fs.ftp
    socket_file = getattr(getattr(ftp.file, "buffer", None), "raw", None)  # text → buffered → SocketIO
    if ftp.sock is None or getattr(socket_file, "_timeout_occurred", False):
        return True
    return bool(select.select([ftp.sock], [], [], 0)[0])


FTP_STREAM_BLOCK = 2**20  #: bytes per socket write of a streamed STOR


def ftp_whole_file_transfers(fs) -> None:
    """fsspec's FTP moves a file through a buffered file object: on upload one ``STOR`` (a new
    data connection, a ``REST`` seek on the server) per block with the block held in memory,
    on download one ``RETR`` + ``ABOR`` per read-ahead block. ``put_file``/``get_file`` stream
    the file in a single ``STOR``/``RETR`` instead, as ftplib and MLflow's FTP repository do:
    1 GiB is one data connection and 1 MiB in flight. With ``parents_exist`` (artifact_fs
    made them before the batch) no directory is checked."""
    if getattr(fs.put_file, "skips_made_parents", False):
        return  # fsspec's cache handed back an instance prepared already

    def put_file(lpath, rpath, callback=None, parents_exist=False, **_kwargs):
        path = fs._strip_protocol(rpath)
        parent = fs._parent(path)
        if not parents_exist and parent:
            fs.makedirs(parent, exist_ok=True)
        with open(lpath, "rb") as source:
            if callback is not None:
                callback.set_size(os.fstat(source.fileno()).st_size)
            fs.ftp.storbinary(f"STOR {path}", source, blocksize=FTP_STREAM_BLOCK, callback=_progress(callback))
        fs.invalidate_cache(parent)

    def get_file(rpath, lpath, callback=None, **_kwargs):
        progress = _progress(callback)
        with open(lpath, "wb") as target:

            def write(block: bytes) -> None:
                target.write(block)
                if progress is not None:
                    progress(block)

            fs.ftp.retrbinary(f"RETR {fs._strip_protocol(rpath)}", write, blocksize=FTP_STREAM_BLOCK)

    put_file.skips_made_parents = True
    fs.put_file, fs.get_file = put_file, get_file


def ftp_client_setup(fs) -> None:
    """The FTP row's ``prepare``: a file in one streamed STOR/RETR, directories made by MKD."""
    ftp_whole_file_transfers(fs)
    ftp_makedirs_by_mkd(fs)


def ftp_makedirs_by_mkd(fs) -> None:
    """fsspec's FTP ``makedirs`` asks whether a level exists (a listing of its parent) before
    its ``MKD``, and asking about a missing level lists every level above it: a new 100-level
    path cost 10,000 listings (17 s), a 400-level one 160,000 (396 s). Between the
    question and the MKD another connection can make the directory: 8 threads logging into
    one new directory failed with ``550 File exists``.

    This ``makedirs`` sends ``MKD`` first and asks afterwards, with ``CWD`` (one command, no
    data connection): a refused MKD whose directory is there now lost a race to another
    creator, which is success (so is ``521``, some servers' "already exists"). When levels
    above are missing too, the deepest existing one is found by bisection with CWD and the
    rest made top-down, one MKD each (400 new levels: 412 commands, 3-5 s on pyftpdlib, which
    resolves every level of a path on each command). A refusal that leaves
    no directory is a ``PermissionError`` naming the directory and the server's reply, or a
    ``FileExistsError``/``NotADirectoryError`` when a file is in the way (one listing, on
    that error only). The connection's working directory is restored after probing."""
    if getattr(fs.makedirs, "mkd_first", False):
        return  # fsspec's cache handed back an instance prepared already
    import errno
    from ftplib import all_errors, error_perm

    def makedirs(path, exist_ok=False):
        path = fs._strip_protocol(path)
        parts = [part for part in path.split("/") if part]
        levels = ["/" + "/".join(parts[: depth + 1]) for depth in range(len(parts))]
        home: list[str] = []  # the working directory before the first CWD probe, once one moved it

        def is_dir(level: str) -> bool:
            if not home:
                home.append(fs.ftp.pwd())
            try:
                fs.ftp.cwd(level)
            except error_perm:
                return False
            home.append(level)
            return True

        def made(level: str) -> bool:
            """MKD ``level``: True if this call made it, False if it was (or just became) a directory."""
            try:
                fs.ftp.mkd(level)
            except error_perm as exc:
                if str(exc)[:3] == "521" or is_dir(level):
                    return False
                return refused(level, exc)
            fs.invalidate_cache(fs._parent(level))
            return True

        def refused(level: str, exc: error_perm) -> bool:
            parent = fs._parent(level)
            fs.invalidate_cache(parent)
            try:
                entry = next((e for e in fs.ls(parent) if fs._strip_protocol(e["name"]) == level), None)
            except all_errors:
                entry = None
            if entry is not None and entry.get("type") == "directory":
                return False  # there, but this login may not enter it
            if entry is not None:
                kind, code = (FileExistsError, errno.EEXIST) if level == path else (NotADirectoryError, errno.ENOTDIR)
                raise kind(code, f"a file is in the way of the directory ({exc})", level)
            raise PermissionError(errno.EACCES, f"the FTP server refused to create the directory ({exc})", level)

        if not levels:  # "/": always there
            made_it = False
        else:
            try:
                try:
                    fs.ftp.mkd(path)  # the parent usually exists: one command
                    fs.invalidate_cache(fs._parent(path))
                    made_it = True
                except error_perm as exc:
                    made_it = False
                    if not (str(exc)[:3] == "521" or is_dir(path)):
                        exists, missing = -1, len(levels) - 1  # levels[:exists + 1] are directories
                        while missing - exists > 1:
                            middle = (exists + missing) // 2
                            exists, missing = (middle, missing) if is_dir(levels[middle]) else (exists, middle)
                        for level in levels[exists + 1 :]:
                            made_it = made(level)
            finally:
                if len(home) > 1 and not ftp_connection_lost(fs):
                    try:
                        fs.ftp.cwd(home[0])
                    except all_errors:
                        pass  # every path sent is absolute: a lost working directory harms nothing
        if not made_it and not exist_ok:
            raise FileExistsError(errno.EEXIST, "directory exists", path)

    makedirs.mkd_first = True
    fs.makedirs = makedirs


def _progress(callback):
    return (lambda block: callback.relative_update(len(block))) if callback is not None else None


ROWS = (
    Scheme(
        "ftp",
        UriGrammar("userinfo_host", form="`ftp://[user[:password]@]host[:port][/path]`", secret_options=("password",)),
        Client(
            protocol="ftp",
            impl="fsspec.implementations.ftp.FTPFileSystem",
            settings=(Setting(TIMEOUT, "timeout", as_timeout),),
            # one ftplib connection per thread: the client must not be shared; each file's
            # parents made once per upload (``parents_exist``), not checked before every file
            defaults={
                **NO_LISTINGS_CACHE,
                "upload:connections": FTP_CONNECTIONS,
                "download:connections": FTP_CONNECTIONS,
                "upload:parents_exist": True,
            },
            prepare=ftp_client_setup,
            connection_probe=ftp_connection_lost,
            thread_safe=False,
        ),
        PathTraits(real_directories=True, atomic_rename=True, ls_file_as_child=True),
        mlflow_builtin="mlflow.store.artifact.ftp_artifact_repo:FTPArtifactRepository",
    ),
)
