"""``FsspecArtifactRepository``: the one MLflow artifact repository, for every store.

It maps MLflow's ``ArtifactRepository`` contract onto fsspec calls (``put``, ``ls``,
``find``, ``get``, ``rm``); what differs between stores is data in the scheme table
(:mod:`artifact_fs.backends`). Construction only parses the URI and reads the
environment: no network I/O, no backend import.
"""

from __future__ import annotations

import functools
import operator
import os
import tempfile
import threading

from mlflow.store.artifact import artifact_repo as _mlflow_artifact_repo
from mlflow.store.artifact.artifact_repo import ArtifactRepository

from . import _compat, core, integrity, transfer
from .errors import InvalidArtifactPathError, mlflow_errors, mlflow_exception, to_mlflow_exception
from .lazy_base import DeferredBase
from .listings import ArtifactListings
from .opener import open_filesystem
from .paths import (
    clean_artifact_path,
    clean_file_name,
    join_artifact_path,
    local_destination,
    under_root,
    walk_local_tree,
)
from .portable import Recipe, public_uri
from .read_cache import cache_from_environment
from .redaction import register_secrets
from .resolver import Resolved, resolve
from .streaming import StreamUploads
from .uri import redact_uri

#: every store honours streamed uploads; MLflow releases without the mixin just never ask
_STREAM_MIXIN = tuple(filter(None, [getattr(_mlflow_artifact_repo, "StreamUploadMixin", None)]))


@functools.cache
def _base_takes(cls: type) -> tuple[str, ...]:
    """Which of ``tracking_uri``/``registry_uri`` the base ``__init__`` of ``cls`` accepts (once per class)."""
    base_init = super(DeferredBase, cls).__init__
    return tuple(_compat.accepted_kwargs(base_init, tracking_uri=None, registry_uri=None))


