"""The filesystem of ``wasbs://`` and ``abfss://`` on the obstore engine: the Azure rows'
options (:mod:`artifact_fs.backends.azure_obstore`) as obstore's ``AzureConfig``/``ClientConfig``,
the credential route pinned. Imported only when such a filesystem is opened (it imports obstore)."""

from __future__ import annotations

from typing import Any

from ..obstore_config import durations
from ..obstore_fs import ObstoreFileSystem
from .azure_obstore import as_sas_token, connection_string_parts

_SERVICE_PRINCIPAL = ("client_id", "client_secret", "tenant_id")


class ObstoreAzureFileSystem(ObstoreFileSystem):
    """Azure Blob Storage on obstore, taking the wasbs/abfss rows' options (module docstring)."""

    protocol = ("abfs", "az", "abfss", "wasbs")
    records_part_size = False  # Azure lists no digest of parts (and metadata names take no '-')

    def _store_config(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs.pop("use_listings_cache", None)
        config = dict(kwargs.pop("config", None) or {})
        client = durations(dict(kwargs.pop("client_options", None) or {}))
        account, host = kwargs.pop("account_name", None), kwargs.pop("account_host", None)
        if account:
            config.setdefault("account_name", account)
        if host:
            config["endpoint"] = host if "://" in host else f"https://{host}"
        connection_string = kwargs.pop("connection_string", None)
        if connection_string:
            _apply_connection_string(connection_string_parts(connection_string), config)
        if str(config.get("endpoint", "")).startswith("http://") or config.get("use_emulator"):
            client["allow_http"] = True
        self.credential_route = _pin_credentials(config, kwargs)
        return {**kwargs, "config": config, "client_options": client}


def _apply_connection_string(parts: dict[str, str], config: dict[str, Any]) -> None:
    """A parsed connection string's account, credential and endpoint into ``config``."""
    if parts.get("usedevelopmentstorage", "").lower() == "true":
        config["use_emulator"] = True
    if parts.get("accountname"):
        config["account_name"] = parts["accountname"]
    for name in ("account_key", "sas_key", *_SERVICE_PRINCIPAL):
        config.pop(name, None)  # the connection string's credential alone
    if parts.get("accountkey"):
        config["account_key"] = parts["accountkey"]
    elif parts.get("sharedaccesssignature"):
        config["sas_key"] = as_sas_token(parts["sharedaccesssignature"])
    if parts.get("blobendpoint"):
        config["endpoint"] = parts["blobendpoint"].rstrip("/")
    elif parts.get("endpointsuffix") and parts.get("accountname"):
        scheme = parts.get("defaultendpointsprotocol") or "https"
        config["endpoint"] = f"{scheme}://{parts['accountname']}.blob.{parts['endpointsuffix']}"


def _pin_credentials(config: dict[str, Any], kwargs: dict[str, Any]) -> str:
    """Set ``credential_type`` (or a DefaultAzureCredential provider) for the route the
    options give, in MLflow's order; returns the route's name."""
    if config.get("use_emulator") and not (config.get("account_key") or config.get("sas_key")):
        return "emulator"  # obstore's built-in development account and key
    if config.get("account_key"):
        config["credential_type"] = "access_key"
        return "access_key"
    if config.get("sas_key"):
        config["credential_type"] = "sas_token"
        return "sas_token"
    given = [name for name in _SERVICE_PRINCIPAL if config.get(name)]
    if len(given) == len(_SERVICE_PRINCIPAL):
        config["credential_type"] = "client_secret"
        return "client_secret"
    for name in given:  # part of a service principal: adlfs then asks DefaultAzureCredential too
        config.pop(name)
    if kwargs.get("credential_provider") is None:
        try:
            from obstore.auth.azure import AzureCredentialProvider
        except ImportError:
            return "obstore's chain"
        kwargs["credential_provider"] = AzureCredentialProvider()
    return "DefaultAzureCredential"


__all__ = ["ObstoreAzureFileSystem"]
