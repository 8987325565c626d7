"""MLflow URI grammars: a handful of generic parsers, each named by a scheme row.

A parser takes the URI and its table row and returns where it points (the fsspec
path of the artifact root, no protocol) and the options the URI itself encodes
(endpoint, account, host, user, password...). Per-scheme differences (which host
pattern, which fixed options) are data in the row, not code here.
"""

from __future__ import annotations

import ntpath
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit
from urllib.request import url2pathname

from .errors import InvalidURIError
from .rows import Scheme

#: the tracking server's proxied artifact API, below its ``/api/2.0``
PROXIED_ARTIFACTS_ENDPOINT = "/mlflow-artifacts/artifacts"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


@dataclass(frozen=True)
class ParsedURI:
    """The artifact root as an fsspec path plus the options read from the URI text."""

    root: str
    options: dict[str, Any] = field(default_factory=dict)
    authority: str = ""  #: host[:port] to show in the fsspec URL (never credentials)


_AUTHORITY = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://)(?P<authority>[^/?#]*)")


def redact_uri(uri: str) -> str:
    """The URI with any password in its user-info replaced by ``***``.

    Read from the text itself, not ``urlsplit``, so a URI that does not parse
    (``sftp://u:pw@[::1/x``) is redacted too.

    >>> redact_uri("sftp://me:hunter2@[::1/x")
    'sftp://me:***@[::1/x'
    """
    match = _AUTHORITY.match(uri)
    if match is None:
        return uri
    userinfo, at, host = match.group("authority").rpartition("@")
    if not at or ":" not in userinfo:
        return uri
    user = userinfo.partition(":")[0]
    return f"{match.group('head')}{user}:***@{host}{uri[match.end() :]}"


def uri_scheme(uri: str) -> str:
    """MLflow's scheme rule: ``urlparse`` scheme, lower-cased; a drive letter means a plain path."""
    if _WINDOWS_DRIVE.match(uri):
        return ""
    scheme, sep, _ = uri.partition(":")
    if not sep or not _SCHEME.fullmatch(scheme) or len(scheme) == 1:
        return ""
    return scheme.lower()


def _split(uri: str) -> SplitResult:
    if _CONTROL.search(uri):
        raise InvalidURIError(f"URI {redact_uri(uri)!r} contains a control character")
    try:
        parts = urlsplit(uri, "", True)  # as urlparse calls it: the split MLflow's registry just made, cached
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidURIError(f"URI {redact_uri(uri)!r} is malformed: {exc}") from None
    if parts.query or parts.fragment or uri.endswith(("?", "#")):
        raise InvalidURIError(
            f"URI {redact_uri(uri)!r} has a query or fragment ('?' or '#'); "
            "MLflow would silently drop it, so artifact_fs refuses it"
        )
    return parts


def _path(parts: SplitResult, row: Scheme) -> str:
    path = unquote(parts.path) if row.uri.unquote_path else parts.path
    return path.strip("/")


def _join(*pieces: str) -> str:
    return "/".join(piece for piece in pieces if piece)


def _match_host(netloc: str, row: Scheme, uri: str) -> re.Match:
    match = re.fullmatch(row.uri.host_pattern or "", netloc)
    if match is None:
        raise InvalidURIError(f"{row.name} URI {redact_uri(uri)!r} must be of the form {row.uri.form}")
    return match


def _host_options(match: re.Match, row: Scheme) -> dict[str, Any]:
    return {option: match.group(group) for group, option in row.uri.host_options.items()}


def parse_bucket(uri: str, row: Scheme) -> ParsedURI:
    """``s3://bucket/key``, ``gs://bucket/key``: the bucket is the netloc, kept as written."""
    parts = _split(uri)
    if not parts.netloc or "@" in parts.netloc:
        raise InvalidURIError(f"{row.name} URI {redact_uri(uri)!r} must be of the form {row.uri.form}")
    return ParsedURI(_join(parts.netloc, _path(parts, row)))


