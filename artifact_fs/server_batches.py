"""The server's half of batched transfers (the client's: :mod:`.backends.tracking_server_batches`).

Plain functions over a file of tar bytes and an MLflow artifact repository (the server's
``--artifacts-destination`` one), so the FastAPI and Flask routes of :mod:`.server_app` stay
a few lines each. Every file still travels through the repository's own transfer core:
the members are unpacked into a private temporary directory and logged with one
``log_artifacts`` (files in flight, staged, verified, retried), or fetched into one with
its downloads, and the directory is gone when the request ends.

Every name is checked before anything is written: a member or a requested file must be
a plain relative artifact path (MLflow's ``validate_path_is_safe`` and artifact_fs's own
rules), a member a regular file, a name given once. A refused batch writes nothing.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from .backends.tracking_server_batches import (
    BATCH_BYTES,
    BATCH_FILES,
    CHUNK,
    CORRUPTED,
    MD5_HEADER,
    SMALL_FILE,
    SPOOL_MEMORY,
)
from .paths import clean_artifact_path, join_artifact_path

#: the largest upload body taken (a batch's bytes plus tar's headers and padding)
MAX_BODY = BATCH_BYTES + BATCH_FILES * 3 * 512 + 64 * 1024


class BatchRefused(ValueError):
    """A batch the server will not take (a bad name, too big, not a tar): HTTP 400."""


class BodyCorrupted(BatchRefused):
    """An upload body whose MD5 is not the one its client sent: HTTP 400, ``CORRUPTED_IN_TRANSIT``
    (the client sends it again)."""


def check_body(md5_hex: str, sent: str | None) -> None:
    """Refuse an upload body whose MD5 is not the client's (``sent``; required)."""
    if not sent:
        raise BatchRefused("an upload batch needs its body's MD5 in X-Artifact-FS-Body-MD5")
    if sent.strip().lower() != md5_hex:
        raise BodyCorrupted(f"{CORRUPTED}: the batch body's MD5 is {md5_hex}, its client sent {sent}")


def safe_name(name: str, what: str = "batch member") -> str:
    """``name`` as a clean relative artifact path, else :class:`BatchRefused` naming it."""
    from mlflow.utils.uri import validate_path_is_safe

    try:
        validate_path_is_safe(name)
        cleaned = clean_artifact_path(name)
    except Exception as exc:  # noqa: BLE001 - MLflow raises MlflowException, artifact_fs InvalidArtifactPathError
        raise BatchRefused(f"{what} {name!r} refused: {exc}") from None
    if not cleaned or cleaned != name.strip("/"):
        raise BatchRefused(f"{what} {name!r} refused: not a plain relative artifact path")
    return cleaned


def receive(body: IO[bytes], directory: str, repository: Any) -> list[dict]:
    """Unpack the tar ``body`` and log its files under ``directory`` with ``repository``:
    ``[{"path", "file_size", "md5"}]`` of what was received (the client compares)."""
    received, names = [], set()
    with tempfile.TemporaryDirectory(prefix="artifact-fs-batch-") as unpacked:
        try:
            with tarfile.open(fileobj=body, mode="r|") as archive:
                for member in archive:
                    name = safe_name(member.name)
                    if not member.isfile():
                        raise BatchRefused(f"batch member {member.name!r} refused: not a regular file")
                    if name in names or len(names) >= BATCH_FILES:
                        raise BatchRefused(f"batch member {name!r} refused: given twice, or over {BATCH_FILES} files")
                    names.add(name)
                    received.append(_unpack(archive, member, name, unpacked))
        except tarfile.TarError as exc:
            raise BatchRefused(f"the batch is no readable tar stream: {exc}") from None
        if received:
            repository.log_artifacts(unpacked, directory or None)
    return received


