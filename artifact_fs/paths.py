"""The one artifact-path policy, the same on every backend.

An artifact path is relative to the artifact root and uses ``/``. Accepted and
normalised: ``None``/``""`` (the root), a trailing ``/``, ``./`` segments and
doubled slashes (MLflow's S3 repository accepts these). Refused, before anything
is written: ``..`` segments (also percent-encoded), absolute paths, drive letters,
backslashes, NUL and other control characters, and names used for in-flight uploads.
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote

from .errors import InvalidArtifactPathError

#: Prefix of temporary names used while an upload or download is in flight.
TEMP_PREFIX = ".artifact_fs.partial."

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")


def _refuse(path: str, why: str) -> InvalidArtifactPathError:
    return InvalidArtifactPathError(f"Invalid artifact path {path!r}: {why}")


def clean_artifact_path(path: str | None) -> str:
    """Validate and normalise an artifact path; ``""`` means the artifact root.

    >>> clean_artifact_path("models//v1/./weights/")
    'models/v1/weights'
    """
    if path is None:
        return ""
    path = os.fspath(path)
    if not isinstance(path, str):
        raise _refuse(repr(path), "must be a string")
    if _CONTROL.search(path):
        raise _refuse(path, "contains a control character (NUL, newline...)")
    if "\\" in path:
        raise _refuse(path, "contains a backslash; use '/' between segments")
    if path.startswith("/") or _DRIVE.match(path):
        raise _refuse(path, "must be relative to the artifact root, not absolute")
    segments = [seg for seg in path.split("/") if seg not in ("", ".")]
    for seg in segments:
        decoded = _fully_unquote(seg)
        if decoded == ".." or "/" in decoded or "\\" in decoded:
            raise _refuse(path, "'..' and encoded separators could escape the artifact root")
        if seg.startswith(TEMP_PREFIX):
            raise _refuse(path, f"names starting with {TEMP_PREFIX!r} are reserved")
    return "/".join(segments)


def clean_file_name(name: str) -> str:
    """Validate a single file name (the basename of a logged local file)."""
    cleaned = clean_artifact_path(name)
    if not cleaned or "/" in cleaned:
        raise _refuse(name, "a file name must be one path segment")
    return cleaned


def join_artifact_path(*parts: str | None) -> str:
    """Join already-clean artifact paths, skipping empty ones."""
    return "/".join(part for part in parts if part)


def local_destination(dst_dir: str, artifact_path: str) -> str:
    """The local file for ``artifact_path`` under ``dst_dir``; refuses anything that escapes it."""
    relative = clean_artifact_path(artifact_path)
    base = os.path.realpath(dst_dir)
    target = os.path.realpath(os.path.join(base, *relative.split("/"))) if relative else base
    if target != base and not target.startswith(base + os.sep):
        raise _refuse(artifact_path, "resolves outside the download directory")
    return target


def _fully_unquote(segment: str) -> str:
    for _ in range(5):
        decoded = unquote(segment)
        if decoded == segment:
            return decoded
        segment = decoded
    return segment