def parse_bucket_at_endpoint(uri: str, row: Scheme) -> ParsedURI:
    """``r2://bucket@endpoint-host/key``, ``b2://...``: the endpoint is ``https://<host>``."""
    parts = _split(uri)
    match = _match_host(parts.netloc, row, uri)
    options = {"endpoint_url": f"https://{match.group('endpoint')}", **_host_options(match, row)}
    return ParsedURI(_join(match.group("bucket"), _path(parts, row)), options)


def parse_azure(uri: str, row: Scheme) -> ParsedURI:
    """``wasbs://container@account.<suffix>/path`` and ``abfss://...``: account from the host."""
    parts = _split(uri)
    match = _match_host(parts.netloc, row, uri)
    account, suffix = match.group("account"), match.group("suffix")
    options: dict[str, Any] = {"account_name": account}
    blob_suffix = re.sub(r"^dfs\.", "blob.", suffix)
    if blob_suffix != "blob.core.windows.net":
        options["account_host"] = f"{account}.{blob_suffix}"
    return ParsedURI(_join(match.group("container"), _path(parts, row)), options)


def parse_userinfo_host(uri: str, row: Scheme) -> ParsedURI:
    """``sftp://[user[:password]@]host[:port]/path`` and ``ftp://...``; the password is URL-decoded."""
    parts = _split(uri)
    host, port, user, password = parts.hostname, parts.port, parts.username, parts.password  # each parses the netloc
    if not host:
        raise InvalidURIError(
            f"{row.name} URI {redact_uri(uri)!r} names no host: it must be of the form {row.uri.form}"
        )
    options: dict[str, Any] = {"host": host}
    if port is not None:
        options["port"] = port
    if user:
        options["username"] = unquote(user)
    if password is not None:
        options["password"] = unquote(password)
    authority = parts.netloc.rpartition("@")[2]
    return ParsedURI("/" + _path(parts, row), options, authority)


def parse_namenode(uri: str, row: Scheme) -> ParsedURI:
    """``hdfs:/path``, ``hdfs://nn:port/path``, ``viewfs://cluster/path`` (MLflow's host rule)."""
    parts = _split(uri)
    host = f"{row.name}://{parts.hostname}" if parts.hostname else "default"
    return ParsedURI("/" + _path(parts, row), {"host": host, "port": parts.port or 0}, parts.netloc)


def parse_namenode_url(uri: str, row: Scheme) -> ParsedURI:
    """``hdfs://nn:port/path`` → ``host`` and ``port`` as written (case kept: HA nameservice
    names are case-sensitive); ``hdfs:/path`` and ``hdfs:///path`` name no host, which means
    the default file system (``fs.defaultFS``) for hdfs-native."""
    parts = _split(uri)
    authority = parts.netloc.rpartition("@")[2]
    options: dict[str, Any] = {}
    port = parts.port  # parses the netloc: once
    if parts.hostname:
        options["host"] = authority.rpartition(":")[0] if port is not None else authority
    if port is not None:
        options["port"] = port
    return ParsedURI("/" + _path(parts, row), options, authority)


def parse_local(uri: str, row: Scheme) -> ParsedURI:
    """``file:///abs``, ``file:rel``, plain and relative paths, Windows drive paths.

    As MLflow (``local_file_uri_to_path``), the path is percent-decoded and relative
    paths are made absolute against the cwd. A ``file:`` URI may name no host or
    ``localhost``: another host's files cannot be reached (MLflow would silently use
    the local path instead).
    """
    if "\x00" in uri:
        raise InvalidURIError(f"path {uri!r} contains a NUL byte")
    if _WINDOWS_DRIVE.match(uri):
        return ParsedURI(ntpath.normpath(uri).replace("\\", "/"))
    path = _file_uri_path(uri, row) if uri_scheme(uri) == "file" else uri
    path = url2pathname(path)
    if not path:
        raise InvalidURIError(f"local URI {uri!r} names no path")
    return ParsedURI(os.path.abspath(path).replace(os.sep, "/"))


