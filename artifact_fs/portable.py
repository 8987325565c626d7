"""What travels when a filesystem or repository is pickled: where it points and its settings,
never a credential.

Dask, Ray and Spark hand filesystems and repositories to worker processes by pickle
(``pickle`` or ``cloudpickle``). artifact_fs pickles them as a recipe, :class:`Recipe`:

* the URI, without a password in its user-info or a credential in its query string;
* the storage options the caller gave explicitly, without any secret option;
* the *settings* the URI's resolution read from the environment (``MLFLOW_S3_ENDPOINT_URL``,
  ``AWS_DEFAULT_REGION``, ``ARTIFACT_FS_PROFILES``...), without a credential variable.

Where it is unpickled, the URI is resolved again (:func:`artifact_fs.resolve`) with that
process's environment laid over the carried settings (a variable the worker sets itself
wins), so credentials are read where the object lands: its environment, its profiles
file, its SDK credential chain. The pickle never holds a secret value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from .profiles import PROFILES_VAR
from .redaction import SECRET_QUERY_PARAMETERS, looks_secret
from .settings import BUDGET_SETTINGS, TRANSFER_SETTINGS

_USERINFO_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/?#@:]*):[^/?#@]*@")
_SECRET_QUERY = re.compile(
    rf"(?i)(?P<sep>[?&;])(?:{'|'.join(map(re.escape, SECRET_QUERY_PARAMETERS))})=[^&;#]*",
)


class Recipe:
    """How to open the same location again in another process, with no credential in it.

    Made at every resolution, so it costs nothing until it is used: the URI, settings and
    options are cleaned on first use (a pickle), from the environment the resolution read."""

    __slots__ = ("_uri", "_settings", "_options", "_row", "_env")

    def __init__(self, uri: str, settings: Mapping[str, str] | None = None, options: Mapping[str, Any] | None = None):
        self._uri, self._settings, self._options = uri, settings, options
        self._row = self._env = None

    @classmethod
    def of(cls, uri: str, row, env: Mapping[str, str], overrides: Mapping[str, Any]) -> Recipe:
        """The recipe of a resolution of ``uri`` by ``row`` in ``env`` with ``overrides`` (worked out lazily)."""
        made = cls(uri, None, overrides)
        made._row, made._env = row, env
        return made

    @property
    def uri(self) -> str:
        """The URI without a password or credential query parameters."""
        if self._row is not None:
            self._settle()
        return self._uri

    @property
    def settings(self) -> Mapping[str, str]:
        """The non-secret setting variables the resolution read (:func:`carried_settings`)."""
        if self._row is not None:
            self._settle()
        return self._settings or {}

    @property
    def options(self) -> Mapping[str, Any]:
        """The explicit storage options, without a secret one."""
        if self._row is not None:
            self._settle()
        return self._options or {}

    def _settle(self) -> None:
        row, env = self._row, self._env
        if row is None:  # another thread settled it meanwhile
            return
        self._uri = public_uri(self._uri)
        self._settings = carried_settings(row, env)
        self._options = public_options(self._options or {}, secret_options(row))
        self._row = self._env = None

    def environment(self) -> dict[str, str]:
        """The carried settings with this process's environment over them (its own values win)."""
        return {**self.settings, **os.environ}

    def __reduce__(self):
        return Recipe, self._fields()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Recipe):
            return NotImplemented
        return self._fields() == other._fields()

    def _fields(self) -> tuple:
        return self.uri, dict(self.settings), dict(self.options)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Recipe(uri={self.uri!r}, settings={dict(self.settings)!r}, options={dict(self.options)!r})"


def recipe(uri: str, row, env: Mapping[str, str], overrides: Mapping[str, Any]) -> Recipe:
    """The :class:`Recipe` of a resolution of ``uri`` by ``row`` in ``env`` with ``overrides``."""
    return Recipe.of(uri, row, env, overrides)


def public_uri(uri: str) -> str:
    """``uri`` without a password in its user-info or a credential in its query string.

    >>> public_uri("sftp://me:hunter2@host/x?sig=abc&v=1")
    'sftp://me@host/x?v=1'
    """
    uri = _USERINFO_PASSWORD.sub(r"\g<head>\g<user>@", uri)
    stripped = _SECRET_QUERY.sub(lambda m: m.group("sep") if m.group("sep") != "?" else "?", uri)
    return stripped.replace("?&", "?").rstrip("?&")


def secret_options(row) -> frozenset[str]:
    """The option names a row's settings and URI grammar mark as secret."""
    names = {s.option.rpartition(".")[2] for s in row.client.settings if s.secret}
    return frozenset(names | {name.rpartition(".")[2] for name in row.uri.secret_options})


def public_options(options: Mapping[str, Any], secret: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``options`` without a secret one, at any depth (by the row's secret names and by name)."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key in secret or looks_secret(str(key)):
            continue
        out[key] = public_options(value, secret) if isinstance(value, Mapping) else value
    return out


def setting_variables(row) -> tuple[str, ...]:
    """Every variable a resolution by ``row`` may read as a setting (its own, the transfer
    and budget settings, the variant switch, the profiles file)."""
    settings = (*row.client.settings, *TRANSFER_SETTINGS, *BUDGET_SETTINGS)
    names = [s.var for s in settings if not s.secret]
    names += [var for s in settings for var in s.unless]
    names += [var for var in (row.variant_var, PROFILES_VAR) if var]
    return tuple(dict.fromkeys(names))


def carried_settings(row, env: Mapping[str, str]) -> dict[str, str]:
    """The non-secret setting variables of ``row`` that ``env`` sets."""
    secret = {s.var for s in row.client.settings if s.secret}
    return {
        var: env[var] for var in setting_variables(row) if var in env and var not in secret and not looks_secret(var)
    }


__all__ = ["Recipe", "carried_settings", "public_options", "public_uri", "recipe", "setting_variables"]
