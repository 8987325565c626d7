"""The notebook API: ``import artifact_fs as af``.

Every function takes any MLflow artifact URI — a store URI (``s3://b/p``,
``wasbs://c@a.blob.core.windows.net/p``, ``hdfs:/p``, a local path...), a run's
(``runs:/<run_id>/<path>`` or ``runs://<run_id>/<path>``) or a model's
(``models:/<name>/<version>/<path>``, ``models:/<name>@<alias>/<path>``) — plus storage
options that win over the environment (for runs and models: ``tracking_uri``,
``registry_uri``, ``cache_dir``, ``storage_options``).

>>> import artifact_fs as af
>>> af.storage_options("s3://bucket/data/t.parquet", endpoint_url="http://127.0.0.1:9000")[0]
's3://bucket/data/t.parquet'
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from . import core, transfer
from . import progress as progress_bars
from .opener import keyword_arguments, open_filesystem
from .paths import clean_artifact_path, local_destination
from .read_cache import ReadCache, cache_from_environment
from .resolver import Resolved, resolve
from .uri import uri_scheme

TRACKED_SCHEMES = ("runs", "models")
TRACKED_OPTIONS = ("tracking_uri", "registry_uri", "cache_dir", "storage_options")  #: only for runs/models


@dataclass(frozen=True)
class OpenedPath:
    """Any URI opened down to one path: the store's filesystem, the path on it, how it was
    resolved (and, for ``runs://``/``models://``, the tracked filesystem that resolved it)."""

    fs: Any
    path: str
    resolved: Resolved | None  #: ``None`` when reached through the tracking server's API
    cache: ReadCache | None = None
    tracked: Any = None  #: the ``runs``/``models`` filesystem that resolved it, if any

    @property
    def local(self) -> bool:
        """True for a path on this machine."""
        return bool(self.resolved is not None and self.resolved.row.paths.local)


@dataclass(frozen=True)
class CopyResult:
    """What :func:`cp` moved."""

    files: int
    bytes: int
    destination: str


def tracked_filesystem(uri: str, **options: Any):
    """The ``runs``/``models`` filesystem for a tracked URI (single- or double-slash form)."""
    from .protocols import ModelsFileSystem, RunsFileSystem

    return (RunsFileSystem if uri_scheme(uri) == "runs" else ModelsFileSystem)(**options)


def locate(uri: str | os.PathLike, env: Mapping[str, str] | None = None, **options: Any) -> OpenedPath:
    """Resolve ``uri`` to the store holding it (one tracking-server call for runs and models).

    >>> locate("memory://demo/x.txt").path
    '/demo/x.txt'
    """
    uri = os.fspath(uri)
    if uri_scheme(uri) in TRACKED_SCHEMES:
        tracked = tracked_filesystem(uri, **options)
        target, _key, inner = tracked.target(uri)
        resolved = dataclasses.replace(target.resolved, root=inner) if target.resolved is not None else None
        return OpenedPath(target.fs, inner, resolved, tracked.cache if tracked.uses_cache(target) else None, tracked)
    resolved = resolve(uri, env, **options)
    cache = None if resolved.row.paths.local else cache_from_environment()  # local files need no cached copy
    return OpenedPath(open_filesystem(resolved), resolved.root, resolved, cache)


def filesystem(uri: str | os.PathLike, env: Mapping[str, str] | None = None, **options: Any) -> tuple[Any, str]:
    """``(fs, path)`` for any MLflow URI, like ``fsspec.url_to_fs``.

    For ``runs:``/``models:`` URIs ``fs`` is the ``runs``/``models`` filesystem (names stay
    ``<run_id>/<path>``; reads use the verified cache when configured); for store URIs it is
    the store's own filesystem, with settings read from ``env`` (default ``os.environ``).

    >>> fs, path = filesystem("memory://demo")
    >>> path
    '/demo'
    """
    uri = os.fspath(uri)
    if uri_scheme(uri) in TRACKED_SCHEMES:
        tracked = tracked_filesystem(uri, **options)
        return tracked, tracked._strip_protocol(uri)
    location = locate(uri, env, **options)
    return location.fs, location.path


def storage_options(uri: str | os.PathLike, **options: Any) -> tuple[str, dict[str, Any]]:
    """``(fsspec_url, storage_options)`` for pandas, polars (``use_pyarrow=True``), dask...

    Works for every MLflow URI form, including those pandas cannot read itself
    (``wasbs://``, ``hdfs:/``, ``runs:/``). Store URIs become the store's fsspec URL and
    options (no I/O); runs and models become ``runs://``/``models://`` URLs with the tracking
    URI, so reads use the same filesystem classes and settings as MLflow's repository.

    >>> url, opts = storage_options("wasbs://c@acct.blob.core.windows.net/t.csv", account_key="k")
    >>> url, opts["account_name"]
    ('abfs://c/t.csv', 'acct')
    >>> storage_options("runs:/0a1b/data/t.parquet", tracking_uri="http://127.0.0.1:5000")
    ('runs://0a1b/data/t.parquet', {'tracking_uri': 'http://127.0.0.1:5000'})

    Then ``pd.read_csv(url, storage_options=opts)``.
    """
    uri = os.fspath(uri)
    if uri_scheme(uri) not in TRACKED_SCHEMES:
        resolved = resolve(uri, **options)  # no filesystem is opened, no I/O
        return resolved.url, keyword_arguments(resolved)
    tracked = tracked_filesystem(uri, **options)
    return tracked.unstrip_protocol(uri), {**options, "tracking_uri": tracked.tracking_uri}


def open(uri: str | os.PathLike, mode: str = "rb", **options: Any) -> IO:  # noqa: A001 - af.open reads naturally
    """Open an artifact for reading or writing (``"rb"``, ``"r"``, ``"wb"``, ``"w"``).

    >>> with open("memory://demo/hello.txt", "w") as f:
    ...     _ = f.write("hi")
    >>> open("memory://demo/hello.txt").read()
    b'hi'
    """
    fs, path = filesystem(uri, **options)
    return fs.open(path, mode)


def ls(uri: str | os.PathLike, detail: bool = False, **options: Any) -> list:
    """The children of a directory (names, or info dicts with ``detail=True``).

    >>> _ = open("memory://demo-ls/x.txt", "wb").write(b"x")
    >>> ls("memory://demo-ls")
    ['/demo-ls/x.txt']
    """
    fs, path = filesystem(uri, **options)
    return fs.ls(path, detail=detail)


def rm(uri: str | os.PathLike, recursive: bool = False, **options: Any) -> None:
    """Delete a file, or a directory tree with ``recursive=True``, with the repository's policy
    (on object stores: only the objects below ``<path>/`` and folder markers, never the bucket).

    >>> with open("memory://demo-rm/x.txt", "wb") as f:
    ...     _ = f.write(b"x")
    >>> rm("memory://demo-rm", recursive=True); ls("memory://demo-rm")
    Traceback (most recent call last):
    FileNotFoundError: ...
    """
    location = locate(uri, **options)
    row = location.resolved.row if location.resolved is not None else None
    try:
        transfer.delete(location.fs, row, location.path, recursive=recursive)
    except IsADirectoryError:
        raise IsADirectoryError(f"{os.fspath(uri)} is a directory: delete it with recursive=True") from None


def cp(src: str | os.PathLike, dst: str | os.PathLike, *, progress: bool | None = None, **options: Any) -> CopyResult:
    """Copy a file or a directory tree: upload, download, or store to store.

    A directory's contents land under ``dst``; a file lands at ``dst`` (or inside it when
    ``dst`` is an existing directory or ends with ``/``). Downloads appear under their
    final names only when complete, and use the verified cache when configured.
    ``progress``: ``None`` shows a bar only on a terminal (needs tqdm).

    >>> with open("memory://demo-cp/a/b.txt", "wb") as f:
    ...     _ = f.write(b"x" * 3)
    >>> cp("memory://demo-cp/a", "memory://copy", progress=False)
    CopyResult(files=1, bytes=3, destination='memory://copy')
    """
    src, dst = os.fspath(src), os.fspath(dst)
    source, target = locate(src, **_for(src, options)), locate(dst, **_for(dst, options))
    plan = _plan(source, target, dst.endswith("/"))
    if not plan:
        raise FileNotFoundError(f"nothing to copy at {src!r}")
    total = sum(int(entry.get("size") or 0) for _, _, entry in plan)
    pairs = [(s, d) for s, d, _ in plan]
    infos = {s: entry for s, _, entry in plan}
    if target.local:
        _download(source, pairs, infos, total, progress)
    elif source.local:
        _upload(target, pairs, total, progress)
    else:
        with tempfile.TemporaryDirectory(prefix="artifact_fs-cp-") as spool:
            staged = [(s, os.path.join(spool, str(i))) for i, (s, _) in enumerate(pairs)]
            _download(source, staged, infos, total, progress)
            _upload(target, [(local, d) for (_, local), (_, d) in zip(staged, pairs)], total, progress)
    return CopyResult(len(plan), total, dst)


def _for(uri: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options that apply to ``uri``: tracking options only to runs and models."""
    if uri_scheme(uri) in TRACKED_SCHEMES:
        return options
    return {k: v for k, v in options.items() if k not in TRACKED_OPTIONS}


def _plan(source: OpenedPath, target: OpenedPath, into: bool) -> list[tuple[str, str, dict]]:
    """``(source path, destination path, info)`` for every file to copy."""
    info = source.fs.info(source.path)
    join = os.path.join if target.local else posixpath.join
    if info.get("type") != "directory":
        name = posixpath.basename(source.path.rstrip("/"))
        is_dir = into or target.fs.isdir(target.path)
        dest = join(target.path, clean_artifact_path(name)) if is_dir else target.path
        return [(source.path, dest, info)]
    root = source.fs._strip_protocol(source.path).rstrip("/")
    plan = []
    for name, entry in sorted(source.fs.find(source.path, detail=True).items()):
        name = source.fs._strip_protocol(name)
        if entry.get("type") == "directory" or not name.startswith(root + "/"):
            continue
        relative = clean_artifact_path(name[len(root) + 1 :])
        dest = local_destination(target.path, relative) if target.local else join(target.path, relative)
        plan.append((name, dest, entry))
    return plan


def _download(source: OpenedPath, pairs, infos, total: int, progress: bool | None) -> None:
    """Through the one transfer core: staged, verified against ``infos``, retried, cached."""
    bar = progress_bars.make(total, len(pairs), "download", progress)
    try:
        core.download(
            source.fs,
            source.resolved,
            pairs,
            infos,
            core.policy_of(source.resolved),
            cache=source.cache,
            callback=bar,
            what=f"downloading {len(pairs)} file(s)",
        )
    finally:
        getattr(bar, "close", lambda: None)()


def _upload(target: OpenedPath, pairs, total: int, progress: bool | None) -> None:
    """Through the one transfer core: staged, verified, retried, cleaned up."""
    bar = progress_bars.make(total, len(pairs), "upload", progress)
    try:
        core.upload(
            target.fs,
            target.resolved,
            pairs,
            core.policy_of(target.resolved),
            callback=bar,
            what=f"uploading {len(pairs)} file(s)",
        )
    finally:
        getattr(bar, "close", lambda: None)()
