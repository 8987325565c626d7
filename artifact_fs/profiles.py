"""Per-store profiles: storage settings per bucket, container, host or path prefix.

MLflow reads one global set of environment variables, so one process cannot reach two
S3 endpoints with two sets of credentials. A profiles file (TOML) gives settings per
store; :func:`artifact_fs.resolve` applies the profile whose ``match`` is the longest
prefix of the artifact URI, as one layer above the environment::

    # $ARTIFACT_FS_PROFILES, default $XDG_CONFIG_HOME/artifact_fs/profiles.toml
    [profiles.team-a]
    match = "s3://team-a-artifacts"          # scheme://bucket[/prefix]; longest match wins
    endpoint_url = "https://s3.team-a.example"
    access_key_id = "env:TEAM_A_KEY"         # env:NAME reads a variable, file:PATH a file
    secret_access_key = "file:~/.secrets/team-a"
    ca_bundle = "/etc/ssl/team-a-ca.pem"

    [profiles.team-a.settings]               # any variable of the scheme's settings table
    MLFLOW_S3_EXPECTED_BUCKET_OWNER = "123456789012"

    [profiles.team-a.storage_options]        # escape hatch: fsspec options, as given
    config_kwargs = { max_pool_connections = 32 }

Keys are checked when the file is read: a syntax error, an unknown key, a key that does
not apply to the matched scheme or two entries with the same ``match`` fail with the
file, the line and the reason. The file is read again only when it changes.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import stat
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .backends import PROFILE_KEYS, scheme_row
from .errors import InvalidProfilesError
from .redaction import SECRET_OPTION_NAMES
from .settings import BUDGET_SETTINGS, TRANSFER_SETTINGS
from .uri import uri_scheme

PROFILES_VAR = "ARTIFACT_FS_PROFILES"  #: path of the profiles file; empty or ``none``: no profiles
_OFF = {"", "none", "off", "0", "false"}

_STRUCTURAL = ("match", "settings", "storage_options")


@dataclass(frozen=True)
class Profile:
    """One entry of a profiles file: where it applies and the settings it gives.

    ``variables`` maps setting variables to their raw text (``env:``/``file:``
    references not yet read); ``storage_options`` is the escape hatch, as written.
    """

    name: str
    match: str  #: normalised ``scheme://host/path`` prefix (``file:///dir`` for local paths)
    file: str
    line: int
    variables: Mapping[str, str] = field(default_factory=dict)
    storage_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How sources and errors name this profile: ``profile 'team-a' (/path/profiles.toml:3)``."""
        return f"profile {self.name!r} ({self.file}:{self.line})"

    @property
    def reads_files(self) -> bool:
        """True when a value is a ``file:`` reference, read when the profile is applied (a
        secret file may be rotated in place, so such a result is never remembered)."""
        texts = [*self.variables.values(), *(value for _key, value in _leaves(self.storage_options))]
        return any(isinstance(text, str) and text.startswith("file:") for text in texts)

    def __repr__(self) -> str:  # values may hold secrets: never shown
        return f"Profile(name={self.name!r}, match={self.match!r}, file={self.file!r}, line={self.line})"


def profiles_path(env: Mapping[str, str]) -> str | None:
    """The profiles file ``env`` points at (``None``: profiles are off or no home is known)."""
    if PROFILES_VAR in env:
        value = env[PROFILES_VAR].strip()
        return None if value.lower() in _OFF else os.path.expanduser(value)
    base = env.get("XDG_CONFIG_HOME") or (os.path.join(env["HOME"], ".config") if env.get("HOME") else None)
    return os.path.join(base, "artifact_fs", "profiles.toml") if base else None


def matching_profile(uri: str, env: Mapping[str, str]) -> Profile | None:
    """The profile whose ``match`` is the longest prefix of ``uri`` (``None`` if none matches)."""
    path = profiles_path(env)
    return best_profile(uri, load_profiles(path) if path else ())


def best_profile(uri: str, profiles: tuple[Profile, ...]) -> Profile | None:
    """The profile among ``profiles`` whose ``match`` is the longest prefix of ``uri`` (``None`` if none)."""
    if not profiles:
        return None
    keys = {match_key(uri), match_key(uri, port=False)}  # a match without a port takes any port
    hits = [p for p in profiles if any(k == p.match or k.startswith(p.match.rstrip("/") + "/") for k in keys)]
    return max(hits, key=lambda p: len(p.match), default=None)


