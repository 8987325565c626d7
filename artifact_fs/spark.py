"""``spark_conf(uri)``: the Hadoop settings that make Spark read an artifact location natively.

Generated from the same :func:`artifact_fs.resolve` result as every filesystem artifact_fs
opens. Each option of it becomes ``spark.hadoop.*`` keys (:data:`FAMILIES`: a mapper per
scheme family for what needs logic, a table for one-to-one options), or a note when Spark
needs no counterpart (:data:`NOT_CARRIED`: artifact_fs's own client and transfer knobs), or
a ValueError naming it: nothing is dropped silently. A secret is written as a reference,
``${env.NAME}``, naming the variable it came from (Hadoop's ``Configuration`` expands it on
each node that reads it), and as its value only with ``secrets=True``.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .resolver import Resolved, resolve
from .settings import ENGINE_VAR
from .spark_stores import FAMILIES, S3_EXTRA_ARGS, OptionsMapping
from .uri import redact_uri, uri_scheme


@dataclass(frozen=True)
class SparkSettings:
    """The URL Spark reads natively (``s3a://``, ``abfss://``, ``gs://``...), the Hadoop
    settings as ``spark.hadoop.*`` keys, and notes on what Spark needs beyond them."""

    url: str
    conf: dict[str, str]
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """``{"url": ..., "conf": {...}, "notes": [...]}`` (the CLI's ``--json``)."""
        return {"url": self.url, "conf": dict(self.conf), "notes": list(self.notes)}

    def as_args(self) -> list[str]:
        """``["--conf", "key=value", ...]``: arguments for ``spark-submit``."""
        return [arg for key, value in self.conf.items() for arg in ("--conf", f"{key}={value}")]

    def text(self) -> str:
        """The URL and the notes as ``#`` comments, then one shell-quoted ``--conf key=value`` a line."""
        lines = [f"# {self.url}", *(f"# note: {note}" for note in self.notes)]
        return "\n".join(lines + [f"--conf {shlex.quote(f'{key}={value}')}" for key, value in self.conf.items()])


# --- the table -------------------------------------------------------------------------------


#: Schemes Spark cannot read, and why.
_PROXIED = (
    "is the tracking server's HTTP artifact API: no Hadoop filesystem speaks it; give Spark the store "
    "behind the server (its --artifacts-destination)"
)
REFUSED = {
    "memory": "is fsspec's store in this Python process's memory: no JVM, let alone an executor, can read it",
    "mlflow-artifacts": _PROXIED,
    "http": _PROXIED,
    "https": _PROXIED,
}
#: Options Spark needs no counterpart for, by reason (a note says so when a setting, not a default, set them).
NOT_CARRIED = {option: reason for reason, options in {
    "fsspec's own caches and local parents": ("use_listings_cache", "skip_instance_cache", "auto_mkdir"),
    "artifact_fs's own transfer plan; Spark has its own": (
        "upload:batch_size", "download:batch_size", "upload:max_concurrency", "download:max_concurrency",
        "download:concurrency", "upload:chunksize", "download:chunksize", "download:chunk_size", "fixed_upload_size",
        "upload:parents_exist", "download:block_size", "upload:connections", "download:connections"),
    "artifact_fs's own retry budget and checks; the connector keeps its own retries": (
        "transfer:verify", "transfer:retries", "config_kwargs.retries", "attr:retries", "upload:retry_read",
        "upload:retry_connect"),
    "a timeout the connector has no key for": (
        "timeout", "connect_timeout", "keepalive_interval", "keepalive_count_max", "attr:call_timeout"),
}.items() for option in options}  # fmt: skip


#: the engine whose options the Hadoop mappings read
FSSPEC_ENGINE = "fsspec"


def settings_for(resolved: Resolved, env: Mapping[str, str] | None = None, *, secrets: bool = False) -> SparkSettings:
    """The Spark settings for a resolve result; ``env`` is what it was resolved from (secret
    references name its variables). ValueError names any option Spark cannot be given."""
    scheme = resolved.scheme
    if resolved.row.variant_var == ENGINE_VAR and resolved.row.variant != FSSPEC_ENGINE:
        # Spark reads through its Hadoop connector, not obstore: the settings are those the
        # same environment gives the fsspec engine (the same variables, in s3fs/adlfs/gcsfs terms)
        base = os.environ if env is None else env
        resolved = resolve(resolved.uri, {**base, ENGINE_VAR: FSSPEC_ENGINE})
    if scheme not in FAMILIES:
        raise ValueError(f"{scheme} -> Spark: {redact_uri(resolved.uri)} {REFUSED.get(scheme, 'has no Spark mapping')}")
    mapping = OptionsMapping(resolved, os.environ if env is None else env, secrets)
    url = FAMILIES[scheme](mapping)
    dropped: dict[tuple[str, str], list[str]] = {}
    for path, source in resolved.sources.items():
        if path in mapping.read or any(path.startswith(p + ".") for p in mapping.read):
            continue
        reason = next((r for p, r in NOT_CARRIED.items() if path == p or path.startswith(p + ".")), None)
        if reason is None:
            raise mapping.refuse(f"option {path} (from {source})", "has no Hadoop setting")
        if source != "default":
            dropped.setdefault((source, reason), []).append(path)
    for (source, reason), paths in dropped.items():
        mapping.note(f"not carried from {source}: {', '.join(paths)} ({reason})")
    return SparkSettings(url, mapping.conf, tuple(mapping.notes))


def spark_conf(
    uri: str | os.PathLike, env: Mapping[str, str] | None = None, *, secrets: bool = False, **options: Any
) -> SparkSettings:
    """The native URL and Hadoop settings (``spark.hadoop.*``) that make Spark read ``uri`` where
    it lies, from the same :func:`artifact_fs.resolve` result as artifact_fs's own filesystems.

    Secrets are ``${env.NAME}`` references unless ``secrets=True``; ``runs:/`` and ``models:/``
    URIs are located through the tracking server first (``options`` as for
    :func:`artifact_fs.locate`; the process environment). ValueError names what Spark cannot be given.

    >>> s = spark_conf("s3://bkt/runs", env={"MLFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:9000"})
    >>> s.url, s.conf["spark.hadoop.fs.s3a.bucket.bkt.path.style.access"]
    ('s3a://bkt/runs', 'true')
    """
    uri = os.fspath(uri)
    if uri_scheme(uri) not in ("runs", "models"):
        return settings_for(resolve(uri, env, **options), env, secrets=secrets)
    from .api import locate

    if env is not None:
        raise ValueError("runs:/ and models:/ URIs are located with the process environment: do not pass env")
    resolved = locate(uri, **options).resolved
    if resolved is None:
        raise ValueError(f"{redact_uri(uri)} is served by the tracking server's artifact API, not a store Spark reads")
    return settings_for(resolved, os.environ, secrets=secrets)


__all__ = ["FAMILIES", "NOT_CARRIED", "REFUSED", "S3_EXTRA_ARGS", "SparkSettings", "settings_for",
           "spark_conf"]  # fmt: skip
