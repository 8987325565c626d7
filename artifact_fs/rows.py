"""The row types: :class:`Scheme` (one per MLflow scheme, in named parts), :class:`Setting`
(one environment variable) and :class:`StoreChecksum`: data, with the value converters
settings use in :mod:`artifact_fs.converters`.
"""

from __future__ import annotations

import dataclasses
import mimetypes
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .converters import Converter
from .errors import InvalidSettingError

#: Where an option path may send its value instead of the storage options (see :class:`Setting`),
#: and the field of :class:`artifact_fs.Resolved` that holds what it sent: per-upload and
#: per-download keyword arguments, filesystem attributes, process environment variables, and
#: artifact_fs's own transfer knobs.
CHANNELS = {
    "upload:": "upload_options",
    "download:": "download_options",
    "attr:": "fs_attributes",
    "env:": "fs_environment",
    "transfer:": "transfer_options",
}


@dataclass(frozen=True)
class Setting:
    """One environment variable and the storage option it becomes.

    ``option`` is a dotted path into the storage options (``"client_kwargs.verify"``);
    a ``"upload:"`` / ``"download:"`` prefix sends it to the per-transfer keyword
    arguments instead, and ``"attr:"`` to an attribute set on the filesystem instance
    (for knobs a backend has no constructor argument for, e.g. s3fs's ``retries``), and
    ``"env:"`` to a process environment variable exported when the filesystem is opened
    (for clients that read a setting only from the environment, e.g. hdfs-native's user),
    and ``"transfer:"`` to artifact_fs's own transfer knobs (:data:`CHANNELS`).
    ``unless`` names variables whose presence switches this row off (MLflow's
    "connection string first, then access key" precedence).
    """

    var: str
    option: str
    parse: Converter = str
    secret: bool = False
    unless: tuple[str, ...] = ()
    doc: str = ""


@dataclass(frozen=True)
class StoreChecksum:
    """Where a store's listing carries a digest of an object's content, and how it is written.

    ``field`` is a dotted key of fsspec's ``info()``/``find(detail=True)`` entry
    (``"ETag"``, ``"md5Hash"``, ``"content_settings.content_md5"``), ``algorithm`` a
    :mod:`hashlib` name, ``encoding`` how the digest is written: ``"hex"`` (quotes
    stripped), ``"base64"`` or ``"bytes"``. A value containing ``composite`` (an S3
    multipart ETag ``"<md5 of md5s>-<parts>"``) is not a digest of the content and is
    not compared. ``is_plain_digest(fs, path)``, when given, is asked before a mismatch
    is reported (S3: SSE-KMS and SSE-C objects have ETags that are no MD5).
    """

    field: str
    algorithm: str = "md5"
    encoding: str = "hex"
    composite: str | None = None
    is_plain_digest: Callable[[Any, str], bool] | None = None
    #: ``f(fs, path)``: the part size artifact_fs's own uploader recorded for a multipart object
    recorded_part_size: Callable[[Any, str], int | None] | None = None
    #: ``f(fs, path, parts, size)``: the part sizes the store itself reports for a multipart object
    part_sizes: Callable[[Any, str, int, int], tuple[int, ...] | None] | None = None
    #: ``f(fs, path)``: what this client's own last upload of ``path`` published (ETag, and
    #: whether each body's ETag was the MD5 sent with it), or None
    published: Callable[[Any, str], Any] | None = None
    #: ``f(fs, local)``: what this client's own download into ``local`` received (the ETag the
    #: store sent it with, the size, and the ETag its bytes hashed to as they arrived), or None
    received: Callable[[Any, str], Any] | None = None


@dataclass(frozen=True)
class UriGrammar:
    """How an MLflow URI of the scheme is read (the grammars live in :mod:`artifact_fs.uri`)."""

    #: the URI parser: a function name in :mod:`artifact_fs.uri` (``bucket``, ``azure``, ``local``...)
    parser: str
    #: the accepted forms, as the README's URI table shows them
    form: str = ""
    #: a regex the URI's netloc must fully match; its named groups feed ``host_options``
    host_pattern: str | None = None
    #: a ``host_pattern`` group → the dotted storage option it sets (B2's region)
    host_options: Mapping[str, str] = field(default_factory=dict)
    #: options the scheme itself implies, whatever the environment says (R2: virtual addressing)
    fixed: Mapping[str, Any] = field(default_factory=dict)
    #: percent-decode the URI's path, as MLflow does for ``abfss``
    unquote_path: bool = False
    #: options taken from the URI's own text that are secrets (an FTP/SFTP password)
    secret_options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Client:
    """Which fsspec filesystem serves the scheme, how it is installed, opened and kept."""

    #: the fsspec protocol (``s3``, ``abfs``, ``gcs``, ``file``...)
    protocol: str
    #: the dotted filesystem class, imported on first use
    impl: str
    #: the pip extra that installs it (None: fsspec itself)
    extra: str | None = None
    #: the module it needs, looked for before a preferred engine is picked by default
    requires: str | None = None
    #: the environment rows, applied in order (a later row for the same option wins)
    settings: tuple[Setting, ...] = ()
    #: the lowest-precedence options (below fsspec's config, the environment, profiles and the URI)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    #: an option of Hadoop-style dotted keys, passed to the constructor as dotted keyword arguments
    conf_option: str | None = None
    #: called with each newly opened filesystem, for set-up no constructor argument reaches
    prepare: Callable[[Any], None] | None = None
    #: a dotted method (or a function of the filesystem) that is True once the connection is gone
    connection_probe: str | Callable[[Any], bool] | None = None
    #: methods abandoned (TimeoutError) after ``attr:call_timeout`` seconds: the client has no timeout
    bounded_calls: tuple[str, ...] = ()
    #: one client may serve several threads; False: sync transfers run one at a time
    thread_safe: bool = True
    #: the client retries dropped connections itself, unstoppably: the retry budget adds none on top
    client_retries: bool = False

    @property
    def install_hint(self) -> str:
        """The pip command that installs this client."""
        return f"pip install 'artifact_fs[{self.extra}]'" if self.extra else "pip install fsspec"


