"""Errors, in one place.

The tree::

    ValueError
    ├── InvalidURIError          a URI artifact_fs cannot parse (names the URI, secrets redacted)
    ├── InvalidSettingError      an environment value that does not parse (names the variable)
    │   ├── InvalidProfilesError a profiles file that does not parse (names the file and line)
    │   └── NotOnThisEngineError a setting the engine named cannot honour (names both)
    └── InvalidArtifactPathError an artifact path outside the policy (names the path)
    ImportError
    └── BackendNotInstalledError the fsspec backend for a scheme is missing (names the pip extra)
    OSError
    └── IntegrityError           a transferred file whose size or digest differs (names both)
        └── CorruptedInTransit   ... because bytes changed on the wire (worth another attempt)

Backends already turn their SDK errors into builtin ``OSError`` subclasses (s3fs,
gcsfs, sshfs, fsspec's arrow wrapper), so :func:`to_mlflow_exception` only maps
builtins to MLflow error codes, most specific class first, keeping ``__cause__``. The
one exception is a checksum failure from any layer (botocore's ``FlexibleChecksumError``,
a store's ``BadDigest``/``InvalidDigest`` refusal that s3fs wraps as ``EINVAL``, Azure's
``Md5Mismatch``...): :func:`is_checksum_failure` finds it anywhere in the cause chain and
it is ``DATA_LOSS``, like an :class:`IntegrityError`. Messages are scrubbed of secrets
(:mod:`artifact_fs.redaction`) before they leave.
"""

from __future__ import annotations

import errno
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from .redaction import scrub


class InvalidURIError(ValueError):
    """A URI that artifact_fs cannot turn into an fsspec location."""


class InvalidSettingError(ValueError):
    """An environment variable whose value does not parse; the message names it."""


class InvalidProfilesError(InvalidSettingError):
    """A profiles file (or one of its entries) that cannot be used; the message names the file and line."""


class NotOnThisEngineError(InvalidSettingError):
    """A setting the engine (``ARTIFACT_FS_ENGINE``) cannot honour; the message names both.
    Raised only when the engine was asked for by name: by default the other engine serves.
    ``reason`` is the setting and why, in short."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


class InvalidArtifactPathError(ValueError):
    """An artifact path refused by the path policy (``..``, absolute, NUL, backslash...)."""


class IntegrityError(OSError):
    """A file that arrived with another size or digest than it left with (never a silent success)."""


class CorruptedInTransit(IntegrityError):
    """An :class:`IntegrityError` known to come from the wire, not from another writer: the
    store refused a body whose digest did not match, a download differs from the object the
    store listed, or an upload's own object (the one our PUT published) holds other bytes and
    was deleted. The retry budget tries it again (:func:`is_corruption_in_transit`)."""


class BackendNotInstalledError(ImportError):
    """The fsspec implementation for a scheme is not installed; the message says which extra."""


#: builtin exception → MLflow error code name; the first matching class in the MRO wins.
ERROR_CODES: dict[type, str] = {
    FileNotFoundError: "RESOURCE_DOES_NOT_EXIST",
    FileExistsError: "RESOURCE_ALREADY_EXISTS",
    PermissionError: "PERMISSION_DENIED",
    IsADirectoryError: "INVALID_PARAMETER_VALUE",
    NotADirectoryError: "INVALID_PARAMETER_VALUE",
    TimeoutError: "TEMPORARILY_UNAVAILABLE",
    ConnectionError: "TEMPORARILY_UNAVAILABLE",
    ValueError: "INVALID_PARAMETER_VALUE",
    BackendNotInstalledError: "INVALID_STATE",
    NotImplementedError: "NOT_IMPLEMENTED",
    IntegrityError: "DATA_LOSS",
    OSError: "INTERNAL_ERROR",
}


def error_code_for(exc: BaseException) -> str:
    """The MLflow error code name for an exception, by the most specific class that matches."""
    code = next((ERROR_CODES[cls] for cls in type(exc).__mro__ if cls in ERROR_CODES), "INTERNAL_ERROR")
    if code == "INTERNAL_ERROR" and is_checksum_failure(exc):
        return (
            "DATA_LOSS"  # s3fs wraps a BadDigest refusal as a plain OSError; botocore's checksum errors are no OSError
        )
    if code == "INTERNAL_ERROR" and (is_transient(exc) or is_timeout(exc)):
        return "TEMPORARILY_UNAVAILABLE"  # an SDK's own connection or timeout error class
    return code


def mlflow_exception(message: str, code: str):
    """An ``MlflowException`` with the error code given by name (``"RESOURCE_DOES_NOT_EXIST"``)."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import ErrorCode

    return MlflowException(message, error_code=ErrorCode.Value(code))


def to_mlflow_exception(exc: BaseException, action: str, secrets: Iterable[str] = ()):
    """Wrap ``exc`` into an ``MlflowException`` whose message starts with ``action``; any of
    ``secrets`` (and any signature or key in URL/connection-string form) becomes ``***``."""
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException):
        return exc
    detail = str(exc) or type(exc).__name__
    return mlflow_exception(scrub(f"{action}: {detail}", secrets), error_code_for(exc))


F = TypeVar("F", bound=Callable)


def mlflow_errors(action: str) -> Callable[[F], F]:
    """Decorate a repository method so any error leaves it as an ``MlflowException``.

    ``action`` is formatted with the repository (``{self.redacted_uri}``) and the call's
    first argument (``{arg}``), e.g. ``"Failed to list artifacts at {self.redacted_uri}"``.
    """

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:
                arg = args[0] if args else next(iter(kwargs.values()), None)
                secrets = getattr(self, "secret_values", ())
                error = to_mlflow_exception(exc, action.format(self=self, arg=arg), secrets)
                if _leaks(exc, secrets) or isinstance(exc, InvalidArtifactPathError):
                    # the chained error would print the secret; a refused path says it all
                    raise error from None
                raise error from exc

        return wrapper  # type: ignore[return-value]

    return decorate


