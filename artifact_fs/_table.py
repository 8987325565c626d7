"""Row types of the two tables (schemes and settings) and their shared converters.

Everything here is data plus small generic functions: a converter turns one
environment value into one option value, and knows nothing about any backend.
A converter signals "emit nothing for this value" by returning :data:`SKIP`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .errors import InvalidSettingError

SKIP = object()  #: a converter's way to say "this value sets no option"

Converter = Callable[[str], Any]


@dataclass(frozen=True)
class Setting:
    """One environment variable and the storage option it becomes.

    ``option`` is a dotted path into the storage options (``"client_kwargs.verify"``);
    a ``"upload:"`` / ``"download:"`` prefix sends it to the per-transfer keyword
    arguments instead, and ``"attr:"`` to an attribute set on the filesystem instance
    (for knobs a backend has no constructor argument for, e.g. s3fs's ``retries``), and
    ``"env:"`` to a process environment variable exported when the filesystem is opened
    (for clients that read a setting only from the environment, e.g. hdfs-native's user).
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


@dataclass(frozen=True)
class Scheme:
    """One row of the scheme table: an MLflow URI scheme and how it maps onto fsspec.

    ``grammar`` names the URI parser (see :mod:`artifact_fs.uri`), ``protocol`` the
    fsspec protocol, ``impl`` the dotted implementation class (imported lazily),
    ``extra`` the pip extra that installs it, ``settings`` the environment rows
    (applied in order: a later row for the same option wins), ``defaults`` the
    lowest-precedence options, ``mlflow_builtin`` MLflow's own repository for the
    scheme (the escape hatch), and ``capabilities`` what the store can do.
    """

    name: str
    protocol: str
    grammar: str
    impl: str
    extra: str | None = None
    settings: tuple[Setting, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    mlflow_builtin: str | None = None
    form: str = ""
    local: bool = False  #: paths are on this machine (get_local_path, in-place download)
    real_directories: bool = False  #: the store has directories, not just key prefixes
    atomic_rename: bool = False  #: uploads go to a temp name, then one rename
    host_pattern: str | None = None  #: regex the URI's netloc must fully match (named groups)
    host_options: Mapping[str, str] = field(default_factory=dict)  #: regex group → option path
    fixed: Mapping[str, Any] = field(default_factory=dict)  #: options the scheme itself implies (URI layer)
    unquote_path: bool = False  #: percent-decode the URI path (MLflow does for abfss)
    content_headers: tuple[str, ...] | None = None  #: upload kwargs for Content-Type[, -Encoding] (dotted: nested)
    upload_extra_option: str | None = None  #: storage option whose dict overrides guessed headers
    secret_uri_options: tuple[str, ...] = ()  #: URI-derived options that are secrets
    #: dotted method on the filesystem that returns True once its connection is gone (or a
    #: function of the filesystem that does); the repository then opens a new one (fsspec's
    #: cache would hand back the dead one)
    connection_probe: str | Callable[[Any], bool] | None = None
    #: a function called with a newly opened filesystem, for client set-up no constructor
    #: argument reaches (s3fs: drop botocore's ``Expect: 100-continue``, which aiohttp waits
    #: for with no timeout)
    prepare: Callable[[Any], None] | None = None
    thread_safe: bool = True  #: one client may serve several threads; False: sync transfers run one at a time
    #: threads of a sync filesystem's many-file transfer (the local disk: 1, a thread hand-off costs
    #: more than copying a small file; a row that is not ``thread_safe`` gets 1 whatever this says)
    sync_threads: int = 8
    ls_file_as_child: bool = False  #: ``ls(file)`` lists the file as its own child (fsspec's FTP): check info() first
    #: an option holding configuration keys that contain dots (Hadoop's ``fs.defaultFS``): when
    #: the filesystem is opened its nested dict is passed as dotted keyword arguments
    conf_option: str | None = None
    rename_options: Mapping[str, Any] = field(default_factory=dict)  #: kwargs of the rename that publishes an upload
    #: filesystem methods abandoned (TimeoutError) after the ``attr:call_timeout`` setting's
    #: seconds, for clients that have no request timeout of their own
    bounded_calls: tuple[str, ...] = ()
    path_refuses: str = ""  #: characters the client cannot carry in a path: refused, never cut short
    #: ``f(fs, keys, since)``: abort the incomplete multipart uploads of ``keys`` begun before
    #: ``since`` (epoch seconds), left by interrupted uploads; called once an upload succeeded
    abort_stale_uploads: Callable[[Any, list[str], float], int] | None = None
    checksum: StoreChecksum | None = None  #: the digest the store lists for each object, if any (integrity checks)
    #: the client retries dropped connections itself and cannot be told not to (azure-core,
    #: gcsfs): artifact_fs's retry budget adds no attempts on top
    client_retries: bool = False
    #: MLflow mixins (``mlflow.store.artifact.artifact_repo``) that need signed URLs and that
    #: the store can honour with the right credentials; ``StreamUploadMixin`` needs none and
    #: every row honours it (see :mod:`artifact_fs.capabilities`)
    presigned_mixins: tuple[str, ...] = ()
    #: key of :data:`artifact_fs.presign.PRESIGNERS`: how URLs for direct client transfers are signed
    presigner: str | None = None
    variant: str = ""  #: this row's name among the implementations of its scheme
    variant_var: str | None = None  #: environment variable that picks one of ``alternatives`` by name
    alternatives: Mapping[str, "Scheme"] = field(default_factory=dict)  #: other implementations, by name

    def pick(self, env: Mapping[str, str]) -> "Scheme":
        """This row, or the alternative that ``env[variant_var]`` names (InvalidSettingError if unknown)."""
        wanted = (env.get(self.variant_var) or "").strip().lower() if self.variant_var else ""
        if not wanted or wanted == self.variant:
            return self
        if wanted not in self.alternatives:
            choices = ", ".join([self.variant, *self.alternatives])
            raise InvalidSettingError(f"environment variable {self.variant_var}={wanted!r} is not valid: expected one of {choices}")
        return self.alternatives[wanted]

    @property
    def install_hint(self) -> str:
        """The pip command that installs this scheme's backend."""
        return f"pip install 'artifact_fs[{self.extra}]'" if self.extra else "pip install fsspec"


# --- converters: generic, shared, each raises ValueError with a plain reason ----------

_TRUE, _FALSE = {"true", "1"}, {"false", "0"}


def as_bool(value: str) -> bool:
    """MLflow's boolean grammar: ``true``/``false``/``1``/``0``, any case."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected one of true, false, 1, 0; got {value!r}")


def false_when_true(value: str) -> Any:
    """``true`` becomes ``False`` (e.g. "ignore TLS" → ``verify=False``); ``false`` sets nothing."""
    return False if as_bool(value) else SKIP


def true_when_true(value: str) -> Any:
    """``true`` becomes ``True``; ``false`` sets nothing."""
    return True if as_bool(value) else SKIP


def as_int(value: str) -> int:
    """A base-10 integer."""
    try:
        return int(value.strip())
    except ValueError:
        raise ValueError(f"expected an integer, got {value!r}") from None


def as_non_negative_int(value: str) -> int:
    """An integer of zero or more."""
    number = as_int(value)
    if number < 0:
        raise ValueError(f"expected an integer of 0 or more, got {value!r}")
    return number


def as_positive_int(value: str) -> int:
    """An integer above zero."""
    number = as_int(value)
    if number <= 0:
        raise ValueError(f"expected a positive integer, got {value!r}")
    return number


def multiple_of(step: int) -> Converter:
    """A positive integer that is a multiple of ``step`` (GCS chunk sizes: 256 KiB)."""

    def parse(value: str) -> int:
        number = as_positive_int(value)
        if number % step:
            raise ValueError(f"expected a multiple of {step}, got {number}")
        return number

    parse.__name__ = f"multiple_of_{step}"
    return parse


def as_timeout(value: str) -> float | None:
    """Seconds as a positive number; ``-1`` means no timeout (``None``), as MLflow's GCS."""
    try:
        seconds = float(value.strip())
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds):
        raise ValueError(f"expected a finite number of seconds or -1, got {value!r}")
    if seconds == -1:
        return None
    if seconds <= 0:
        raise ValueError(f"expected a positive number of seconds or -1, got {value!r}")
    return int(seconds) if seconds.is_integer() else seconds


def as_millis_text(value: str) -> str:
    """Seconds (as :func:`as_timeout`) as milliseconds in text, Hadoop's unit; ``-1`` → ``"0"`` (none)."""
    seconds = as_timeout(value)
    return "0" if seconds is None else str(max(1, round(seconds * 1000)))


def as_json_object(value: str) -> dict:
    """A JSON object (``MLFLOW_S3_UPLOAD_EXTRA_ARGS``)."""
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"expected a JSON object, got {type(parsed).__name__}")
    return parsed


def as_key_value_pairs(value: str) -> dict[str, str]:
    """``k=v,k2=v2`` into a dict (``MLFLOW_PYARROW_EXTRA_CONF``)."""
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise ValueError(f"expected k=v pairs separated by commas, got {item!r}")
        pairs[key.strip()] = val.strip()
    return pairs


def one_of(*choices: str) -> Converter:
    """One of a fixed set of words (case-insensitive), returned lower-cased."""

    def parse(value: str) -> str:
        lowered = value.strip().lower()
        if lowered not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}; got {value!r}")
        return lowered

    parse.__name__ = "one_of_" + "_".join(choices)
    return parse


def except_word(word: str) -> Converter:
    """The value as is, unless it is ``word`` (then nothing is set)."""

    def parse(value: str) -> Any:
        return SKIP if value.strip().lower() == word else value.strip()

    parse.__name__ = f"except_{word}"
    return parse


def constant(result: Any) -> Converter:
    """``result`` whenever the variable is set (a knob implied by another setting)."""

    def parse(value: str) -> Any:
        return result

    parse.__name__ = f"always_{result}"
    return parse


def only_word(word: str, result: Any) -> Converter:
    """``result`` when the value is ``word``, otherwise nothing."""

    def parse(value: str) -> Any:
        return result if value.strip().lower() == word else SKIP

    parse.__name__ = f"only_{word}"
    return parse
