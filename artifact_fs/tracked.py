"""The delegating half of ``runs://`` / ``models://``: a filesystem whose paths start with an
entity key (a run id, ``name/version``...) resolved once to an :class:`ArtifactRoot`, the fsspec
filesystem and root that hold that entity's artifacts; every call is forwarded there and
the names it returns are mapped back under the key. :mod:`artifact_fs.protocols` says how
a key becomes an artifact URI.
"""

from __future__ import annotations

import io
import os
import threading
from typing import Any, ClassVar

from fsspec.spec import AbstractFileSystem, make_instance

from .artifact_roots import ArtifactRoot, open_verified
from .read_cache import ReadCache, cache_from_environment

_LOCK = threading.Lock()


def default_tracking_uri() -> str:
    """MLflow's tracking URI: ``MLFLOW_TRACKING_URI`` as it is when MLflow was never imported in
    this process (nothing can have called ``mlflow.set_tracking_uri``), else MLflow's answer.
    A worker process reading ``runs://`` so skips importing MLflow (1-2 s) for a run whose
    root travelled in the pickle."""
    import sys

    from_env = os.environ.get("MLFLOW_TRACKING_URI")
    if from_env and "mlflow.tracking" not in sys.modules:
        return from_env
    import mlflow

    return mlflow.get_tracking_uri()


def _with_known_roots(fs, known: dict[str, str]):
    """Unpickling: a ``runs://``/``models://`` filesystem with the roots its pickler had looked up."""
    fs._known_roots.update(known)
    return fs