# --- transient failures: what the retry budget may try again ------------------------------

#: Exception classes (by name, anywhere in the cause chain) meaning the connection dropped or
#: was refused before the call finished: trying again may work. Builtin ConnectionError too.
TRANSIENT_ERRORS = frozenset(
    {
        "EndpointConnectionError",
        "ConnectionClosedError",  # botocore
        "ClientConnectorError",
        "ClientOSError",
        "ServerDisconnectedError",
        "ClientPayloadError",  # aiohttp
        "ServiceRequestError",
        "ServiceResponseError",
        "IncompleteReadError",  # azure-core
        "ConnectionLost",
        "ChannelOpenError",  # asyncssh (not DisconnectError: host-key and auth refusals are that too)
        "error_temp",
        "EOFError",  # ftplib: 4xx reply, connection closed mid-reply
    }
)
#: Exception classes (by name) meaning the store stopped answering for a whole timeout: never
#: retried, so a hung server fails a call after one timeout, not after several.
TIMEOUT_ERRORS = frozenset({"TimeoutError", "ReadTimeoutError", "ConnectTimeoutError", "ServerTimeoutError", "timeout"})


#: OSError numbers that s3fs gives a store's "try again" answers (500 InternalError: EREMOTEIO;
#: 503 SlowDown / ServiceUnavailable, OperationAborted: EBUSY).
TRANSIENT_ERRNOS = frozenset({getattr(errno, "EREMOTEIO", errno.EIO), errno.EBUSY})


def _chain(exc: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and all(exc is not s for s in seen) and len(seen) < 32:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def is_timeout(exc: BaseException) -> bool:
    """True if ``exc`` (or anything in its cause chain) is a timeout."""
    return any(cls.__name__ in TIMEOUT_ERRORS for e in _chain(exc) for cls in type(e).__mro__)


def is_transient(exc: BaseException) -> bool:
    """True for a dropped or refused connection (worth one more attempt); False for a
    timeout, a refusal by the store (missing, denied) and every plain user error."""
    if is_timeout(exc) or isinstance(exc, (ValueError, FileNotFoundError, PermissionError, IntegrityError)):
        return False
    chain = _chain(exc)
    names = {cls.__name__ for e in chain for cls in type(e).__mro__}
    busy = any(isinstance(e, OSError) and e.errno in TRANSIENT_ERRNOS for e in chain)
    return busy or any(isinstance(e, ConnectionError) for e in chain) or bool(names & TRANSIENT_ERRORS)


# --- checksum failures: corrupted bytes, whichever layer noticed ----------------------------

#: Exception classes (by name, anywhere in the cause chain) raised when a digest the client
#: computed differs from the one sent with the bytes: botocore's flexible checksums (CRC32
#: of a response, or of an aws-chunked body), botocore's legacy ``ChecksumError``, gcsfs's
#: ``ChecksumError``.
CHECKSUM_ERRORS = frozenset({"FlexibleChecksumError", "ChecksumError"})
#: Error codes a store answers when the body it received does not match the digest sent
#: with it (S3 ``Content-MD5`` or ``x-amz-checksum-*``: BadDigest / InvalidDigest; SigV4's
#: signed payload hash; Azure's Content-MD5 / CRC64): the store stored nothing.
CHECKSUM_ERROR_CODES = frozenset(
    {
        "BadDigest",
        "InvalidDigest",
        "XAmzContentChecksumMismatch",
        "XAmzContentSHA256Mismatch",  # S3 and compatibles
        "Md5Mismatch",
        "Crc64Mismatch",  # Azure Blob
    }
)
#: Messages of client-side digest checks with no class of their own (azure-storage-blob's
#: ``validate_content`` raises a plain ``AzureError``)
_CHECKSUM_MESSAGES = re.compile(r"(?i)\b(MD5|CRC64) mismatch\b")


def _store_error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)  # botocore's ClientError
    if isinstance(response, Mapping):
        error = response.get("Error")
        if isinstance(error, Mapping) and error.get("Code"):
            return str(error["Code"])
    code = getattr(exc, "error_code", None)  # azure-core's HttpResponseError
    return str(code) if isinstance(code, str) else None


def is_checksum_failure(exc: BaseException) -> bool:
    """True if ``exc`` or anything in its cause chain says bytes were corrupted: an
    :class:`IntegrityError`, a client-side checksum error, or a store refusing a body whose
    digest did not match (``BadDigest``...)."""
    for error in _chain(exc):
        if isinstance(error, IntegrityError) or {cls.__name__ for cls in type(error).__mro__} & CHECKSUM_ERRORS:
            return True
        if _store_error_code(error) in CHECKSUM_ERROR_CODES:
            return True
        if type(error).__name__ == "AzureError" and _CHECKSUM_MESSAGES.search(str(error)):
            return True
    return False


def is_corruption_in_transit(exc: BaseException) -> bool:
    """True for corruption on the wire, worth one more attempt: a :class:`CorruptedInTransit`,
    or a checksum failure from the client or the store (nothing corrupted was kept). False for
    an :class:`IntegrityError` that may be another writer's newer object."""
    for error in _chain(exc):
        if isinstance(error, CorruptedInTransit):
            return True
        if isinstance(error, IntegrityError):
            return False
    return is_checksum_failure(exc)


def _leaks(exc: BaseException, secrets: Iterable[str]) -> bool:
    return any(scrub(str(e), secrets) != str(e) for e in _chain(exc))
