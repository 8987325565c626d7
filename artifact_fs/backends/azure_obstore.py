"""``wasbs://`` and ``abfss://`` on the obstore engine (``ARTIFACT_FS_ENGINE=obstore``).

The same settings as the adlfs rows (:mod:`artifact_fs.backends.azure`), in MLflow's order,
mapped onto obstore's ``AzureConfig``/``ClientConfig``; the route chosen is pinned with
``config.credential_type``, so credentials obstore would read from the environment by
itself (``AZURE_CLIENT_ID``...) never win over the one the table chose:

* ``AZURE_STORAGE_CONNECTION_STRING``: its ``AccountName``, ``AccountKey`` or
  ``SharedAccessSignature``, and ``BlobEndpoint`` (else ``DefaultEndpointsProtocol`` and
  ``EndpointSuffix``) become ``account_name``, ``account_key``/``sas_key`` and ``endpoint``,
  winning over the URI's (``UseDevelopmentStorage=true`` is obstore's ``use_emulator``);
* ``AZURE_STORAGE_ACCESS_KEY``/``AZURE_STORAGE_ACCOUNT_KEY`` → ``account_key``,
  ``AZURE_STORAGE_SAS_TOKEN`` → ``sas_key`` (a leading ``?`` dropped), the service principal
  ``AZURE_STORAGE_CLIENT_ID``/``_SECRET``/``TENANT_ID`` (all three) → ``client_secret``;
* none of them: azure-identity's ``DefaultAzureCredential`` (``obstore.auth.azure``), as
  adlfs does; without azure-identity, obstore's own chain (managed identity...);
* the account comes from the URI's host, its endpoint from the host's suffix
  (``https://<account>.blob.<suffix>``; ``dfs`` hosts reach the blob endpoint, as with
  adlfs) or fsspec's ``account_host``; an ``http://`` endpoint is allowed;
* the transfer timeout is obstore's per-request and connect timeout (unset or ``-1``: no
  overall limit, where obstore's own default is 30 s a request); obstore's retries are off.

Integrity: Azure's ETag is an opaque version (``0x8D...``), no digest, and obstore's listings
and HEADs do not carry the ``Content-MD5`` adlfs checks: this engine checks sizes only.
"""

from __future__ import annotations

from ..converters import as_timeout
from ..obstore_config import ONE_ATTEMPT
from ..rows import Client, Scheme, ServerCapabilities, Setting, TransferTuning, as_variant
from ..settings import ENGINE_VAR, NO_LISTINGS_CACHE, TIMEOUT, parts_in_flight

_CS, _ACCESS, _ACCOUNT_KEY, _SAS = (
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
)
_ABOVE_SP = (_CS, _ACCESS, _ACCOUNT_KEY, _SAS)
#: connection-string keys this engine reads (any case); others (QueueEndpoint...) are ignored
CONNECTION_STRING_KEYS = frozenset(
    {
        "accountname",
        "accountkey",
        "sharedaccesssignature",
        "blobendpoint",
        "defaultendpointsprotocol",
        "endpointsuffix",
        "usedevelopmentstorage",
    }
)


def connection_string_parts(value: str) -> dict[str, str]:
    """``Key=Value;...`` as lower-cased keys → values (a value may hold ``=``, as a base64 key does)."""
    parts: dict[str, str] = {}
    for item in filter(None, (piece.strip() for piece in value.split(";"))):
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError("expected Key=Value pairs separated by ';'")
        parts[key.strip().lower()] = text.strip()
    if not (parts.get("accountname") or parts.get("usedevelopmentstorage", "").lower() == "true"):
        raise ValueError("names no AccountName (nor UseDevelopmentStorage=true)")
    return parts


def as_connection_string(value: str) -> str:
    """The connection string as given, once it parses (:func:`connection_string_parts`)."""
    connection_string_parts(value)
    return value.strip()


def as_sas_token(value: str) -> str:
    """A SAS token as the portal copies it, its leading ``?`` dropped."""
    return value.strip().lstrip("?")


AZURE_OBSTORE_SETTINGS = (
    Setting(
        _CS,
        "connection_string",
        as_connection_string,
        secret=True,
        doc="checked first; its account, key or SAS, and endpoint win over the URI's",
    ),
    Setting(_ACCESS, "config.account_key", secret=True, unless=(_CS,), doc="MLflow's name for the account key"),
    Setting(_ACCOUNT_KEY, "config.account_key", secret=True, unless=(_CS, _ACCESS), doc="adlfs's name for it"),
    Setting(
        _SAS,
        "config.sas_key",
        as_sas_token,
        secret=True,
        unless=(_CS, _ACCESS, _ACCOUNT_KEY),
        doc="MLflow's ADLS variable; a leading ? is dropped",
    ),
    Setting(
        "AZURE_STORAGE_CLIENT_ID",
        "config.client_id",
        unless=_ABOVE_SP,
        doc="the service principal, with the next two (all three, else DefaultAzureCredential)",
    ),
    Setting("AZURE_STORAGE_CLIENT_SECRET", "config.client_secret", secret=True, unless=_ABOVE_SP),
    Setting("AZURE_STORAGE_TENANT_ID", "config.tenant_id", unless=_ABOVE_SP),
    Setting(TIMEOUT, "client_options.timeout", as_timeout, doc="each HTTP request as a whole; -1 = no timeout"),
    Setting(TIMEOUT, "client_options.connect_timeout", as_timeout),
    *parts_in_flight("upload:max_concurrency"),
)

#: 8 MiB parts (blocks), 4 in flight; a fresh DefaultAzureCredential for each repository, as adlfs's rows
AZURE_OBSTORE_DEFAULTS = {
    **ONE_ATTEMPT,
    "upload:chunksize": 8 * 2**20,
    "upload:max_concurrency": 4,
    "skip_instance_cache": True,
}

_CLIENT = Client(
    protocol="abfs",
    impl="artifact_fs.backends.azure_obstore_fs.ObstoreAzureFileSystem",
    extra="obstore",
    settings=AZURE_OBSTORE_SETTINGS,
    defaults={**NO_LISTINGS_CACHE, **AZURE_OBSTORE_DEFAULTS},
)
#: Content-Type/-Encoding guessed, as with adlfs; no checksum: obstore lists no Content-MD5
_TRANSFER = TransferTuning(content_headers=("ContentType", "ContentEncoding"))


def on_obstore(row: Scheme) -> Scheme:
    """An Azure row on the obstore engine: its URI grammar, this module's client, no presigner."""
    return as_variant(row, "obstore", ENGINE_VAR, client=_CLIENT, transfer=_TRANSFER, server=ServerCapabilities())


__all__ = [
    "AZURE_OBSTORE_DEFAULTS",
    "AZURE_OBSTORE_SETTINGS",
    "connection_string_parts",
    "on_obstore",
]
