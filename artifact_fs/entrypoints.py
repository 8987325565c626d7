"""The target of every ``mlflow.artifact_repository`` entry point.

MLflow imports this module while its registry module is being imported, so it
imports nothing heavy (no mlflow registry, no s3fs/gcsfs/adlfs/pyarrow/pandas).
The escape hatch is read when a repository is built, never at import:
``ARTIFACT_FS_BUILTIN_SCHEMES=s3,gs`` (or ``*``) leaves those schemes to MLflow's
own repositories (``file`` also covers plain paths).

Plain paths have the scheme ``""``, and setuptools cannot declare an entry point with
an empty name. So the entry points name ``mlflow_repository``, which this module
serves through ``__getattr__``: each time MLflow's registry loads it, the factory is
also registered for ``""`` in that registry, whatever the import order.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys

from .backends import BUILTIN_SCHEMES_VAR, scheme_row
from .uri import uri_scheme


def builtin_schemes(env=None) -> set[str]:
    """The schemes the escape-hatch variable hands back to MLflow (``*`` means all)."""
    env = os.environ if env is None else env
    value = env.get(BUILTIN_SCHEMES_VAR, "")
    names = {part.strip().lower() for part in value.split(",") if part.strip()}
    return names


def create_repository(artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None):
    """Build the repository for ``artifact_uri``: artifact_fs's, or MLflow's when the escape hatch says so."""
    scheme = uri_scheme(artifact_uri)
    handed_back = builtin_schemes()
    row = scheme_row(scheme)
    if (
        row is not None
        and row.mlflow_builtin
        and (scheme in handed_back or "*" in handed_back or (scheme == "" and "file" in handed_back))
    ):
        module_name, _, class_name = row.mlflow_builtin.partition(":")
        builtin = getattr(importlib.import_module(module_name), class_name)
        from ._compat import repository_kwargs  # older MLflow repositories take fewer arguments

        return builtin(artifact_uri, **repository_kwargs(builtin, tracking_uri=tracking_uri, registry_uri=registry_uri))
    repository_class, fallback_class, resolve_for_repository = _factory_parts()
    try:  # the class honouring exactly the MLflow mixins this store and its credentials can
        resolved = resolve_for_repository(artifact_uri)
        cls = repository_class(resolved)
    except Exception:  # noqa: BLE001 - a bad URI or setting: the constructor raises the mapped error
        return fallback_class(artifact_uri, tracking_uri=tracking_uri, registry_uri=registry_uri)
    return cls(artifact_uri, tracking_uri=tracking_uri, registry_uri=registry_uri, resolved=resolved)


@functools.cache
def _factory_parts():
    """Imported on the first repository, not when MLflow's registry imports this module
    (and not again per call: the import machinery costs as much as the rest of a construction)."""
    from .capabilities import repository_class
    from .repository import FsspecArtifactRepository
    from .resolve_memo import resolve_for_repository

    return repository_class, FsspecArtifactRepository, resolve_for_repository


_REGISTRY_MODULE = "mlflow.store.artifact.artifact_repository_registry"


def _claim_plain_paths() -> None:
    registry = getattr(sys.modules.get(_REGISTRY_MODULE), "_artifact_repository_registry", None)
    if registry is not None:
        registry.register("", create_repository)


def __getattr__(name: str):
    if name == "mlflow_repository":
        _claim_plain_paths()
        return create_repository
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
