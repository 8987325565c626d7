"""``resolve(uri, env)``: the one pure function that turns an MLflow artifact URI and
MLflow's environment settings into an fsspec location.

Precedence, lowest first (a later layer wins, option by option, nested dicts merged):

1. ``default``      the scheme row's defaults (e.g. ``auto_mkdir`` for local paths)
2. ``fsspec``       fsspec's own configuration for the protocol (config files, ``FSSPEC_*``)
3. ``environment``  MLflow / cloud variables, translated by the settings table
4. ``profile``      the matching entry of the profiles file (:mod:`artifact_fs.profiles`),
                    translated by the same table; a profile that gives any credential
                    replaces the environment's credentials as a whole
5. ``uri``          options the URI itself encodes (endpoint, account, host, user)
6. ``override``     keyword arguments given by the caller

The environment (and the profiles file it names) is read only when ``resolve`` is
called, never at import.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import uri as uri_grammar
from ._compat import parse_fsspec_kwarg_values
from .backends import CLIENT_READ_CREDENTIALS, CREDENTIAL_VARIABLES, SCHEMES, scheme_row
from .engine_choice import engines_for
from .errors import BackendNotInstalledError, InvalidProfilesError, InvalidURIError, NotOnThisEngineError
from .portable import Recipe, recipe
from .profiles import Profile, matching_profile, read_reference
from .redaction import SECRET_OPTION_NAMES, secret_values
from .rows import CHANNELS, Client, Scheme, UriGrammar
from .settings import BUDGET_SETTINGS, TRANSFER_SETTINGS, settings_options

LAYERS = ("default", "fsspec", "environment", "profile", "uri", "override")


@dataclass(frozen=True, eq=False)
class Resolved:
    """Where an MLflow URI points in fsspec terms.

    ``url`` is the fsspec URL of the artifact root, ``root`` the same without the
    protocol, ``storage_options`` the filesystem's keyword arguments,
    ``upload_options`` / ``download_options`` per-transfer keyword arguments, and
    ``sources`` which layer set each option (``"environment MLFLOW_S3_ENDPOINT_URL"``).
    Secrets are redacted from ``repr`` and :meth:`redacted`.
    """

    uri: str
    scheme: str
    protocol: str
    root: str
    storage_options: dict[str, Any]
    row: Scheme  #: the table row (capabilities, install hint)
    authority: str = ""  #: host[:port] for SFTP/FTP/HDFS URLs
    upload_options: dict[str, Any] = field(default_factory=dict)
    download_options: dict[str, Any] = field(default_factory=dict)
    fs_attributes: dict[str, Any] = field(default_factory=dict)
    fs_environment: dict[str, str] = field(default_factory=dict)  #: exported when the filesystem is opened
    transfer_options: dict[str, Any] = field(default_factory=dict)  #: artifact_fs's retry budget and checks
    sources: dict[str, str] = field(default_factory=dict)
    secrets: frozenset[str] = frozenset()
    profile: Profile | None = None  #: the profiles-file entry that matched, if any
    recipe: Recipe | None = None  #: how to resolve the same again in another process, with no credential
    engine: str = ""  #: which implementation serves a scheme that has several, and why

    @functools.cached_property
    def secret_values(self) -> tuple[str, ...]:
        """The text of every secret option: what reprs, errors and logs must never show
        (worked out once per result; the factory's remembered results are reused)."""
        return secret_values(self.storage_options, self.secrets)

    def for_location(self, uri: str, root: str, authority: str, how: Recipe | None) -> Resolved:
        """This resolution moved to another URI of the same store: ``uri``, its root, authority
        and recipe, every option (and the secret values worked out) shared with this one.

        For :mod:`artifact_fs.resolve_memo`, whose results repositories only read: the caller
        vouches that ``uri`` resolves to the same options (same row, profile, settings and URI
        options), so only the per-URI fields differ. No ``__init__``: a copy of the fields."""
        moved = object.__new__(Resolved)
        fields = moved.__dict__
        fields.update(self.__dict__)
        fields["uri"], fields["root"], fields["authority"], fields["recipe"] = uri, root, authority, how
        return moved

    @property
    def url(self) -> str:
        """The fsspec URL of the artifact root, e.g. ``s3://bucket/prefix``."""
        if self.authority:
            return f"{self.protocol}://{self.authority}{self.root}"
        return f"{self.protocol}://{self.root}"

    def redacted(self) -> dict[str, Any]:
        """All fields as plain data with every secret value replaced by ``"***"``."""
        return {
            "uri": uri_grammar.redact_uri(self.uri),
            "scheme": self.scheme,
            "protocol": self.protocol,
            "url": self.url,
            "storage_options": _redact(self.storage_options, self.secrets),
            "upload_options": self.upload_options,
            "download_options": self.download_options,
            "fs_attributes": self.fs_attributes,
            "fs_environment": self.fs_environment,
            "transfer_options": self.transfer_options,
            "sources": dict(self.sources),
            "profile": self.profile.label if self.profile else None,
            "engine": self.engine or None,
        }

    def __repr__(self) -> str:
        shown = self.redacted()
        return f"Resolved(url={shown['url']!r}, storage_options={shown['storage_options']!r})"

    __str__ = __repr__


def resolve(uri: str, env: Mapping[str, str] | None = None, **overrides: Any) -> Resolved:
    """Turn an MLflow artifact URI into an fsspec protocol, root path and storage options.

    Parameters
    ----------
    uri:
        Any MLflow artifact URI (``s3://b/p``, ``wasbs://c@a.blob.core.windows.net/p``,
        ``/plain/path``...) or any URL of a protocol fsspec knows (``memory://x``).
    env:
        The environment to read settings from; ``None`` means ``os.environ`` as it is now.
    **overrides:
        Storage options that win over everything else.

    Examples
    --------
    >>> r = resolve("s3://bkt/runs", env={"MLFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:9000"})
    >>> r.url, r.storage_options["endpoint_url"]
    ('s3://bkt/runs', 'http://127.0.0.1:9000')
    """
    if not isinstance(uri, str):
        uri = os.fspath(uri)
    env = os.environ if env is None else env
    base = scheme_row(uri_grammar.uri_scheme(uri)) or _fsspec_row(uri)
    profile = matching_profile(uri, env)
    given = profile_variables(profile, env) if profile else {}
    rows, engine = engines_for(base, {**env, **given}, overrides, profile)
    for row in rows[:-1]:
        try:
            return _resolve_on(row, uri, env, given, profile, overrides, engine)
        except NotOnThisEngineError as exc:  # the next engine serves, and says why
            engine = f"{rows[-1].variant}, as {row.variant} cannot honour {exc.reason}"
    return _resolve_on(rows[-1], uri, env, given, profile, overrides, engine)


def _resolve_on(
    row: Scheme,
    uri: str,
    env: Mapping[str, str],
    given: Mapping[str, str],
    profile: Profile | None,
    overrides: Mapping[str, Any],
    engine: str,
) -> Resolved:
    """:func:`resolve` with ``row`` picked; ``engine`` says why that row serves."""
    parsed = uri_grammar.parse(uri, row)
    layers = [
        ("default", _flat(row.client.defaults, "default")),
        ("fsspec", _flat(fsspec_config(row.client.protocol, env), "fsspec")),
        ("environment", environment_options(row, _without_replaced_credentials(row, env, given, profile))),
        ("profile", profile_options(row, profile, given, env) if profile else {}),
        ("uri", _flat(parsed.options, "uri")),
        ("override", _flat(overrides, "override")),
    ]
    secrets = {s.option for s in row.client.settings if s.secret} | set(row.uri.secret_options)
    how = recipe(uri, row, env, overrides)
    return _assemble(uri, row, parsed, layers, secrets, profile, how, engine if row.variant_var else "")


def environment_options(row: Scheme, env: Mapping[str, str], origin: str = "environment") -> dict[str, tuple[Any, str]]:
    """The options a row's settings (then the transfer and budget settings every row has) produce from
    ``env``: ``{option path: (value, source)}``. ``origin`` names where ``env`` came from, in
    sources and errors (a profile's label).
    """
    return settings_options((*row.client.settings, *TRANSFER_SETTINGS, *BUDGET_SETTINGS), env, origin)


def profile_variables(profile: Profile, env: Mapping[str, str]) -> dict[str, str]:
    """A profile's settings as variable → text, with ``env:``/``file:`` references read from ``env``."""
    return {var: read_reference(text, env, f"{profile.label}, {var}") for var, text in profile.variables.items()}


def profile_options(
    row: Scheme, profile: Profile, given: Mapping[str, str], env: Mapping[str, str]
) -> dict[str, tuple[Any, str]]:
    """The profile layer: its settings through the row's table, then its raw storage options."""
    out = environment_options(row, given, profile.label)
    raw = _read_references(profile.storage_options, env, profile.label)
    out.update(_flat(raw, f"{profile.label} storage_options"))
    return out


def fsspec_config(protocol: str, env: Mapping[str, str]) -> dict[str, Any]:
    """fsspec's configuration for ``protocol``: its config files plus ``FSSPEC_*`` in ``env``."""
    import fsspec.config

    conf = {protocol: copy.deepcopy(fsspec.config.conf.get(protocol, {}))}
    own = {k: env[k] for k in env if k.startswith("FSSPEC_")}  # keys only: values are decoded when read
    if own:
        fsspec.config.set_conf_env(conf, envdict=own)
        return parse_fsspec_kwarg_values(conf.get(protocol, {}), own, protocol)
    return conf.get(protocol, {})


def supported_schemes() -> list[str]:
    """MLflow schemes in the table (``""`` shown as ``<path>``)."""
    return sorted(row.name or "<path>" for row in SCHEMES if row.mlflow_builtin)


# --- internals -------------------------------------------------------------------------


def _without_replaced_credentials(
    row: Scheme, env: Mapping[str, str], given: Mapping[str, str], profile: Profile | None
):
    """``env`` minus its credentials when the profile gives its own (never mix two identities).

    A client that reads a credential variable by itself (adlfs) would still use it: that is
    refused rather than sending one store's credentials with another's.
    """
    if not CREDENTIAL_VARIABLES.intersection(given):
        return env
    read_by_row = {s.var for s in row.client.settings}
    for var in CLIENT_READ_CREDENTIALS:
        if var in read_by_row and env.get(var) and var not in given:
            raise InvalidProfilesError(
                f"{profile.label} gives credentials, but {var} is set in the environment and the "
                f"storage client reads it by itself: unset it, or give {var} in the profile too"
            )
    return {k: v for k, v in env.items() if k not in CREDENTIAL_VARIABLES}


def _read_references(tree: Mapping[str, Any], env: Mapping[str, str], label: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out[key] = _read_references(value, env, label)
        else:
            out[key] = (
                read_reference(value, env, f"{label}, storage_options {key}") if isinstance(value, str) else value
            )
    return out


def _flat(options: Mapping[str, Any], source: str, prefix: str = "") -> dict[str, tuple[Any, str]]:
    """Nested dicts → ``{"a.b": (value, source)}`` so layers merge leaf by leaf."""
    out: dict[str, tuple[Any, str]] = {}
    for key, value in options.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(_flat(value, source, path + "."))
        else:
            out[path] = (value, source)
    return out


def _assemble(
    uri: str,
    row: Scheme,
    parsed,
    layers,
    secrets: set[str],
    profile: Profile | None = None,
    how: Recipe | None = None,
    engine: str = "",
) -> Resolved:
    merged: dict[str, tuple[Any, str]] = {}
    for _name, options in layers:
        for path, (value, source) in options.items():
            for existing in [p for p in merged if p.startswith(path + ".")]:
                del merged[existing]  # a whole dict replaces the leaves below it
            merged[path] = (value, source)
    trees: dict[str, dict[str, Any]] = {"": {}, **{channel: {} for channel in CHANNELS}}
    for path, (value, _source) in merged.items():
        channel = next((c for c in CHANNELS if path.startswith(c)), "")
        _set_dotted(trees[channel], path[len(channel) :], value)
    secrets = frozenset(secrets | {p for p in merged if p.rsplit(".", 1)[-1] in SECRET_OPTION_NAMES})
    return Resolved(
        uri=uri,
        scheme=row.name,
        protocol=row.client.protocol,
        root=parsed.root,
        authority=parsed.authority,
        storage_options=trees[""],
        **{field_name: trees[channel] for channel, field_name in CHANNELS.items()},
        sources={path: source for path, (_v, source) in merged.items()},
        secrets=secrets,
        row=row,
        profile=profile,
        recipe=how,
        engine=engine,
    )


def _set_dotted(tree: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for key in parents:
        tree = tree.setdefault(key, {})
    tree[leaf] = copy.deepcopy(value)


def _redact(options: Any, secrets: frozenset[str], prefix: str = "") -> Any:
    if not isinstance(options, dict):
        return options
    out = {}
    for key, value in options.items():
        path = f"{prefix}{key}"
        if path in secrets or key in SECRET_OPTION_NAMES:
            out[key] = "***" if value is not None else None
        else:
            out[key] = _redact(value, secrets, path + ".")
    return out


def _fsspec_row(uri: str) -> Scheme:
    """A row for a protocol fsspec knows but the table does not: passed through unchanged."""
    import fsspec
    from fsspec.core import split_protocol

    protocol, _ = split_protocol(uri)
    if protocol is None or protocol not in fsspec.available_protocols():
        known = ", ".join(supported_schemes())
        raise InvalidURIError(
            f"unsupported artifact URI {uri_grammar.redact_uri(uri)!r}: MLflow schemes are {known}, "
            "or any protocol fsspec knows (memory://, az://, gcs://...)"
        )
    try:
        cls = fsspec.get_filesystem_class(protocol)
    except ImportError as exc:
        raise BackendNotInstalledError(f"{protocol}:// needs a package that is not installed: {exc}") from None
    return Scheme(
        name=protocol,
        uri=UriGrammar("fsspec"),
        client=Client(protocol=protocol, impl=f"{cls.__module__}.{cls.__name__}"),
    )


__all__ = [
    "LAYERS",
    "Resolved",
    "environment_options",
    "fsspec_config",
    "profile_options",
    "profile_variables",
    "resolve",
    "supported_schemes",
]