class TrackedArtifacts(AbstractFileSystem):
    """Artifacts named by a tracking-server entity; see the module docstring."""

    protocol: ClassVar[str]
    root_marker = ""
    cachable = False  # the tracking URI may come from the environment; resolutions are cached below

    def __init__(
        self,
        tracking_uri: str | None = None,
        registry_uri: str | None = None,
        cache_dir: str | None = None,
        storage_options: dict | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.tracking_uri = tracking_uri or default_tracking_uri()
        self.registry_uri = registry_uri
        self.overrides = dict(storage_options or {})
        self.cache: ReadCache | None = ReadCache(cache_dir) if cache_dir else cache_from_environment()
        self._targets: dict[str, ArtifactRoot] = {}
        #: artifact roots of keys that never move (run ids, fixed model versions) looked up by
        #: the process that pickled this filesystem: a worker opens them without asking again
        self._known_roots: dict[str, str] = {}
        self._recent: tuple[Any, bytes] | None = None  #: the last file read whole and verified, by entry (used once)

    def __reduce__(self):
        """Pickled with its constructor's arguments minus every credential (:mod:`artifact_fs.portable`):
        the store's secret options are dropped and the tracking server's password left out of
        its URI; where it is unpickled, credentials come from that process's environment."""
        from .portable import public_options, public_uri

        given = public_options({k: v for k, v in self.storage_options.items() if k != "storage_options"})
        for name in ("tracking_uri", "registry_uri"):
            if given.get(name):
                given[name] = public_uri(given[name])
        if self.overrides:
            given["storage_options"] = public_options(self.overrides)
        with _LOCK:
            known = {key: target.artifact_uri for key, target in self._targets.items() if self.fixed_key(key)}
        known = {key: uri for key, uri in {**self._known_roots, **known}.items() if public_uri(uri) == uri}
        if not known:
            return make_instance, (type(self), self.storage_args, given)
        return _with_known_roots, (make_instance(type(self), self.storage_args, given), known)

    # --- names ----------------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = str(path)
        for prefix in (f"{cls.protocol}://", f"{cls.protocol}:"):
            if path.startswith(prefix):
                path = path[len(prefix) :]
                break
        return path.strip("/")

    def unstrip_protocol(self, name: str) -> str:
        """``runs://<name>``."""
        return f"{self.protocol}://{self._strip_protocol(name)}"

    @staticmethod
    def split_key(path: str) -> tuple[str, str]:
        """``(entity key, artifact path)`` of a stripped path."""
        raise NotImplementedError

    def target(self, path: str) -> tuple[ArtifactRoot, str, str]:
        """``(target, key, underlying path)`` for a path of this filesystem."""
        key, relative = self.split_key(self._strip_protocol(path))
        with _LOCK:
            target = self._targets.get(key)
        if target is None:
            known = self._known_roots.get(key)
            target = self._open_target(known if known is not None else self.artifact_uri(key))
            with _LOCK:
                self._targets[key] = target
        return target, key, target.path(relative)

    def artifact_uri(self, key: str) -> str:
        """The artifact root MLflow reports for ``key`` (a run id, ``name/version``, ``name@alias``)."""
        raise NotImplementedError

    @staticmethod
    def fixed_key(key: str) -> bool:
        """Whether ``key``'s artifact root never moves (a run id does; an alias does not)."""
        raise NotImplementedError

    def _open_target(self, artifact_uri: str) -> ArtifactRoot:
        from .backends import scheme_row
        from .opener import open_filesystem
        from .resolver import resolve
        from .uri import uri_scheme

        row = scheme_row(uri_scheme(artifact_uri))
        if row is not None and row.client.protocol == "mlflow-artifacts":  # proxied: the tracking server's API
            resolved = resolve(artifact_uri, **({"tracking_uri": self.tracking_uri} if self.tracking_uri else {}))
        else:
            resolved = resolve(artifact_uri, **self.overrides)
        return ArtifactRoot(artifact_uri, open_filesystem(resolved), resolved.root, resolved)

    @staticmethod
    def integrity_of(target: ArtifactRoot):
        """``(row, policy)``: the scheme row whose digest rules check ``target``'s bytes and the
        transfer policy (``ARTIFACT_FS_VERIFY``, ``ARTIFACT_FS_RETRIES``)."""
        from .integrity import TransferPolicy

        return target.resolved.row, TransferPolicy(**target.resolved.transfer_options)

    def uses_cache(self, target: ArtifactRoot) -> bool:
        """Reads of ``target`` go through the cache (never for local roots: they are local already)."""
        return self.cache is not None and not target.resolved.row.paths.local

    def _client(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)

    def _outer(self, key: str, target: ArtifactRoot, entry: dict) -> dict | None:
        relative = target.relative(entry["name"])
        if relative is None:
            return None
        if entry["name"].endswith("/"):  # a zero-byte folder marker (SeaweedFS, cloud consoles)
            entry = {**entry, "type": "directory", "size": None}
        return {**entry, "name": f"{key}/{relative}" if relative else key}

    # --- delegated calls ------------------------------------------------------------------

    def ls(self, path, detail=True, **kwargs):
        """Children of ``path`` in the run's artifact root."""
        target, key, inner = self.target(path)
        listed = self._strip_protocol(path)
        try:
            found = target.fs.ls(inner, detail=True, **kwargs)
        except FileNotFoundError:
            if listed != key:
                raise
            found = []  # a run (or model) with no artifacts yet
        entries = [
            e
            for e in (self._outer(key, target, e) for e in found)
            if e and not (e["name"] == listed and e.get("type") == "directory")
        ]  # not the directory itself
        return entries if detail else [e["name"] for e in entries]

    def info(self, path, **kwargs):
        """The underlying store's ``info()``, under this filesystem's name."""
        target, key, inner = self.target(path)
        return self._outer(key, target, target.fs.info(inner, **kwargs)) or {
            "name": path,
            "type": "directory",
            "size": None,
        }

    def find(self, path, maxdepth=None, withdirs=False, detail=False, **kwargs):
        """Every file below ``path`` (one recursive listing of the underlying store)."""
        target, key, inner = self.target(path)
        found = target.fs.find(inner, maxdepth=maxdepth, withdirs=withdirs, detail=True, **kwargs)
        out = {}
        for entry in found.values():
            outer = self._outer(key, target, entry)
            if outer is not None and (withdirs or outer["type"] != "directory"):
                out[outer["name"]] = outer
        return out if detail else sorted(out)

    def open(self, path, mode="rb", block_size=None, cache_options=None, compression=None, **kwargs):
        """Open a file of the store; reads go through the verified cache when one is configured.

        Reads are verified against the digest the store lists (S3 ETag, multipart ETags
        included, GCS ``md5Hash``, Azure ``Content-MD5``; not with ``ARTIFACT_FS_VERIFY=size``):

        * a file no bigger than one read block (the store's block size, or ``block_size``:
          50 MiB on S3) is fetched whole in one GET when opened, checked, and read from
          memory: any read pattern is verified, and a corrupted fetch is fetched again
          within the retry budget before :class:`~artifact_fs.errors.IntegrityError`;
        * a bigger file is hashed as it is read: read whole, in order, the read that
          reaches its end raises ``IntegrityError`` (an ``OSError``, so pandas and pyarrow
          pass it on) instead of returning corrupted bytes. Reads that skip ahead (a
          Parquet footer first, byte ranges, ``seek``) cannot be verified this way and are
          served unchecked: copy the file with ``af.cp`` / ``download_artifacts`` (verified
          and retried), or turn on the read cache (``ARTIFACT_FS_CACHE_DIR``), whose
          entries are verified before they are served.
        """
        target, _key, inner = self.target(path)
        reading = mode in ("rb", "r") and compression is None
        row, policy = self.integrity_of(target)
        if self.uses_cache(target) and reading:
            local = self.cache.fetch(target.fs, inner, row=row, policy=policy)
            if local is not None:
                return open(local, mode, **({"encoding": kwargs.get("encoding")} if mode == "r" else {}))
        if mode in ("wb", "w", "xb", "x") and compression is None:
            from .writes import open_for_writing

            options = {"block_size": block_size} if block_size else {}
            return open_for_writing(
                target.fs,
                inner,
                target.resolved.row,
                mode,
                encoding=kwargs.pop("encoding", None),
                **options,
                **kwargs,
            )
        if reading and row is not None and row.transfer.checksum is not None and policy.verify != "size":
            binary = open_verified(self, target, inner, row, policy, block_size, cache_options, kwargs)
            if mode == "rb":
                return binary
            text = {name: kwargs[name] for name in ("encoding", "errors", "newline") if name in kwargs}
            return io.TextIOWrapper(
                binary if isinstance(binary, io.BufferedIOBase) else io.BufferedReader(binary), **text
            )
        return target.fs.open(
            inner, mode, block_size=block_size, cache_options=cache_options, compression=compression, **kwargs
        )

    def cat_file(self, path, start=None, end=None, **kwargs):
        """Bytes of one file (a range with ``start``/``end``)."""
        target, _key, inner = self.target(path)
        return target.fs.cat_file(inner, start=start, end=end, **kwargs)

    def pipe_file(self, path, value, **kwargs):
        """Write ``value`` as one file (staged and verified as every write: see :meth:`open`)."""
        with self.open(path, "wb", **kwargs) as f:
            f.write(value)

    def get_file(self, rpath, lpath, **kwargs):
        """Download one file (through the cache when configured, whose fills are verified)."""
        target, _key, inner = self.target(rpath)
        if self.uses_cache(target):
            row, policy = self.integrity_of(target)
            if self.cache.copy_to(
                target.fs, inner, target.fs.info(inner), lpath, target.fs.get_file, row=row, policy=policy
            ):
                return None
        from . import core

        expected = {target.fs._strip_protocol(inner).rstrip("/"): target.fs.info(inner)}
        core.download(target.fs, target.resolved, [(inner, lpath)], expected, callback=kwargs.get("callback"))
        return None

    def put_file(self, lpath, rpath, **kwargs):
        """Upload one file through the one transfer core (staged, verified, retried)."""
        from . import core

        target, _key, inner = self.target(rpath)
        core.upload(target.fs, target.resolved, [(lpath, inner)], callback=kwargs.get("callback"))

    def rm_file(self, path):
        """Delete one file."""
        target, _key, inner = self.target(path)
        return target.fs.rm_file(inner)

    def rm(self, path, recursive=False, maxdepth=None):
        """Delete files (or trees with ``recursive``)."""
        from .transfer import delete

        for item in [path] if isinstance(path, str) else path:
            target, _key, inner = self.target(item)
            delete(target.fs, target.resolved.row if target.resolved else None, inner, recursive=recursive)

    def mkdir(self, path, create_parents=True, **kwargs):
        """Create a directory (a no-op on object stores)."""
        target, _key, inner = self.target(path)
        return target.fs.mkdir(inner, create_parents=create_parents, **kwargs)

    def makedirs(self, path, exist_ok=False):
        """Create a directory and its parents."""
        target, _key, inner = self.target(path)
        return target.fs.makedirs(inner, exist_ok=exist_ok)

    def cp_file(self, path1, path2, **kwargs):
        """Copy within one store server-side; across stores through a stream."""
        t1, _k1, inner1 = self.target(path1)
        t2, _k2, inner2 = self.target(path2)
        if t1.fs is t2.fs:
            return t1.fs.cp_file(inner1, inner2, **kwargs)
        with self.open(path1, "rb") as src, self.open(path2, "wb") as dst:  # both verified
            while chunk := src.read(8 * 1024 * 1024):
                dst.write(chunk)

    def modified(self, path):
        """Last modification time, as the store reports it."""
        target, _key, inner = self.target(path)
        return target.fs.modified(inner)

    def checksum(self, path):
        """The store's checksum of the file."""
        target, _key, inner = self.target(path)
        return target.fs.checksum(inner)

    def ukey(self, path):
        """A key that changes when the file does."""
        target, _key, inner = self.target(path)
        return target.fs.ukey(inner)
