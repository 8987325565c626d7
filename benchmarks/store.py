"""Where a benchmark store lives, and the administrative client that seeds, checks and
cleans it (never timed).

A :class:`Store` names one place twice: as the MLflow artifact URI the repositories
receive (``base``) and as the path the backend's plain fsspec client uses (``root``).
``client`` holds the JSON-able connection details the raw clients need (host, port,
keys); secrets the repositories read come from the worker's environment.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from . import datasets


@dataclass(frozen=True)
class Store:
    """A store root on one backend."""

    backend: str
    base: str  #: MLflow artifact URI of the root (a plain path for local stores)
    root: str  #: the same place as a path for the backend's fsspec client
    client: dict = field(default_factory=dict)  #: connection details for the raw/admin clients

    def uri(self, relative: str) -> str:
        """The artifact URI MLflow's registry receives for ``relative``."""
        return f"{self.base.rstrip('/')}/{relative}" if relative else self.base

    def path(self, relative: str) -> str:
        """The fsspec path of ``relative`` under the root."""
        return f"{self.root.rstrip('/')}/{relative}" if relative else self.root

    def local_path(self, relative: str) -> str:
        """Local store only: the directory or file at ``relative``."""
        return os.path.join(self.root, *relative.split("/")) if relative else self.root

    @property
    def bucket(self) -> str:
        """Object stores: the bucket / container name (first component of the root)."""
        return self.root.strip("/").split("/", 1)[0]

    def as_dict(self) -> dict:
        """Plain-dict form (for the worker's command line)."""
        return asdict(self)


def seed_inputs(fs, store: Store, data: dict[str, str], threads: int = 1) -> None:
    """Upload the download/listing inputs once with the admin client ``fs`` (not timed);
    ``threads`` > 1 puts the small files from that many threads (sync clients with slow
    per-file completion, HDFS)."""
    for local_dir, relative in ((data["tree"], datasets.TREE), (data["listing"], datasets.LISTING)):
        files = datasets.local_files(local_dir)
        sources, targets = [full for full, _ in files], [store.path(f"{relative}/{rel}") for _, rel in files]
        if threads <= 1:
            fs.put(sources, targets)
            continue
        for parent in sorted({target.rsplit("/", 1)[0] for target in targets}):
            fs.makedirs(parent, exist_ok=True)
        with ThreadPoolExecutor(threads) as pool:
            for future in [pool.submit(_put_retrying, fs, s, t) for s, t in zip(sources, targets)]:
                future.result()
    for size, local in data["big_files"].items():
        _put_retrying(fs, local, store.path(f"{datasets.big_dir(int(size))}/{os.path.basename(local)}"))


def _put_retrying(fs, source: str, target: str, attempts: int = 3) -> None:
    """``fs.put_file`` again after a failure (a loaded HDFS NameNode may not complete a file in time)."""
    for attempt in range(attempts):
        try:
            fs.put_file(source, target)
            return
        except Exception:  # noqa: BLE001 - the last attempt's error is raised
            if attempt == attempts - 1:
                raise


def remote_stats(fs, store: Store, relative: str) -> tuple[int, int]:
    """``(file count, total bytes)`` stored under ``relative`` (a directory/prefix)."""
    try:
        found = fs.find(store.path(relative), detail=True)
    except FileNotFoundError:
        return 0, 0
    files = [entry for name, entry in found.items() if entry.get("type") != "directory" and not name.endswith("/")]
    return len(files), sum(int(entry.get("size") or 0) for entry in files)


def delete(fs, store: Store, relative: str) -> None:
    """Remove everything under ``relative`` (best effort; after the upload workloads)."""
    try:
        fs.rm(store.path(relative), recursive=True)
    except (FileNotFoundError, OSError):
        pass