def match_key(uri: str, port: bool = True) -> str:
    """``uri`` normalised for prefix matching: lower-case scheme, no user-info, no trailing ``/``
    (and no ``:port`` when ``port`` is false)."""
    scheme = uri_scheme(uri)
    if scheme in ("", "file"):
        path = urlsplit(uri).path if scheme else uri
        return "file://" + posixpath.normpath(os.path.abspath(os.path.expanduser(path))).rstrip("/")
    parts = urlsplit(uri)
    row = scheme_row(scheme)
    host = parts.netloc.rpartition("@")[2] if row and row.uri.parser == "userinfo_host" else parts.netloc
    if not port and parts.port is not None:
        host = host.rsplit(":", 1)[0]
    return f"{scheme}://{host}{parts.path}".rstrip("/")


def read_reference(value: str, env: Mapping[str, str], where: str) -> str:
    """``env:NAME`` → ``env[NAME]``, ``file:PATH`` → the file's text (stripped), else ``value``."""
    if value.startswith("env:"):
        name = value[4:]
        if name not in env:
            raise InvalidProfilesError(f"{where}: environment variable {name!r} is not set")
        return env[name]
    if value.startswith("file:"):
        path = os.path.expanduser(value[5:])
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as exc:
            raise InvalidProfilesError(f"{where}: cannot read {path!r}: {exc.strerror}") from None
    return value


# --- reading the file -------------------------------------------------------------------

_CACHE: dict[str, tuple[tuple, tuple[Profile, ...]]] = {}
_CACHE_LOCK = threading.Lock()


def stat_stamp(info: os.stat_result) -> tuple:
    """What tells one version of the profiles file from another (mtime, size, inode, mode)."""
    return info.st_mtime_ns, info.st_size, info.st_ino, info.st_mode


def load_profiles(path: str) -> tuple[Profile, ...]:
    """The profiles in ``path`` (``()`` if it does not exist), read again only when it changes."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return ()
    except OSError as exc:
        raise InvalidProfilesError(f"profiles file {path}: cannot read it: {exc.strerror}") from None
    stamp = stat_stamp(info)
    with _CACHE_LOCK:
        cached = _CACHE.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
    profiles = parse_profiles(_read_text(path), path, world_readable=bool(info.st_mode & stat.S_IROTH))
    with _CACHE_LOCK:
        _CACHE[path] = (stamp, profiles)
    return profiles


def parse_profiles(text: str, path: str = "<profiles>", world_readable: bool = False) -> tuple[Profile, ...]:
    """Parse and check a profiles file's text; errors name ``path``, the line and the reason."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidProfilesError(f"profiles file {path}: invalid TOML: {exc}") from None
    lines = text.splitlines()
    unknown_top = [key for key in data if key != "profiles"]
    if unknown_top:
        raise _error(
            path,
            _line_of(lines, unknown_top[0]),
            f"unknown top-level key {unknown_top[0]!r} (entries go under [profiles.<name>])",
        )
    entries = data.get("profiles", {})
    if not isinstance(entries, dict):
        raise _error(path, _line_of(lines, "profiles"), "'profiles' must be a table of [profiles.<name>] entries")
    profiles, seen = [], {}
    for name, entry in entries.items():
        line = _header_line(lines, name)
        profile = _profile(name, entry, path, line, lines)
        if profile.match in seen:
            raise _error(
                path, line, f"profile {name!r} has the same match {profile.match!r} as profile {seen[profile.match]!r}"
            )
        seen[profile.match] = name
        if world_readable and _inline_secrets(profile):
            warnings.warn(
                f"profiles file {path} is readable by every user and profile {name!r} writes "
                f"{', '.join(_inline_secrets(profile))} inline: use env:NAME or file:PATH, or chmod 600 it",
                ProfilesWarning,
                stacklevel=4,
            )
        profiles.append(profile)
    return tuple(profiles)


class ProfilesWarning(UserWarning):
    """A profiles file that works but is unsafe (inline secrets in a world-readable file)."""


