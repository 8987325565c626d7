"""The one artifact-path policy, the same on every backend.

An artifact path is relative to the artifact root and uses ``/``. Accepted and
normalised: ``None``/``""`` (the root), a trailing ``/``, ``./`` segments and
doubled slashes (MLflow's S3 repository accepts these). Refused, before anything
is written: ``..`` segments, absolute paths, drive letters, backslashes, NUL and other
control characters, lone surrogates (a file name that is not UTF-8), a path that names
nothing but is not empty (``.``, ``./``: MLflow refuses ``.`` too), and names used for
in-flight uploads. A segment is also read percent-decoded (repeatedly) and
Unicode-normalised (NFKC): if that reading holds a ``..`` piece or is absolute, it is
refused; otherwise the name is carried literally (a file named ``d%2Fe`` is stored as
``d%2Fe``).
"""

from __future__ import annotations

import os
import re
import unicodedata
from urllib.parse import unquote

from .errors import InvalidArtifactPathError

#: Prefix of temporary names used while an upload or download is in flight.
TEMP_PREFIX = ".artifact_fs.partial."

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: lone surrogates: what Python makes of a file name that is not UTF-8 (``os.fsdecode``); no store can carry them
_SURROGATE = re.compile("[\ud800-\udfff]")
#: bidirectional controls: they make a name display as another one (``evil\u202egnp.exe``)
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
MAX_SEGMENT_BYTES = 255  #: the longest file name most filesystems (and SFTP/FTP servers) take
MAX_PATH_BYTES = 1024  #: the longest S3 key
_DRIVE = re.compile(r"^[A-Za-z]:")
_SEPARATORS = re.compile(r"[/\\]")
_MAX_READINGS = 8  #: percent-decoding / NFKC rounds before a reading counts as settled


def _refuse(path: str, why: str) -> InvalidArtifactPathError:
    error = InvalidArtifactPathError(f"Invalid artifact path {path!r}: {why}")
    error.reason = why
    return error


def listed_key_error(name: str, root: str, refused: InvalidArtifactPathError) -> InvalidArtifactPathError:
    """The error for a key the store lists under ``root`` that the path policy ``refused``:
    it names the whole key as listed (``sub/../../x``, not its normalised form), so the
    store's owner can find and remove it."""
    root = root.rstrip("/")
    key = name[len(root) + 1 :] if root and name.startswith(root + "/") else name
    reason = getattr(refused, "reason", str(refused))
    why = f"the store lists a key {key!r} under the artifact root {root!r} that the path policy refuses ({reason})"
    return _refuse(key, f"{why}; nothing was downloaded: remove or rename that key in the store")


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
    _check_characters(path)
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise _refuse(path, f"is longer than {MAX_PATH_BYTES} bytes")
    if "\\" in path:
        raise _refuse(path, "contains a backslash; use '/' between segments")
    if path.startswith("/") or _DRIVE.match(path):
        raise _refuse(path, "must be relative to the artifact root, not absolute")
    segments = [seg for seg in path.split("/") if seg not in ("", ".")]
    if path and not segments:
        raise _refuse(path, "names no artifact ('.' is not an artifact path; None or '' means the artifact root)")
    for seg in segments:
        _check_segment(path, seg)
    return "/".join(segments)


def _check_characters(path: str) -> None:
    if _SURROGATE.search(path):
        raise _refuse(path, "is not valid Unicode (a lone surrogate: a local file name that is not UTF-8?); rename it")
    if _CONTROL.search(path):
        raise _refuse(path, "contains a control character (NUL, newline...)")
    if _BIDI.search(path):
        raise _refuse(path, "contains a bidirectional control character (it disguises the name)")