@dataclass(frozen=True)
class PathTraits:
    """What the store's paths and directories can do."""

    #: paths are on this machine (``get_local_path``, downloads returned in place)
    local: bool = False
    #: the store has directories, not just key prefixes (empty directories exist)
    real_directories: bool = False
    #: uploads go to a temporary name, then one rename publishes them
    atomic_rename: bool = False
    #: keyword arguments of the rename that publishes an upload (HDFS: ``overwrite=True``)
    rename_options: Mapping[str, Any] = field(default_factory=dict)
    #: ``ls(file)`` lists the file as its own child (fsspec's FTP): info() is asked first
    ls_file_as_child: bool = False
    #: characters the client cannot carry in a path: refused, never cut short
    refuses: str = ""


@dataclass(frozen=True)
class TransferTuning:
    """How files move to and from the store, how they are labelled and checked."""

    #: threads of a sync filesystem's many-file transfer (1 for the local disk)
    sync_threads: int = 8
    #: upload keyword arguments for Content-Type[, Content-Encoding] (dotted: nested)
    content_headers: tuple[str, ...] | None = None
    #: the storage option whose dict overrides the guessed headers (``MLFLOW_S3_UPLOAD_EXTRA_ARGS``)
    upload_extra_option: str | None = None
    #: the digest the store lists for each object, if any (integrity checks)
    checksum: StoreChecksum | None = None
    #: ``f(fs, keys, since)`` aborts the incomplete multipart uploads of ``keys`` begun before ``since``
    abort_stale_uploads: Callable[[Any, list[str], float], int] | None = None

    def guessed_headers(self, file_name: str, extra: Mapping[str, Any]) -> dict[str, str]:
        """Content-Type/-Encoding guessed from ``file_name``; the upload extra args win (as MLflow's S3)."""
        if not self.content_headers:
            return {}
        guessed = mimetypes.guess_type(file_name)
        out = {}
        for name, value in zip(self.content_headers, guessed):
            value = extra.get(name, value)
            if value:
                out[name] = value
        return out


@dataclass(frozen=True)
class ServerCapabilities:
    """What ``mlflow server`` can offer clients beyond streamed uploads (which every row honours)."""

    #: signs URLs for direct client transfers (:class:`artifact_fs.presign.Presigner`); None: none
    presigner: Any = None
    #: the engine (``variant``) whose client the presigner signs with, when not this row's own
    #: (the obstore rows sign with s3fs: obstore cannot sign a multipart part's URL)
    signs_with: str = ""


@dataclass(frozen=True)
class Scheme:
    """One row of the scheme table: an MLflow URI scheme and how it maps onto fsspec, in parts."""

    #: the MLflow URI scheme (``""`` for plain paths)
    name: str
    #: how its URIs are read
    uri: UriGrammar
    #: the fsspec filesystem behind it
    client: Client
    #: what its paths and directories can do
    paths: PathTraits = PathTraits()
    #: how transfers are tuned and checked
    transfer: TransferTuning = TransferTuning()
    #: what the tracking server can sign for it
    server: ServerCapabilities = ServerCapabilities()
    #: MLflow's own repository for the scheme (``ARTIFACT_FS_BUILTIN_SCHEMES`` hands it back)
    mlflow_builtin: str | None = None
    #: this row's name among the implementations of its scheme
    variant: str = ""
    #: the environment variable that picks one of ``alternatives`` by name
    variant_var: str | None = None
    #: other implementations of the scheme, by name
    alternatives: Mapping[str, Scheme] = field(default_factory=dict)
    #: the alternative that serves when ``variant_var`` names none, where it is installed and
    #: honours every setting given (else this row serves; :func:`artifact_fs.resolver.resolve`)
    preferred: str = ""

    def pick(self, env: Mapping[str, str]) -> Scheme:
        """This row, or the alternative that ``env[variant_var]`` names (InvalidSettingError if unknown)."""
        wanted = (env.get(self.variant_var) or "").strip().lower() if self.variant_var else ""
        if not wanted or wanted == self.variant:
            return self
        if wanted not in self.alternatives:
            choices = ", ".join([self.variant, *self.alternatives])
            raise InvalidSettingError(
                f"environment variable {self.variant_var}={wanted!r} is not valid: expected one of {choices}"
            )
        return self.alternatives[wanted]


def as_variant(row: Scheme, variant: str, variant_var: str, **parts: Any) -> Scheme:
    """``row`` served another way (another engine's client, settings and checks in ``parts``),
    named as a variant of its own so the switch (``variant_var``) travels with it in pickles."""
    return dataclasses.replace(row, variant=variant, variant_var=variant_var, **parts)