class FsspecArtifactRepository(StreamUploads, ArtifactListings, DeferredBase, ArtifactRepository, *_STREAM_MIXIN):
    """An MLflow artifact repository backed by any fsspec filesystem.

    Parameters
    ----------
    artifact_uri:
        The artifact root, in any form :func:`artifact_fs.resolve` accepts.
    tracking_uri, registry_uri:
        Passed to MLflow's base class, as every repository receives them.
    resolved:
        The :func:`artifact_fs.resolve` result for ``artifact_uri``, when the caller has it
        already (the registry's factory): the URI is then not resolved a second time.
    **storage_options:
        Explicit storage options that win over every other layer (see :func:`artifact_fs.resolve`).

    Examples
    --------
    >>> repo = FsspecArtifactRepository("memory://doctest-run/artifacts")
    >>> repo.list_artifacts()
    []
    """

    def __init__(
        self,
        artifact_uri: str,
        tracking_uri: str | None = None,
        registry_uri: str | None = None,
        *,
        resolved: Resolved | None = None,
        **storage_options,
    ):
        _compat.require_supported_mlflow()
        uris = {"tracking_uri": tracking_uri, "registry_uri": registry_uri}
        self.start_base(artifact_uri, {name: uris[name] for name in _base_takes(type(self))})
        for name, value in uris.items():  # older MLflow base classes do not keep them
            if not hasattr(self, name):
                setattr(self, name, value)
        try:
            # ``resolved``: what the registry's factory already resolved for this URI (resolved once)
            self.resolved: Resolved = (
                resolved if resolved is not None and not storage_options else resolve(artifact_uri, **storage_options)
            )
            if tracking_uri and _reads_tracking_uri(self.resolved, tracking_uri, storage_options):
                # MLflow's rule for a proxied root: the tracking URI it hands the repository wins
                self.resolved = resolve(artifact_uri, **{"tracking_uri": tracking_uri, **storage_options})
            self.policy = integrity.TransferPolicy(**self.resolved.transfer_options)
        except (ValueError, ImportError) as exc:
            raise to_mlflow_exception(exc, f"Invalid artifact URI {redact_uri(artifact_uri)!r}") from None
        self.secret_values = self.resolved.secret_values
        register_secrets(self.secret_values)  # scrubbed from every log record from now on
        self.row = self.resolved.row
        self._fs = None
        self._fs_lock = threading.Lock()
        #: rows whose client must not be shared (FTP's one control connection): one per thread
        self._fs_per_thread = None if self.row.client.thread_safe else threading.local()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(artifact_uri={self.redacted_uri!r}, url={self.resolved.url!r})"

    def __reduce__(self):
        """Pickled as a recipe with no credential (:mod:`artifact_fs.portable`): the class (with
        its mixins), the URI, the tracking and registry URIs, the non-secret settings and
        explicit options. Unpickled, the URI is resolved again where it lands."""
        carried = self.resolved.recipe or Recipe(self.artifact_uri)
        recipe = Recipe(public_uri(self.artifact_uri), carried.settings, carried.options)
        uris = tuple(public_uri(uri) if uri else uri for uri in (self.tracking_uri, self.registry_uri))
        return (rebuild_repository, (type(self), recipe, *uris))

    @property
    def redacted_uri(self) -> str:
        """The artifact URI with any password replaced by ``***`` (for messages and logs)."""
        return redact_uri(self.artifact_uri)

    @property
    def fs(self):
        """The fsspec filesystem, created on first use (and again once its connection dropped).

        Shared by every thread, except for rows whose client is not thread-safe: those get one
        per thread (a tracking server's request threads share this repository)."""
        if self._fs_per_thread is not None:
            return self._thread_fs()
        if self._fs is None or self._connection_lost(self._fs):
            with self._fs_lock:
                if self._fs is None or self._connection_lost(self._fs):
                    self._fs = open_filesystem(self.resolved)
                    if self._connection_lost(self._fs):  # fsspec's cache handed back a dead one
                        self._fs = open_filesystem(self.resolved)
        return self._fs

    def _thread_fs(self):
        """This thread's filesystem (fsspec's instance cache is per thread too)."""
        local = self._fs_per_thread
        fs = getattr(local, "fs", None)
        if fs is None or self._connection_lost(fs):
            fs = local.fs = open_filesystem(self.resolved)
            if self._connection_lost(fs):  # fsspec's cache handed back a dead one
                fs = local.fs = open_filesystem(self.resolved)
        return fs

    def _connection_lost(self, fs) -> bool:
        """True once the row's ``connection_probe`` says ``fs`` is disconnected (it then leaves fsspec's cache)."""
        try:
            probe = self.row.client.connection_probe
            lost = bool(probe and (probe(fs) if callable(probe) else operator.attrgetter(probe)(fs)()))
        except Exception:  # noqa: BLE001 - a probe that cannot run says nothing
            return False
        if lost and type(fs)._cache.get(fs._fs_token_) is fs:
            type(fs)._cache.pop(fs._fs_token_, None)
        return lost

    def _remote(self, relative: str) -> str:
        return self._carried(under_root(self.resolved.root, relative))

    def _carried(self, path: str) -> str:
        """``path``, unless it holds a character the row's client would cut it at (``path_refuses``)."""
        refused = sorted(set(path) & set(self.row.paths.refuses))
        if refused:
            shown = " ".join(repr(char) for char in refused)
            raise InvalidArtifactPathError(
                f"Invalid artifact path {path!r}: {self.row.client.impl} cannot carry {shown} in a path"
            )
        return path

    # --- uploads --------------------------------------------------------------------------

    @mlflow_errors("Failed to log artifact {arg!r} to {self.redacted_uri}")
    def log_artifact(self, local_file, artifact_path=None):
        """Upload one local file to ``<root>/<artifact_path>/<basename>``."""
        local_file = os.fspath(local_file)
        if os.path.isdir(local_file):
            raise IsADirectoryError(f"{local_file!r} is a directory: log it with log_artifacts")
        if not os.path.isfile(local_file):
            raise FileNotFoundError(f"No such local file: {local_file!r}")
        relative = join_artifact_path(clean_artifact_path(artifact_path), clean_file_name(os.path.basename(local_file)))
        destination = self._remote(relative)
        if self.row.paths.local and os.path.abspath(local_file) == os.path.abspath(destination):
            return  # logging a file onto itself, as MLflow's local repository allows
        self._upload([(local_file, destination)])

    @mlflow_errors("Failed to log artifacts from {arg!r} to {self.redacted_uri}")
    def log_artifacts(self, local_dir, artifact_path=None):
        """Upload the contents of ``local_dir`` under ``<root>/<artifact_path>/``, concurrently."""
        local_dir = os.path.abspath(os.fspath(local_dir))
        if not os.path.isdir(local_dir):
            raise NotADirectoryError(f"{local_dir!r} is not a directory")
        base = clean_artifact_path(artifact_path)
        files, empty = walk_local_tree(local_dir)  # symbolic links: followed inside, refused outside
        pairs = [(local, self._remote(join_artifact_path(base, relative))) for local, relative in files]
        empty_dirs = [self._remote(join_artifact_path(base, relative)) for relative in empty]
        if self.row.paths.real_directories:
            for directory in empty_dirs:
                self.fs.makedirs(directory, exist_ok=True)
        self._upload(pairs)

    def _upload(self, pairs):
        """Through the one transfer core (:mod:`artifact_fs.core`): staged, verified, retried, cleaned up."""
        what = f"uploading {len(pairs)} file(s) to {self.redacted_uri}"
        core.upload(lambda: self.fs, self.resolved, pairs, self.policy, what=what)

    def _download(self, pairs, expected=None):
        """Through the one transfer core, and the verified read cache when ``ARTIFACT_FS_CACHE_DIR`` is set."""
        what = f"downloading {len(pairs)} file(s) from {self.redacted_uri}"
        core.download(
            lambda: self.fs, self.resolved, pairs, expected, self.policy, cache=cache_from_environment(), what=what
        )

    # --- downloads ------------------------------------------------------------------------

    def get_local_path(self, artifact_path: str) -> str | None:
        """The artifact's path on this machine for local roots; ``None`` for remote stores."""
        if not self.row.paths.local:
            return None
        relative = clean_artifact_path(artifact_path)
        return os.path.normpath(self._remote(relative))

    @mlflow_errors("Failed to download artifact {arg!r} from {self.redacted_uri}")
    def _download_file(self, remote_file_path, local_path):
        """Download one root-relative file to ``local_path`` (thread-safe)."""
        source = self._remote(clean_artifact_path(remote_file_path))
        self._download([(source, os.fspath(local_path))])

    @mlflow_errors("Failed to download artifacts {arg!r} from {self.redacted_uri}")
    def download_artifacts(self, artifact_path, dst_path=None):
        """Download a file or a whole directory with one recursive listing and one batched get."""
        relative = clean_artifact_path(artifact_path)
        if dst_path is None and self.row.paths.local:
            in_place = self.get_local_path(relative)
            if not os.path.exists(in_place):
                raise mlflow_exception(f"No such artifact: {artifact_path!r}", "RESOURCE_DOES_NOT_EXIST")
            return in_place
        dst = _destination_dir(dst_path)
        target = self._remote(relative)
        try:
            info = self.fs.info(target)
        except FileNotFoundError:
            if not relative:
                return dst  # an empty root downloads as an empty directory
            raise FileNotFoundError(f"No such artifact: {artifact_path!r}") from None
        if info.get("type") != "directory":
            pairs, dirs, expected = (
                [(target, local_destination(dst, relative))],
                [],
                {self.fs._strip_protocol(target).rstrip("/"): info},
            )
        else:
            pairs, dirs, expected = self._plan_tree(target, relative, dst)
        for directory in dirs:
            os.makedirs(directory, exist_ok=True)
        self._download(pairs, expected)
        return os.path.join(dst, os.path.normpath(relative)) if relative else dst

    # --- deletion -------------------------------------------------------------------------

    @mlflow_errors("Failed to delete artifacts {arg!r} from {self.redacted_uri}")
    def delete_artifacts(self, artifact_path=None):
        """Delete a file or a directory recursively; a missing path is a no-op.

        Only keys under ``<path>/`` are touched (``dir`` never removes ``dir2``), and on
        object stores only objects are deleted, never the bucket or container itself.
        """
        target = self._remote(clean_artifact_path(artifact_path))
        try:
            transfer.delete(self.fs, self.row, target)
        except FileNotFoundError:
            return


