"""THE TABLE: every MLflow artifact scheme and the fsspec filesystem behind it, one module per
backend family. Each module holds its rows, its settings, its client adjustments and its
presigner, and starts with what happens for its stores:

==========================  =========================================================
module                      schemes
==========================  =========================================================
:mod:`.local`               plain paths, ``file``, ``memory``
:mod:`.s3` (+ ``s3_client``) ``s3``, ``r2``, ``b2``
:mod:`.azure`               ``wasbs``, ``abfss``
:mod:`.gcs`                 ``gs``
:mod:`.sftp`                ``sftp``
:mod:`.ftp`                 ``ftp``
:mod:`.hdfs`                ``hdfs``, ``viewfs``
:mod:`.tracking_server`     ``mlflow-artifacts``, ``http``, ``https`` (the proxied API)
==========================  =========================================================

Adding a backend is adding a module with its ``ROWS`` (a :class:`~artifact_fs.rows.Scheme`
each), listing it in :data:`FAMILIES`, an entry point in ``pyproject.toml``, a server in
``tests/servers/`` and a few tests — never a new repository class. This index is what the
README's tables are generated from (``python -m artifact_fs._docs``).
"""

from __future__ import annotations

from types import MappingProxyType

from .. import settings
from ..rows import Scheme
from . import azure, ftp, gcs, hdfs, local, s3, sftp, tracking_server

#: The backend modules, each with its ``ROWS`` (and, where it has them, ``PROFILE_KEYS``,
#: ``CREDENTIAL_VARIABLES``, ``CLIENT_READ_CREDENTIALS``).
FAMILIES = (local, s3, azure, gcs, sftp, ftp, hdfs, tracking_server)

#: Every row, sorted by scheme name (``""``, plain paths, first).
SCHEMES: tuple[Scheme, ...] = tuple(
    sorted((row for family in FAMILIES for row in family.ROWS), key=lambda row: row.name)
)

BY_NAME = MappingProxyType({row.name: row for row in SCHEMES})

#: Variables that identify who is calling. A profile that gives any of them replaces all of
#: the environment's (never one store's key with another's secret).
CREDENTIAL_VARIABLES = frozenset().union(*(getattr(family, "CREDENTIAL_VARIABLES", ()) for family in FAMILIES))

#: Credential variables a storage client falls back to by itself when no option is given, so
#: they cannot be masked by leaving an option out.
CLIENT_READ_CREDENTIALS = tuple(var for family in FAMILIES for var in getattr(family, "CLIENT_READ_CREDENTIALS", ()))

#: Friendly profile keys and the setting (environment variable) each stands for.
PROFILE_KEYS = MappingProxyType(
    {key: var for module in (*FAMILIES, settings) for key, var in getattr(module, "PROFILE_KEYS", {}).items()}
)

#: Schemes the escape-hatch variable may hand back to MLflow, and the variable itself.
BUILTIN_SCHEMES_VAR = "ARTIFACT_FS_BUILTIN_SCHEMES"


def scheme_row(name: str) -> Scheme | None:
    """The table row for an MLflow scheme name (``""`` for plain paths), or None."""
    return BY_NAME.get(name)


__all__ = [
    "BUILTIN_SCHEMES_VAR",
    "BY_NAME",
    "CLIENT_READ_CREDENTIALS",
    "CREDENTIAL_VARIABLES",
    "FAMILIES",
    "PROFILE_KEYS",
    "SCHEMES",
    "scheme_row",
]