def _unpack(archive: tarfile.TarFile, member: tarfile.TarInfo, name: str, into: str) -> dict:
    local = os.path.join(into, *name.split("/"))
    try:
        os.makedirs(os.path.dirname(local), exist_ok=True)
        target = open(local, "xb")
    except OSError as exc:  # 'a' and 'a/b' in one batch
        raise BatchRefused(f"batch member {name!r} refused: {exc.strerror}") from None
    digest, size = hashlib.md5(usedforsecurity=False), 0
    source = archive.extractfile(member)
    with target:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            target.write(chunk)
            size += len(chunk)
    return {"path": name, "file_size": size, "md5": digest.hexdigest()}


class _HashingSpool(tempfile.SpooledTemporaryFile):
    """A spool that hashes what is written to it (``md5``)."""

    def __init__(self, max_size: int):
        super().__init__(max_size)
        self.md5 = hashlib.md5(usedforsecurity=False)

    def write(self, data) -> int:
        """Write and hash ``data``."""
        self.md5.update(data)
        return super().write(data)


def send(directory: str, names: list[str], repository: Any) -> tuple[Any, int]:
    """The files ``names`` under ``directory``, fetched with ``repository`` into a tar spool
    (each member with its MD5 in the pax header ``ARTIFACT_FS.md5``; the whole body's in the
    spool's ``md5``): ``(spool at 0, size)``.
    A missing file raises what the repository raises (RESOURCE_DOES_NOT_EXIST)."""
    if len(names) > BATCH_FILES or len(set(names)) != len(names):
        raise BatchRefused(f"a download batch names each file once, at most {BATCH_FILES}")
    names = [safe_name(name, "requested file") for name in names]
    spool = _HashingSpool(SPOOL_MEMORY)
    try:
        with tempfile.TemporaryDirectory(prefix="artifact-fs-batch-") as fetched:
            locals_ = [os.path.join(fetched, f"{index:05d}") for index in range(len(names))]
            _fetch(repository, [(join_artifact_path(directory, name), local) for name, local in zip(names, locals_)])
            with tarfile.open(fileobj=spool, mode="w|", format=tarfile.PAX_FORMAT) as archive:
                for name, local in zip(names, locals_):
                    _add(archive, name, local)
        size = spool.tell()
        spool.seek(0)
        return spool, size
    except BaseException:
        spool.close()
        raise


def _fetch(repository: Any, pairs: list[tuple[str, str]]) -> None:
    """Download root-relative files: artifact_fs's repository in one batch through its
    transfer core; another repository one ``_download_file`` per file, 8 at a time. A
    missing file is a ``FileNotFoundError`` naming every one missing."""
    try:
        _fetch_all(repository, pairs)
    except Exception as exc:
        if not (isinstance(exc, FileNotFoundError) or getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST"):
            raise
        listed = set()
        for parent in {posixpath.dirname(path) for path, _ in pairs}:
            listed.update(info.path for info in repository.list_artifacts(parent or None))
        missing = sorted(path for path, _ in pairs if path not in listed)
        raise FileNotFoundError(f"No such artifact(s): {missing[:10]}" if missing else str(exc)) from None


def _fetch_all(repository: Any, pairs: list[tuple[str, str]]) -> None:
    if hasattr(repository, "_download") and hasattr(repository, "_remote"):
        repository._download([(repository._remote(clean_artifact_path(path)), local) for path, local in pairs])
        return
    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(repository._download_file, path, local) for path, local in pairs]:
            future.result()


def _add(archive: tarfile.TarFile, name: str, local: str) -> None:
    size = os.path.getsize(local)
    if size > SMALL_FILE:
        raise BatchRefused(f"{name!r} is {size} bytes: a batch carries files up to {SMALL_FILE}")
    with open(local, "rb") as source:
        data = source.read()
    member = tarfile.TarInfo(posixpath.normpath(name))
    member.size = len(data)
    member.pax_headers = {MD5_HEADER: hashlib.md5(data, usedforsecurity=False).hexdigest()}
    archive.addfile(member, io.BytesIO(data))