def _destination_dir(dst_path) -> str:
    if dst_path is None:
        return tempfile.mkdtemp()
    dst = os.path.abspath(os.fspath(dst_path))
    if not os.path.exists(dst):
        raise mlflow_exception(
            f"The destination path for downloaded artifacts does not exist! Destination path: {dst}",
            "RESOURCE_DOES_NOT_EXIST",
        )
    if not os.path.isdir(dst):
        raise mlflow_exception(
            f"The destination path for downloaded artifacts must be a directory! Destination path: {dst}",
            "INVALID_PARAMETER_VALUE",
        )
    return dst


def rebuild_repository(cls, recipe: Recipe, tracking_uri: str | None = None, registry_uri: str | None = None):
    """A pickled repository, built again where it is unpickled: its URI resolved with this
    process's environment over the carried settings (credentials are read here)."""
    resolved = resolve(recipe.uri, recipe.environment(), **recipe.options)
    return cls(recipe.uri, tracking_uri, registry_uri, resolved=resolved)


def _reads_tracking_uri(resolved: Resolved, tracking_uri: str, explicit: dict) -> bool:
    """Whether ``resolved``'s row reads a tracking URI (the proxied API) and it is not ``tracking_uri`` yet."""
    reads = any(setting.option == "tracking_uri" for setting in resolved.row.client.settings)
    return reads and "tracking_uri" not in explicit and resolved.storage_options.get("tracking_uri") != tracking_uri