def _check_segment(path: str, seg: str) -> None:
    if seg == "..":
        raise _refuse(path, "'..' could escape the artifact root")
    for reading in _readings(seg):
        if reading.startswith(("/", "\\")) or _DRIVE.match(reading) or ".." in _SEPARATORS.split(reading):
            raise _refuse(
                path,
                f"segment {seg!r} reads as {reading!r} once percent-decoded or Unicode-normalised (NFKC), "
                "which could escape the artifact root",
            )
    if len(seg.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
        raise _refuse(path, f"a segment is longer than {MAX_SEGMENT_BYTES} bytes")
    if seg.startswith(TEMP_PREFIX):
        raise _refuse(path, f"names starting with {TEMP_PREFIX!r} are reserved")


def _readings(segment: str) -> list[str]:
    """What ``segment`` may be read as by a client that percent-decodes or NFKC-folds names:
    each decoding and folding step in turn, until neither changes it."""
    readings, current = [], segment
    for _ in range(_MAX_READINGS):
        decoded = unquote(current)
        folded = unicodedata.normalize("NFKC", decoded)
        readings += [decoded, folded]
        if folded == current:
            break
        current = folded
    return readings


def clean_file_name(name: str) -> str:
    """Validate a single file name (the basename of a logged local file)."""
    cleaned = clean_artifact_path(name)
    if not cleaned or "/" in cleaned:
        raise _refuse(name, "a file name must be one path segment")
    return cleaned


def join_artifact_path(*parts: str | None) -> str:
    """Join already-clean artifact paths, skipping empty ones."""
    return "/".join(part for part in parts if part)


def under_root(root: str, relative: str) -> str:
    """The store path of an already-clean root-relative artifact path (``""``: the root);
    the one way a root and an artifact path are joined (repository, ``runs://``, ``af.*``).

    >>> under_root("bucket/run", "d/f"), under_root("/", "d/f"), under_root("bucket/run", "")
    ('bucket/run/d/f', '/d/f', 'bucket/run')
    """
    if not relative:
        return root
    return f"{root.rstrip('/')}/{relative}" if root not in ("", "/") else f"{root}{relative}"


def local_destination(dst_dir: str, artifact_path: str) -> str:
    """The local file for ``artifact_path`` under ``dst_dir``; refuses anything that escapes it."""
    relative = clean_artifact_path(artifact_path)
    base = os.path.realpath(dst_dir)
    target = os.path.realpath(os.path.join(base, *relative.split("/"))) if relative else base
    if target != base and not target.startswith(base + os.sep):
        raise _refuse(artifact_path, "resolves outside the download directory")
    return target


def walk_local_tree(local_dir: str) -> tuple[list[tuple[str, str]], list[str]]:
    """What ``log_artifacts(local_dir)`` uploads: ``(local file, artifact path relative to
    local_dir)`` for every file, and the relative paths of empty directories.

    Symbolic links (to files or directories) are followed when they point inside
    ``local_dir``; a link pointing outside it, a broken link and a link to one of its own
    ancestors (a loop) are refused with :class:`InvalidArtifactPathError` naming the link
    and its target, before anything is uploaded. Every name passes the path policy.
    """
    root = os.path.realpath(local_dir)
    files: list[tuple[str, str]] = []
    empty: list[str] = []
    for dirpath, dirnames, filenames in os.walk(local_dir, followlinks=True):
        dirnames.sort()
        subdir = os.path.relpath(dirpath, local_dir).replace(os.sep, "/")
        subdir = "" if subdir == "." else clean_artifact_path(subdir)
        here = os.path.realpath(dirpath)
        for name in [*dirnames, *filenames]:
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                _check_link(full, join_artifact_path(subdir, name), root, here)
        for name in sorted(filenames):
            files.append((os.path.join(dirpath, name), join_artifact_path(subdir, clean_file_name(name))))
        if not filenames and not dirnames:
            empty.append(subdir)
    return files, empty


def _check_link(link: str, relative: str, root: str, here: str) -> None:
    target = os.path.realpath(link)
    shown = f"symbolic link {relative!r} -> {os.readlink(link)!r}"
    if not os.path.exists(target):
        raise _refuse(relative, f"{shown} is broken (its target does not exist)")
    if target != root and not target.startswith(root + os.sep):
        raise _refuse(
            relative, f"{shown} points outside the directory being logged ({root!r}); only links inside it are followed"
        )
    if os.path.isdir(target) and (here == target or here.startswith(target + os.sep)):
        raise _refuse(relative, f"{shown} points to one of its own parent directories (a loop)")