def _profile(name: str, entry: Any, path: str, line: int, lines: list[str]) -> Profile:
    where = f"profile {name!r}"
    if not isinstance(entry, dict):
        raise _error(path, line, f"{where} must be a table")
    match = entry.get("match")
    if not isinstance(match, str) or not match.strip():
        raise _error(path, line, f"{where} needs a 'match' string (e.g. match = \"s3://bucket/prefix\")")
    row = scheme_row(uri_scheme(match))
    if row is None:
        raise _error(
            path, _line_of(lines, "match", line), f"{where}: match {match!r} names no scheme artifact_fs knows"
        )
    known: dict[str, list] = {}
    for setting in (s for r in (row, *row.alternatives.values()) for s in r.client.settings):
        known.setdefault(setting.var, []).append(setting)
    for setting in (*TRANSFER_SETTINGS, *BUDGET_SETTINGS):
        known.setdefault(setting.var, []).append(setting)
    if row.variant_var:
        known.setdefault(row.variant_var, [])  # the client switch (e.g. ARTIFACT_FS_HDFS_CLIENT)
    variables: dict[str, str] = {}
    for key, value in entry.items():
        key_line = _line_of(lines, key, line)
        if key in ("match", "storage_options"):
            continue
        pairs = value.items() if key == "settings" and isinstance(value, dict) else [(PROFILE_KEYS.get(key), value)]
        if key == "settings" and not isinstance(value, dict):
            raise _error(path, key_line, f"{where}: 'settings' must be a table of VARIABLE = value")
        for var, raw in pairs:
            shown = var if key == "settings" else key
            if var is None:
                choices = ", ".join(sorted({k for k, v in PROFILE_KEYS.items() if v in known} | set(_STRUCTURAL)))
                raise _error(
                    path, key_line, f"{where}: unknown key {key!r} (keys for {row.name or 'local'} stores: {choices})"
                )
            if var not in known:
                raise _error(
                    path,
                    _line_of(lines, var, key_line),
                    f"{where}: {shown!r} does not apply to {row.name or 'local'} stores",
                )
            variables[var] = _as_text(raw)
            for setting in known[var]:
                _check_value(setting, variables[var], path, _line_of(lines, shown, key_line), where)
    options = entry.get("storage_options", {})
    if not isinstance(options, dict):
        raise _error(path, _line_of(lines, "storage_options", line), f"{where}: 'storage_options' must be a table")
    return Profile(
        name=name, match=match_key(match.strip()), file=path, line=line, variables=variables, storage_options=options
    )


def _check_value(setting, text: str, path: str, line: int, where: str) -> None:
    if text.startswith(("env:", "file:")):
        return
    try:
        setting.parse(text)
    except ValueError as exc:
        shown = "" if setting.secret else f"={text!r}"
        raise _error(path, line, f"{where}: {setting.var}{shown} is not valid: {exc}") from None


def _as_text(value: Any) -> str:
    """A TOML value as the text an environment variable would hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _inline_secrets(profile: Profile) -> list[str]:
    secret_vars = _secret_variables(profile.match)
    found = [
        var for var, text in profile.variables.items() if var in secret_vars and not text.startswith(("env:", "file:"))
    ]
    found += [
        key
        for key, value in _leaves(profile.storage_options)
        if key.rsplit(".", 1)[-1] in SECRET_OPTION_NAMES
        and not (isinstance(value, str) and value.startswith(("env:", "file:")))
    ]
    return found


def _secret_variables(uri: str) -> set[str]:
    """The variables of ``uri``'s scheme (and its alternatives) whose values are secrets."""
    row = scheme_row(uri_scheme(uri)) if "://" in uri else scheme_row("")
    rows = (row, *row.alternatives.values()) if row else ()
    return {s.var for r in rows for s in r.client.settings if s.secret}


def _leaves(tree: Mapping[str, Any], prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, Mapping):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidProfilesError(f"profiles file {path}: cannot read it: {exc}") from None


def _header_line(lines: list[str], name: str) -> int:
    pattern = re.compile(r"^\s*\[\s*profiles\s*\.\s*[\"']?" + re.escape(name) + r"[\"']?\s*\]")
    return next((i for i, text in enumerate(lines, 1) if pattern.match(text)), _line_of(lines, name))


def _line_of(lines: list[str], key: str, start: int = 1) -> int:
    pattern = re.compile(r"^\s*[\"']?" + re.escape(key) + r"[\"']?\s*[=.\]]|\[\s*" + re.escape(key) + r"\b")
    return next((i for i, text in enumerate(lines, 1) if i >= start and pattern.search(text)), start)


def _error(path: str, line: int, reason: str) -> InvalidProfilesError:
    return InvalidProfilesError(f"profiles file {path}, line {line}: {reason}")


__all__ = [
    "PROFILES_VAR",
    "PROFILE_KEYS",
    "Profile",
    "ProfilesWarning",
    "best_profile",
    "load_profiles",
    "match_key",
    "matching_profile",
    "parse_profiles",
    "profiles_path",
    "read_reference",
]
