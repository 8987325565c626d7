"""Errors, in one place.

The tree::

    ValueError
    ├── InvalidURIError          a URI artifact_fs cannot parse (names the URI, secrets redacted)
    ├── InvalidSettingError      an environment value that does not parse (names the variable)
    └── InvalidArtifactPathError an artifact path outside the policy (names the path)
    ImportError
    └── BackendNotInstalledError the fsspec backend for a scheme is missing (names the pip extra)

Backends already turn their SDK errors into builtin ``OSError`` subclasses (s3fs,
gcsfs, sshfs, fsspec's arrow wrapper), so :func:`to_mlflow_exception` only maps
builtins to MLflow error codes, most specific class first, keeping ``__cause__``.
"""

from __future__ import annotations

import functools
from typing import Callable, TypeVar


class InvalidURIError(ValueError):
    """A URI that artifact_fs cannot turn into an fsspec location."""


class InvalidSettingError(ValueError):
    """An environment variable whose value does not parse; the message names it."""


class InvalidArtifactPathError(ValueError):
    """An artifact path refused by the path policy (``..``, absolute, NUL, backslash...)."""


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
    OSError: "INTERNAL_ERROR",
}


def error_code_for(exc: BaseException) -> str:
    """The MLflow error code name for an exception, by the most specific class that matches."""
    for cls in type(exc).__mro__:
        if cls in ERROR_CODES:
            return ERROR_CODES[cls]
    return "INTERNAL_ERROR"


def mlflow_exception(message: str, code: str):
    """An ``MlflowException`` with the error code given by name (``"RESOURCE_DOES_NOT_EXIST"``)."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import ErrorCode

    return MlflowException(message, error_code=ErrorCode.Value(code))


def to_mlflow_exception(exc: BaseException, action: str):
    """Wrap ``exc`` into an ``MlflowException`` whose message starts with ``action``."""
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException):
        return exc
    detail = str(exc) or type(exc).__name__
    return mlflow_exception(f"{action}: {detail}", error_code_for(exc))


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
                raise to_mlflow_exception(exc, action.format(self=self, arg=arg)) from exc

        return wrapper  # type: ignore[return-value]

    return decorate
