"""fsspec protocols ``runs://`` and ``models://``: an MLflow run's or model's artifacts, where they lie.

``runs://<run_id>/<path>`` and ``models://<name>/<version>/<path>`` (also
``models://<name>@<alias>/...``, ``models://<name>/latest/...``, ``models://<name>/<stage>/...``
and ``models://m-<model_id>/...``) are resolved once through MLflow's client to the
artifact root; every call is then delegated to the fsspec filesystem of that root, built
by :func:`artifact_fs.resolve` (same settings as the repository: no temp copy, no proxy).
Roots on ``mlflow-artifacts:`` go through the tracking server's HTTP artifact API.

Storage options: ``tracking_uri`` / ``registry_uri`` (default: MLflow's, e.g.
``MLFLOW_TRACKING_URI``), ``cache_dir`` (the verified read cache, default
``ARTIFACT_FS_CACHE_DIR``), and ``storage_options``: overrides for the underlying store.
The single-slash forms ``runs:/id/path`` and ``models:/name/1`` are accepted as well.
"""

from __future__ import annotations

import re

from .tracked import TrackedArtifacts

_MODEL_ID = re.compile(r"m-[0-9a-f]{32}")
_IMMUTABLE_ROOTS: dict[tuple, str] = {}  # run ids and model versions never move


class RunsFileSystem(TrackedArtifacts):
    """``runs://<run_id>/<artifact path>``: a run's artifacts.

    >>> RunsFileSystem.split_key("0a1b2c/data/t.parquet")
    ('0a1b2c', 'data/t.parquet')
    """

    protocol = "runs"

    @staticmethod
    def split_key(path: str) -> tuple[str, str]:
        """``(run_id, artifact path)``."""
        run_id, _, relative = path.partition("/")
        if not run_id:
            raise ValueError("a runs:// URL names a run: runs://<run_id>/<artifact path>")
        return run_id, relative

    @staticmethod
    def fixed_key(key: str) -> bool:
        """A run's artifact root never moves."""
        return True

    def artifact_uri(self, key: str) -> str:
        """The run's artifact root (a run's root never changes, so it is asked once per process)."""
        cache_key = ("runs", self.tracking_uri, key)
        if cache_key not in _IMMUTABLE_ROOTS:
            _IMMUTABLE_ROOTS[cache_key] = _not_found_as_oserror(
                lambda: self._client().get_run(key).info.artifact_uri, f"runs:/{key}"
            )
        return _IMMUTABLE_ROOTS[cache_key]


class ModelsFileSystem(TrackedArtifacts):
    """``models://<name>/<version|latest|stage>/<path>``, ``models://<name>@<alias>/<path>``,
    ``models://m-<model_id>/<path>``: a registered model version's (or logged model's) artifacts.

    An alias, ``latest`` or a stage is resolved once per filesystem instance (each
    ``fsspec.open``/``pd.read_*`` call builds a new one), so a moved alias is followed.

    >>> ModelsFileSystem.split_key("churn@champion/MLmodel")
    ('churn@champion', 'MLmodel')
    >>> ModelsFileSystem.split_key("churn/3/data/model.pkl")
    ('churn/3', 'data/model.pkl')
    """

    protocol = "models"

    @staticmethod
    def split_key(path: str) -> tuple[str, str]:
        """``(model key, artifact path)``: ``name@alias``, ``m-<id>`` or ``name/<version>``."""
        parts = path.split("/")
        if not parts[0]:
            raise ValueError(
                "a models:// URL names a model: models://<name>/<version>/<path> or models://<name>@<alias>/<path>"
            )
        if "@" in parts[0] or _MODEL_ID.fullmatch(parts[0]):
            return parts[0], "/".join(parts[1:])
        if len(parts) < 2 or not parts[1]:
            raise ValueError(
                f"models://{path} names no version: use models://<name>/<version|latest>/... "
                "or models://<name>@<alias>/..."
            )
        return f"{parts[0]}/{parts[1]}", "/".join(parts[2:])

    @staticmethod
    def fixed_key(key: str) -> bool:
        """A numbered version's or a logged model's root never moves; an alias, ``latest`` or a stage may."""
        return bool("/" in key and key.split("/", 1)[1].isdigit() or _MODEL_ID.fullmatch(key))

    def artifact_uri(self, key: str) -> str:
        """The model version's download location (a fixed version is asked once per process)."""
        from mlflow.store.artifact.utils.models import get_model_name_and_version

        client = self._client()
        fixed = self.fixed_key(key)
        cache_key = ("models", self.tracking_uri, self.registry_uri, key)
        if fixed and cache_key in _IMMUTABLE_ROOTS:
            return _IMMUTABLE_ROOTS[cache_key]

        def lookup() -> str:
            found = get_model_name_and_version(client, f"models:/{key}")
            if len(found) == 1:
                return client.get_logged_model(found[0]).artifact_location
            return client.get_model_version_download_uri(*found)

        uri = _not_found_as_oserror(lookup, f"models:/{key}")
        if uri.startswith("models:/"):  # a version registered from a logged model
            uri = _not_found_as_oserror(lambda: client.get_logged_model(uri.split("/")[1]).artifact_location, uri)
        if fixed:
            _IMMUTABLE_ROOTS[cache_key] = uri
        return uri


def _not_found_as_oserror(call, what: str):
    from mlflow.exceptions import MlflowException

    try:
        return call()
    except MlflowException as exc:
        missing = exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND")
        if missing or "not found" in exc.message.lower():  # an unknown alias is INVALID_PARAMETER_VALUE
            raise FileNotFoundError(f"{what}: {exc.message}") from None
        raise
