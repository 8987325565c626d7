"""Many small files in one request: the batch endpoints of a tracking server that runs
artifact_fs's app (``mlflow server --app-name artifact-fs``, :mod:`artifact_fs.server_app`).

A stock server spends ~10 ms of its one worker's CPU on every request, whatever its size
(benchmarks/README.md, "Proxied mode"), so a directory of 500 small files costs 500 of them
there. Against a server that answers ``GET /api/2.0/artifact-fs/batches``, the client sends
small files (up to :data:`SMALL_FILE` each) as uncompressed tar streams of up to
:data:`BATCH_BYTES` / :data:`BATCH_FILES`:

* ``POST /api/2.0/artifact-fs/batches/upload?path=<dir>``: a tar of files relative to
  ``<dir>``; the server logs them with its repository (its own transfer core: staged,
  verified, retried) and answers ``{"files": [{"path", "file_size", "md5"}]}`` with the MD5 of
  what it received, checked here against what was sent.
* ``POST /api/2.0/artifact-fs/batches/download`` with ``{"path": <dir>, "files": [...]}``:
  the server fetches them through its repository and answers a tar whose members carry the
  MD5 of their bytes (pax header :data:`MD5_HEADER`), checked here as they are written.

Bigger files, and every file against a server without the endpoints, go one request each
as before. A file the batch answer lacks or got wrong is an error the transfer core retries.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from ..errors import CorruptedInTransit

BATCHES_ENDPOINT = "/artifact-fs/batches"
MD5_HEADER = "ARTIFACT_FS.md5"
#: the MD5 of a whole batch body, sent beside it both ways: a body that differs is refused
#: before anything is written (upload) or its files discarded (download), and sent again
BODY_MD5_HEADER = "X-Artifact-FS-Body-MD5"
CORRUPTED = "CORRUPTED_IN_TRANSIT"
#: a file up to this size travels in a batch; bigger ones go one request each
SMALL_FILE = 4 * 1024 * 1024
#: a batch holds up to this many bytes of files, and this many files
BATCH_BYTES = 64 * 1024 * 1024
BATCH_FILES = 1000
#: batches in flight: one builds or unpacks on this side while the server stores the other
BATCHES_IN_FLIGHT = 2
SPOOL_MEMORY = 8 * 1024 * 1024
CHUNK = 1024 * 1024

Pair = tuple[str, str]


def offered(fs) -> bool:
    """Whether the server answers the batch endpoints (asked once per filesystem; a stock
    ``mlflow server`` answers 404, read as "no")."""
    if fs.batches is None:
        try:
            with fs._request("GET", endpoint=BATCHES_ENDPOINT, retries=fs.retries) as answer:
                fs.batches = bool(answer.json().get("version"))
        except (OSError, ValueError):
            fs.batches = False
    return fs.batches


def _common_dir(paths: Sequence[str]) -> str:
    """The deepest directory holding every one of ``paths`` (``/``-rooted server paths)."""
    return posixpath.commonpath([posixpath.dirname(path) for path in paths]) if paths else "/"


def _batches(pairs: Sequence[tuple[str, str, int]]) -> Iterator[list[tuple[str, str, int]]]:
    """``(a, b, size)`` triples cut into batches of at most BATCH_BYTES and BATCH_FILES."""
    batch, held = [], 0
    for triple in pairs:
        if batch and (held + triple[2] > BATCH_BYTES or len(batch) >= BATCH_FILES):
            yield batch
            batch, held = [], 0
        batch.append(triple)
        held += triple[2]
    if batch:
        yield batch


def in_flight(function, items: list, workers: int = BATCHES_IN_FLIGHT) -> None:
    """``function(item)`` for every item, ``workers`` at a time; the first error is raised."""
    workers = min(workers, len(items))
    if workers <= 1:
        for item in items:
            function(item)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(function, item) for item in items]:
            future.result()


# --- uploads ----------------------------------------------------------------------------


def split_uploads(pairs: Sequence[Pair]) -> tuple[list[tuple[str, str, int]], list[Pair]]:
    """``(small files with their sizes, the others)`` of ``(local, remote)`` pairs."""
    small, big = [], []
    for local, remote in pairs:
        size = os.path.getsize(local)
        if size <= SMALL_FILE:
            small.append((local, remote, size))
        else:
            big.append((local, remote))
    return small, big


def upload(fs, files: Sequence[tuple[str, str, int]]) -> None:
    """Send ``(local, remote, size)`` small files in batches, each checked against the server's answer."""
    in_flight(lambda batch: _upload_batch(fs, batch), list(_batches(files)))


