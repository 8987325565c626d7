"""What differs across the supported MLflow releases and installed backends, in one place.

Supported: MLflow 2.22.x to the newest 3.x (``SUPPORTED_MLFLOW``, the same bounds as
``pyproject.toml``) on Python 3.10–3.13. Across that range the repository constructor
grew ``tracking_uri`` (3.1 has it, 2.22 not) and later ``registry_uri``, and server
mixins appeared; an argument an MLflow lacks is simply not passed
(:func:`accepted_kwargs`), and a mixin it lacks is left out (:mod:`artifact_fs.capabilities`).
fsspec before 2026.3 keeps ``FSSPEC_<PROTOCOL>_<KWARG>`` values as strings; they are
parsed as JSON here as newer fsspec does (:func:`parse_fsspec_kwarg_values`).
Backend packages older than the minimums this package declares are refused with a
message naming the package and the minimum (:func:`require_declared_versions`), read
from the installed package metadata, so ``pyproject.toml`` stays the only source.
"""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any

from .errors import BackendNotInstalledError

#: The MLflow releases artifact_fs is tested on (keep in step with pyproject.toml).
SUPPORTED_MLFLOW = ">=2.22,<4"
SUPPORTED_MLFLOW_TEXT = "MLflow 2.22.x to 3.x (mlflow-skinny>=2.22,<4)"
DISTRIBUTION = "artifact_fs"


class UnsupportedMlflowError(ImportError):
    """The installed MLflow is outside the supported range; the message names the range."""


def mlflow_version() -> str:
    """The version of the MLflow package that is imported (``mlflow`` or ``mlflow-skinny``)."""
    from mlflow.version import VERSION

    return VERSION


def check_mlflow_version(version: str) -> None:
    """Raise :class:`UnsupportedMlflowError` unless ``version`` is in the supported range."""
    from packaging.specifiers import SpecifierSet

    if not SpecifierSet(SUPPORTED_MLFLOW).contains(version, prereleases=True):
        raise UnsupportedMlflowError(
            f"artifact_fs supports {SUPPORTED_MLFLOW_TEXT}, but MLflow {version} is installed: "
            f"pip install 'mlflow-skinny{SUPPORTED_MLFLOW}' (or leave MLflow's own repositories "
            f"in charge by uninstalling artifact_fs)"
        )


@functools.cache
def require_supported_mlflow() -> None:
    """Refuse to run on an MLflow outside :data:`SUPPORTED_MLFLOW` (checked once per process)."""
    check_mlflow_version(mlflow_version())


def accepted_kwargs(target: Callable, **kwargs: Any) -> dict[str, Any]:
    """The subset of ``kwargs`` that ``target``'s signature accepts (all of them with ``**kwargs``).

    MLflow's ``ArtifactRepository.__init__`` takes ``artifact_uri`` only in 2.x,
    ``tracking_uri`` from 3.0 and ``registry_uri`` later; repositories and
    ``get_artifact_repository`` follow the same history.
    """
    accepted = _parameter_names(getattr(target, "__func__", target))  # bound methods: cache the function
    if accepted is None:  # no introspectable signature: pass nothing optional
        return {}
    if accepted == "**":
        return dict(kwargs)
    return {name: value for name, value in kwargs.items() if name in accepted}


@functools.lru_cache(maxsize=256)
def _parameter_names(target: Callable):
    """``target``'s parameter names, ``"**"`` when it takes any keyword, ``None`` if unknown
    (cached: a repository is built per request inside ``mlflow server``)."""
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return "**"
    return frozenset(parameters)


def repository_kwargs(repository_class: type, **uris: Any) -> dict[str, Any]:
    """The URIs (``tracking_uri``, ``registry_uri``) that both ``repository_class`` and this
    MLflow's ``ArtifactRepository.__init__`` accept: a class taking ``**kwargs`` only
    forwards them to the base class, which may not know them."""
    from mlflow.store.artifact.artifact_repo import ArtifactRepository

    return accepted_kwargs(repository_class, **accepted_kwargs(ArtifactRepository.__init__, **uris))


def parse_fsspec_kwarg_values(options: dict[str, Any], env: Mapping[str, str], protocol: str) -> dict[str, Any]:
    """``options`` with the values of ``FSSPEC_<PROTOCOL>_<KWARG>`` variables parsed as JSON
    (``"32"`` → ``32``), as fsspec does from 2026.3; older fsspec passes them on as strings."""
    prefix = f"FSSPEC_{protocol.upper()}_"
    parsed = dict(options)
    for var, raw in env.items():
        name = var[len(prefix) :].lower() if var.startswith(prefix) else ""
        if name and parsed.get(name) == raw:
            try:
                parsed[name] = json.loads(raw)
            except ValueError:
                pass  # not JSON: a plain string, as fsspec keeps it
    return parsed


@functools.cache
def declared_requirements(extra: str | None) -> tuple:
    """The requirements ``pyproject.toml`` declares for ``extra`` (``None``: the core ones),
    read from the installed metadata; ``()`` when artifact_fs runs without being installed."""
    from packaging.requirements import Requirement

    try:
        lines = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        return ()
    found = []
    for line in lines:
        requirement = Requirement(line)
        if requirement.name.replace("_", "-") == DISTRIBUTION.replace("_", "-"):
            continue  # extras that only name other extras
        marker = requirement.marker
        in_core = marker is None or marker.evaluate({"extra": ""})
        if (extra is None and in_core) or (extra is not None and not in_core and marker.evaluate({"extra": extra})):
            found.append(requirement)
    return tuple(found)


@functools.cache
def require_declared_versions(extra: str | None, packages: tuple[str, ...], needed_by: str) -> None:
    """Raise :class:`BackendNotInstalledError` when an installed package among ``packages``
    is older than the minimum declared for ``extra`` (``None``: core dependencies)."""
    wanted = {name.replace("_", "-").lower() for name in packages}
    for requirement in declared_requirements(extra):
        if packages and requirement.name.replace("_", "-").lower() not in wanted:
            continue
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            continue  # importable without metadata (vendored, source tree): nothing to compare
        if not requirement.specifier.contains(installed, prereleases=True):
            hint = (
                f"pip install --upgrade 'artifact_fs[{extra}]'" if extra else f"pip install --upgrade '{requirement}'"
            )
            raise BackendNotInstalledError(
                f"{needed_by} need {requirement.name}{requirement.specifier}, "
                f"but {requirement.name} {installed} is installed: {hint}"
            )