def _file_uri_path(uri: str, row: Scheme) -> str:
    try:
        parts = urlsplit(uri, "", True)  # the split MLflow's registry just made (cached)
    except ValueError as exc:
        raise InvalidURIError(f"file URI {redact_uri(uri)!r} is malformed: {exc}") from None
    host = parts.netloc.rpartition("@")[2]
    if parts.netloc.lower() not in ("", "localhost"):
        raise InvalidURIError(
            f"file URI {redact_uri(uri)!r} names the host {host!r}: only files on this machine can be "
            f"reached (no host or 'localhost'), of the form {row.uri.form}"
        )
    return parts.path


def parse_fsspec(uri: str, row: Scheme) -> ParsedURI:
    """Any fsspec URL (``memory://x``, ``az://c/p``): the implementation's own URL grammar."""
    import fsspec

    if _CONTROL.search(uri):
        raise InvalidURIError(f"URI {redact_uri(uri)!r} contains a control character")
    cls = fsspec.get_filesystem_class(row.client.protocol)
    root = cls._strip_protocol(uri).rstrip("/") or cls.root_marker
    return ParsedURI(root, dict(cls._get_kwargs_from_urls(uri)))


def parse_tracking_server(uri: str, row: Scheme) -> ParsedURI:
    """``mlflow-artifacts:/path``, ``mlflow-artifacts://host[:port]/path`` (the server: the URI's
    host, else the tracking URI's) and ``http(s)://host[/prefix]/api/2.0/mlflow-artifacts/artifacts/path``."""
    parts = _split(uri)
    if "@" in parts.netloc:
        raise InvalidURIError(
            f"{row.name} URI {redact_uri(uri)!r} carries credentials: give them as MLFLOW_TRACKING_USERNAME/"
            "MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN instead"
        )
    if row.name == "mlflow-artifacts":
        if parts.hostname and parts.port is None and re.fullmatch(r"[0-9.]+", parts.hostname):
            raise InvalidURIError(f"mlflow-artifacts URI {uri!r} names a port ({parts.hostname}) but no host")
        host = {"host": parts.netloc} if parts.netloc else {}
        return ParsedURI("/" + unquote(parts.path).strip("/"), host, parts.netloc)
    if not parts.netloc or PROXIED_ARTIFACTS_ENDPOINT not in parts.path:
        raise InvalidURIError(f"{row.name} URI {redact_uri(uri)!r} must be of the form {row.uri.form}")
    prefix, _, tail = parts.path.partition(PROXIED_ARTIFACTS_ENDPOINT)
    base = f"{parts.scheme.lower()}://{parts.netloc}{prefix}"
    return ParsedURI("/" + unquote(tail).strip("/"), {"api_base_url": base}, parts.netloc)


#: grammars whose root starts with a bucket (container) the store must already have → its name
BUCKET_WORDS = {"bucket": "bucket", "bucket_at_endpoint": "bucket", "azure": "container"}


def root_bucket(root: str, row: Scheme) -> tuple[str, str] | None:
    """``(word, name)`` of the bucket or container an object-store root lies in
    (``("bucket", "b")`` for ``b/runs/1``); None for stores without one.

    >>> from artifact_fs.backends import scheme_row
    >>> root_bucket("b/runs/1", scheme_row("s3")), root_bucket("/runs", scheme_row("sftp"))
    (('bucket', 'b'), None)
    """
    word, name = BUCKET_WORDS.get(row.uri.parser), root.partition("/")[0]
    return (word, name) if word and name else None


GRAMMARS: dict[str, Callable[[str, Scheme], ParsedURI]] = {
    "azure": parse_azure,
    "bucket": parse_bucket,
    "bucket_at_endpoint": parse_bucket_at_endpoint,
    "fsspec": parse_fsspec,
    "local": parse_local,
    "namenode": parse_namenode,
    "namenode_url": parse_namenode_url,
    "tracking_server": parse_tracking_server,
    "userinfo_host": parse_userinfo_host,
}


def parse(uri: str, row: Scheme) -> ParsedURI:
    """Parse ``uri`` with its row's grammar; the row's ``fixed`` options join the URI layer."""
    parsed = GRAMMARS[row.uri.parser](uri, row)
    if row.uri.fixed:
        return ParsedURI(parsed.root, {**parsed.options, **row.uri.fixed}, parsed.authority)
    return parsed