def _upload_batch(fs, batch: Sequence[tuple[str, str, int]]) -> None:
    directory = _common_dir([remote for _, remote, _ in batch])
    sent: dict[str, tuple[int, str]] = {}
    with tempfile.SpooledTemporaryFile(SPOOL_MEMORY) as body:
        with tarfile.open(fileobj=body, mode="w|", format=tarfile.PAX_FORMAT) as archive:
            for local, remote, _ in batch:
                name = posixpath.relpath(remote, directory)
                with open(local, "rb") as source:
                    data = source.read(SMALL_FILE + 1)
                member = tarfile.TarInfo(name)
                member.size = len(data)
                archive.addfile(member, io.BytesIO(data))
                sent[name] = (len(data), hashlib.md5(data, usedforsecurity=False).hexdigest())
        size = body.tell()
        body.seek(0)
        whole = hashlib.md5(usedforsecurity=False)
        while chunk := body.read(CHUNK):
            whole.update(chunk)
        body.seek(0)
        headers = {"Content-Type": "application/x-tar", "Content-Length": str(size), BODY_MD5_HEADER: whole.hexdigest()}
        params = {"path": directory.strip("/")}
        try:
            with fs._request(
                "POST", endpoint=f"{BATCHES_ENDPOINT}/upload", params=params, data=body, extra_headers=headers
            ) as answer:
                stored = {item["path"]: item for item in answer.json().get("files", [])}
        except OSError as exc:
            if CORRUPTED in str(exc):
                raise CorruptedInTransit(f"batch upload to {directory!r}: {exc}") from None
            raise
    wrong = []
    for name, (length, md5) in sent.items():
        item = stored.get(name)
        if item is None:
            wrong.append((name, "missing from the server's answer"))
        elif int(item.get("file_size", -1)) != length or item.get("md5") != md5:
            wrong.append((name, f"the server received {item.get('file_size')} bytes, MD5 {item.get('md5')}"))
    if wrong:
        shown = "; ".join(f"{name!r}: {why}" for name, why in wrong[:5])
        raise CorruptedInTransit(f"batch upload to {directory!r} not verified, {len(wrong)} file(s): {shown}")


# --- downloads --------------------------------------------------------------------------


def split_downloads(fs, pairs: Sequence[Pair]) -> tuple[list[tuple[str, str, int]], list[Pair]]:
    """``(small files with their listed sizes, the others)`` of ``(remote, local)`` pairs: one
    listing per parent directory (a name it does not list goes one request on its own)."""
    sizes: dict[str, int | None] = {}
    for parent in sorted({posixpath.dirname(remote) for remote, _ in pairs}):
        try:
            for entry in fs._listing(parent):
                sizes[entry["name"]] = entry["size"]
        except FileNotFoundError:
            continue
    small, big = [], []
    for remote, local in pairs:
        size = sizes.get(remote)
        if size is not None and size <= SMALL_FILE:
            small.append((remote, local, size))
        else:
            big.append((remote, local))
    return small, big


def download(fs, files: Sequence[tuple[str, str, int]]) -> None:
    """Fetch ``(remote, local, size)`` small files in batches; each member is checked against
    the MD5 the server sent with it and its listed size as it is written."""
    in_flight(lambda batch: _download_batch(fs, batch), list(_batches(files)))


def _download_batch(fs, batch: Sequence[tuple[str, str, int]]) -> None:
    directory = _common_dir([remote for remote, _, _ in batch])
    wanted = {posixpath.relpath(remote, directory): (local, size) for remote, local, size in batch}
    body = {"path": directory.strip("/"), "files": sorted(wanted)}
    arrived = set()
    with fs._request("POST", endpoint=f"{BATCHES_ENDPOINT}/download", json=body, stream=True) as answer:
        answer.raw.decode_content = True
        stream = _Hashing(answer.raw)
        try:
            with tarfile.open(fileobj=stream, mode="r|") as archive:
                for member in archive:
                    if member.name not in wanted or not member.isfile():
                        raise ConnectionError(f"batch download from {directory!r}: unexpected member {member.name!r}")
                    local, size = wanted[member.name]
                    _write_member(archive, member, local, size, directory)
                    arrived.add(member.name)
            while stream.read(CHUNK):  # the end-of-archive blocks, counted in the body's digest
                pass
        except (tarfile.TarError, EOFError) as exc:
            raise ConnectionError(f"batch download from {directory!r} cut short: {exc}") from exc
        sent = answer.headers.get(BODY_MD5_HEADER)
        if sent is not None and sent != stream.digest.hexdigest():
            raise CorruptedInTransit(f"batch download from {directory!r}: the body's MD5 is not the server's {sent}")
    missing = sorted(set(wanted) - arrived)
    if missing:
        shown = f"{len(missing)} file(s) did not arrive: {missing[:5]}"
        raise ConnectionError(f"batch download from {directory!r}: {shown}")


class _Hashing:
    """A readable stream that hashes what is read from it."""

    def __init__(self, raw):
        self.raw, self.digest = raw, hashlib.md5(usedforsecurity=False)

    def read(self, size: int = -1) -> bytes:
        """Read and hash up to ``size`` bytes."""
        data = self.raw.read(size)
        self.digest.update(data)
        return data


def _write_member(archive: tarfile.TarFile, member: tarfile.TarInfo, local: str, size: int, directory: str) -> None:
    digest = hashlib.md5(usedforsecurity=False)
    source = archive.extractfile(member)
    with open(local, "wb") as target:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            target.write(chunk)
    expected = member.pax_headers.get(MD5_HEADER)
    if member.size != size or (expected is not None and expected != digest.hexdigest()):
        raise CorruptedInTransit(
            f"batch download from {directory!r}: {member.name!r} arrived as {member.size} bytes, MD5 "
            f"{digest.hexdigest()}; the store lists {size} bytes, the server sent MD5 {expected}"
        )
