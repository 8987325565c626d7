"""Settings every store reads, whatever its scheme, and how any settings become options.

The per-backend settings live with their backend (:mod:`artifact_fs.backends`); here are
artifact_fs's own transfer knobs (the retry budget, verification, files and parts in
flight), the transfer timeout MLflow defines once for every store, and
:func:`settings_options`, which applies rows of settings to an environment.

Rows are applied in order, so a later row for the same option wins
(``MLFLOW_S3_IGNORE_TLS`` after ``AWS_CA_BUNDLE``). A row whose variable is unset sets
nothing, so fsspec's own configuration still applies to every option left open.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .converters import SKIP, as_non_negative_int, as_positive_int, one_of
from .errors import InvalidProfilesError, InvalidSettingError, NotOnThisEngineError
from .redaction import looks_secret
from .rows import Setting

#: MLflow's one transfer timeout; each backend module says what it becomes for its client.
TIMEOUT = "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT"

#: A default for stores other writers change: listings must see them at once.
NO_LISTINGS_CACHE = {"use_listings_cache": False}


# artifact_fs's own transfer knobs, read for every scheme (after the row's own settings) into
# ``Resolved.transfer_options``, so a profile can set them per store too; not storage options.
RETRIES_VAR, VERIFY_VAR = "ARTIFACT_FS_RETRIES", "ARTIFACT_FS_VERIFY"
TRANSFER_SETTINGS = (
    Setting(
        RETRIES_VAR,
        "transfer:retries",
        as_non_negative_int,
        doc=(
            "the one retry budget: a transfer that failed on a dropped or refused connection is tried again this "
            "many times (default 2), files already verified in the store are skipped; a timeout is never retried; "
            "the SDKs' own retries are off where the client allows it"
        ),
    ),
    Setting(
        VERIFY_VAR,
        "transfer:verify",
        one_of("size", "checksum", "full"),
        doc=(
            "after each upload and download: `size`; `checksum` (default) also compares the digest the store "
            "lists (S3 single-part ETag, GCS md5Hash, Azure Content-MD5); `full` also reads every upload back and "
            "compares SHA-256"
        ),
    ),
)

# THE CONCURRENCY BUDGET: files in flight x parts in flight per file x bytes per part.
# Files in flight is one knob for every scheme (fsspec's ``batch_size``, or threads for sync
# clients); parts in flight is each client's own per-file knob, so each row names its
# option (``parts_in_flight(...)``); bytes per part are the rows' chunk/block sizes. The
# rows' defaults are what was measured fastest on a 2-core machine against local servers
# (benchmarks/README.md); a 64-core server on a long network path wants more of both.
FILES_VAR, PARTS_VAR = "ARTIFACT_FS_FILES_IN_FLIGHT", "ARTIFACT_FS_PARTS_IN_FLIGHT"

#: picks the engine of the rows that have two (``fsspec``: s3fs/gcsfs/adlfs; ``obstore``)
ENGINE_VAR = "ARTIFACT_FS_ENGINE"
BUDGET_SETTINGS = (
    Setting(
        FILES_VAR,
        "upload:batch_size",
        as_positive_int,
        doc=(
            "files moved at once by one upload or download (default: the client's, fsspec's batch size 128 for "
            "async clients; 8 threads for HDFS, 1 for the local disk, 4 connections for FTP)"
        ),
    ),
    Setting(FILES_VAR, "download:batch_size", as_positive_int),
)


def parts_in_flight(*options: str) -> tuple[Setting, ...]:
    """``ARTIFACT_FS_PARTS_IN_FLIGHT`` as the client's own options for parts of one file in flight."""
    return tuple(
        Setting(
            PARTS_VAR, option, as_positive_int, doc="parts (blocks, ranges) of one file moved at once" if not i else ""
        )
        for i, option in enumerate(options)
    )


#: Profile keys for the settings above (each backend module adds its own).
PROFILE_KEYS: Mapping[str, str] = {
    "timeout": TIMEOUT,
    "retries": RETRIES_VAR,
    "verify": VERIFY_VAR,
    "files_in_flight": FILES_VAR,
    "parts_in_flight": PARTS_VAR,
    "engine": ENGINE_VAR,
}


def settings_options(settings, env: Mapping[str, str], origin: str = "environment") -> dict[str, tuple[Any, str]]:
    """What ``settings`` produce from ``env``, in order: ``{option path: (value, source)}``.

    ``origin`` names where ``env`` came from, in sources and errors (a profile's label); a
    value that does not parse raises InvalidSettingError (InvalidProfilesError for a
    profile) naming the variable, and showing the value unless it may hold a secret.
    """
    out: dict[str, tuple[Any, str]] = {}
    for setting in settings:
        raw = env.get(setting.var)
        if raw is None or raw == "" or any(env.get(other) for other in setting.unless):
            continue
        value = _parse_setting(setting, raw, origin)
        if value is not SKIP:
            out[setting.option] = (value, f"{origin} {setting.var}")
    return out


def _parse_setting(setting: Setting, raw: str, origin: str) -> Any:
    try:
        return setting.parse(raw)
    except ValueError as exc:
        shown = "" if setting.secret or looks_secret(raw) else f"={raw!r}"
        where = f"environment variable {setting.var}" if origin == "environment" else f"{origin}: {setting.var}"
        message = f"{where}{shown} is not valid: {exc}"
        if isinstance(exc, NotOnThisEngineError):  # kept: resolve then tries the next engine
            raise NotOnThisEngineError(message, exc.reason) from None
        raise (InvalidSettingError if origin == "environment" else InvalidProfilesError)(message) from None
