"""The Spark mapping of each scheme family: which ``spark.hadoop.*`` keys an option of a
:func:`artifact_fs.resolve` result becomes, and the native URL (``s3a://``, ``abfss://``,
``gs://``, ``hdfs://``...). :mod:`artifact_fs.spark` runs them and accounts for every option.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from .resolver import Resolved
from .rows import CHANNELS

PREFIX = "spark.hadoop."


class OptionsMapping:
    """One resolve result being mapped: the options read (accounted for), the keys, the notes."""

    def __init__(self, resolved: Resolved, env: Mapping[str, str], secrets: bool):
        self.resolved, self.env, self.secrets = resolved, env, secrets
        self.conf: dict[str, str] = {}
        self.notes: list[str] = []
        self.read: set[str] = set()
        self.scope = ""  #: what the family's keys are per: ``fs.s3a.bucket.<b>.``, ``<account>.dfs.<suffix>``

    def get(self, path: str, default: Any = None) -> Any:  # a dotted option path, now accounted for
        self.read.add(path)
        channel = next((c for c in CHANNELS if path.startswith(c)), "")
        tree: Any = getattr(self.resolved, CHANNELS[channel]) if channel else self.resolved.storage_options
        for key in path[len(channel) :].split("."):
            if not isinstance(tree, Mapping) or key not in tree:
                return default
            tree = tree[key]
        return tree

    def set(self, key: str, value: Any) -> None:  # a Hadoop key, "{}" standing for the scope
        text = str(value).lower() if isinstance(value, bool) else str(value)
        self.conf[PREFIX + key.replace("{}", self.scope)] = text

    def apply(self, table: Mapping[str, tuple[str, Callable[[Any], Any]]]) -> None:
        for option, (keys, convert) in table.items():  # options that map one to one, when set
            for key in keys.split() if option in self.resolved.sources else ():
                self.set(key, convert(self.get(option)))

    def source(self, path: str) -> str:
        sources = self.resolved.sources
        return sources.get(path) or next((s for p, s in sources.items() if path.startswith(p + ".")), "unknown")

    def secret(self, path: str, part: str | None = None, value: str | None = None) -> str:
        # ${env.NAME} naming the variable that holds the secret alone (a part of an option: none), or its value
        value = self.get(path) if value is None else value
        if self.secrets:
            return value
        source, profile, name = self.source(path), self.resolved.profile, None
        if source.startswith("environment "):
            name = source.removeprefix("environment ")
        elif profile and source.startswith(profile.label + " ") and not part:
            rest = source[len(profile.label) + 1 :]
            raw = _dotted(profile.storage_options, path) if rest == "storage_options" else profile.variables.get(rest)
            name = raw[4:] if isinstance(raw, str) and raw.startswith("env:") else None
        if name and not part and self.env.get(name) == value:
            return f"${{env.{name}}}"
        raise self.refuse(
            f"{part} in {path}" if part else path,
            f"is a secret from {source} that no variable holds alone, and Hadoop can only reference a variable "
            "(${env.NAME}): pass secrets=True (--show-secrets) to write its value",
        )

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def refuse(self, what: str, why: str) -> ValueError:
        return ValueError(f"{self.resolved.scheme or 'path'} -> Spark: {what} {why}")


def _flat(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted Hadoop keys (the timeout row nests ``dfs.client.socket-timeout``)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_flat(value, f"{prefix}{key}.") if isinstance(value, Mapping) else {f"{prefix}{key}": value})
    return out


def _dotted(tree: Any, path: str) -> Any:
    for key in path.split("."):
        tree = tree.get(key) if isinstance(tree, Mapping) else None
    return tree


def _ms(seconds: float | None) -> str:
    """Seconds (None: no limit) as Hadoop's milliseconds (0: no limit)."""
    return "0" if seconds is None else str(max(1, round(seconds * 1000)))


# --- S3, R2, B2: S3A, every key per bucket ---------------------------------------------------

_S3A = "org.apache.hadoop.fs.s3a."
_ACL = ("private", "public-read", "public-read-write", "authenticated-read", "bucket-owner-read",
        "bucket-owner-full-control", "log-delivery-write")  # fmt: skip
_SSE = {"AES256": "SSE-S3", "aws:kms": "SSE-KMS", "aws:kms:dsse": "DSSE-KMS"}
#: ``MLFLOW_S3_UPLOAD_EXTRA_ARGS`` keys S3A can express: key → (S3A key, its values or a function of
#: the value); no key: S3A derives it. Any other key is refused, by name.
S3_EXTRA_ARGS: dict[str, tuple[str | None, Any]] = {
    "ServerSideEncryption": ("encryption.algorithm", _SSE),
    "SSEKMSKeyId": ("encryption.key", str),
    "SSECustomerAlgorithm": ("encryption.algorithm", {"AES256": "SSE-C"}),
    "SSECustomerKey": ("encryption.key", None),  # a secret, written as S3A wants it: base64 (see _s3)
    "SSECustomerKeyMD5": (None, None),  # S3A computes it from the key
    "StorageClass": ("create.storage.class", str.lower),
    "ContentEncoding": ("object.content.encoding", str),
    "ACL": ("acl.default", {acl: acl.title().replace("-", "") for acl in _ACL}),
    "RequestPayer": ("requester.pays.enabled", {"requester": "true"}),
}
_SIGNERS = {"s3v4": "AWSS3V4SignerType", "v4": "AWSS3V4SignerType", "s3": "S3SignerType"}


#: S3 options that become S3A keys one to one ("{}": fs.s3a.bucket.<bucket>.).
S3_DIRECT = {
    "endpoint_url": ("{}endpoint", str), "client_kwargs.region_name": ("{}endpoint.region", str),
    "config_kwargs.connect_timeout": ("{}connection.establish.timeout", _ms),
    "config_kwargs.read_timeout": ("{}connection.timeout", _ms), "transfer:retries": ("{}retry.limit", str),
}  # fmt: skip


def _s3(m: OptionsMapping) -> str:
    m.scope = f"fs.s3a.bucket.{m.resolved.root.partition('/')[0]}."
    m.apply(S3_DIRECT)
    endpoint, style = m.get("endpoint_url"), m.get("config_kwargs.s3.addressing_style")
    if endpoint and urlsplit(endpoint).scheme == "http":
        m.set("{}connection.ssl.enabled", False)
    custom = bool(endpoint) and not (urlsplit(endpoint).hostname or "").endswith(".amazonaws.com")
    if style in ("path", "virtual") or custom:  # S3-compatible servers answer path style (no wildcard DNS)
        m.set("{}path.style.access", style == "path" or (style != "virtual" and custom))
    verify = m.get("client_kwargs.verify")
    if verify is False:
        raise m.refuse("MLFLOW_S3_IGNORE_TLS", "has no S3A key (TLS is always verified): trust the certificate")
    if isinstance(verify, str):
        m.note(
            f"S3A has no key for a CA bundle ({verify}, from {m.source('client_kwargs.verify')}): import it into a "
            "truststore (keytool -importcert), pass -Djavax.net.ssl.trustStore=<it> in spark.*.extraJavaOptions"
        )
    key, secret, token, profile = (m.get(o) for o in ("key", "secret", "token", "profile"))
    if m.get("anon"):
        m.set("{}aws.credentials.provider", _S3A + "AnonymousAWSCredentialsProvider")
    elif key or secret or token:
        if not (key and secret):
            given = ", ".join(m.source(o) for o in ("key", "secret", "token") if m.get(o))
            raise m.refuse(f"credentials from {given}", "need both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        m.set("{}access.key", m.secret("key"))
        m.set("{}secret.key", m.secret("secret"))
        if token:
            m.set("{}session.token", m.secret("token"))
        m.set("{}aws.credentials.provider", _S3A + ("Temporary" if token else "Simple") + "AWSCredentialsProvider")
    elif profile:
        m.set("{}aws.credentials.provider", _S3A + "auth.ProfileAWSCredentialsProvider")
        m.set("{}auth.profile.name", profile)
        m.note("an AWS profile needs Hadoop 3.4.2+ and the profile in ~/.aws/credentials on every node")
    signature = m.get("config_kwargs.signature_version")
    if signature and signature not in _SIGNERS:
        raise m.refuse(f"signature version {signature!r}", "has no S3A signer (s3v4; s3 up to Hadoop 3.3)")
    if signature:
        m.set("{}signing-algorithm", _SIGNERS[signature])
    for name, value in (m.get("s3_additional_kwargs") or {}).items():
        target, convert = S3_EXTRA_ARGS.get(name, ("", None))
        if target == "":
            raise m.refuse(f"{name} (from {m.source('s3_additional_kwargs.' + name)})", "has no S3A setting")
        if name == "SSECustomerKey":  # botocore sends base64(key), the form S3A takes
            value = m.secret("s3_additional_kwargs", name, base64.b64encode(str(value).encode()).decode())
        elif isinstance(convert, Mapping) and value not in convert:
            raise m.refuse(f"{name}={value!r}", f"has no S3A value (known: {', '.join(convert)})")
        elif convert:
            value = convert[value] if isinstance(convert, Mapping) else convert(value)
        if target:
            m.set("{}" + target, value)
    return f"s3a://{m.resolved.root}"


# --- Azure: ABFS on the account's dfs host, every key per account -----------------------------

#: Azure options that become ABFS keys one to one ("{}": <account>.dfs.<suffix>).
AZURE_DIRECT = {
    "connection_timeout": ("fs.azure.http.connection.timeout.{}", _ms),
    "read_timeout": ("fs.azure.http.read.timeout.{}", _ms),
    "transfer:retries": ("fs.azure.io.retry.max.retries.{}", str),
}  # fmt: skip
_LOGIN = {"core.chinacloudapi.cn": "login.chinacloudapi.cn", "core.usgovcloudapi.net": "login.microsoftonline.us"}


def _azure(m: OptionsMapping) -> str:
    container, _, path = m.resolved.root.partition("/")
    account = m.get("account_name")
    blob = m.get("account_host") or f"{account}.blob.core.windows.net"
    parts = dict(p.split("=", 1) for p in (m.get("connection_string") or "").split(";") if "=" in p)
    if parts:
        account = parts.get("AccountName", account)
        blob = f"{account}.blob.{parts.get('EndpointSuffix', 'core.windows.net')}"
        blob = parts.get("BlobEndpoint", blob).split("://")[-1].rstrip("/")
        if parts.get("UseDevelopmentStorage", "").lower() == "true":
            blob = "127.0.0.1:10000/devstoreaccount1"
    suffix = re.fullmatch(rf"{re.escape(account)}\.blob\.([A-Za-z0-9.-]+)", blob, re.IGNORECASE)
    if not suffix:
        raise m.refuse(f"the custom endpoint {blob}", "cannot be given to ABFS: it takes its endpoint from the URL's "
                       "<account>.dfs.<suffix> host and speaks the ADLS Gen2 dfs API (its fs.azure.abfs.endpoint "
                       "is a test hook; Azurite serves no dfs API)")  # fmt: skip
    m.scope = f"{account}.dfs.{suffix[1]}"
    m.apply(AZURE_DIRECT)
    if m.get("anon"):
        raise m.refuse("anonymous access", "has no ABFS equivalent (ABFS always authenticates)")
    key, sas = m.get("account_key"), m.get("sas_token")
    client, client_secret, tenant = (m.get(o) for o in ("client_id", "client_secret", "tenant_id"))
    cs_key, cs_sas = parts.get("AccountKey"), parts.get("SharedAccessSignature")
    if cs_key or key:
        m.set("fs.azure.account.auth.type.{}", "SharedKey")
        key = m.secret("connection_string", "AccountKey", cs_key) if cs_key else m.secret("account_key")
        m.set("fs.azure.account.key.{}", key)
    elif cs_sas or sas:
        m.set("fs.azure.account.auth.type.{}", "SAS")
        sas = m.secret("connection_string", "SharedAccessSignature", cs_sas) if cs_sas else m.secret("sas_token")
        m.set("fs.azure.sas.fixed.token.{}", sas.removeprefix("?"))
        if sas.startswith("${") and str(m.get("sas_token")).startswith("?"):
            m.note("the SAS token starts with '?': give Spark the variable without it")
    elif client and client_secret and tenant:
        m.set("fs.azure.account.auth.type.{}", "OAuth")
        m.set(
            "fs.azure.account.oauth.provider.type.{}", "org.apache.hadoop.fs.azurebfs.oauth2.ClientCredsTokenProvider"
        )
        m.set("fs.azure.account.oauth2.client.id.{}", client)
        m.set("fs.azure.account.oauth2.client.secret.{}", m.secret("client_secret"))
        login = _LOGIN.get(suffix[1], "login.microsoftonline.com")
        m.set("fs.azure.account.oauth2.client.endpoint.{}", f"https://{login}/{tenant}/oauth2/token")
    else:
        given = ", ".join(m.source(o) for o in ("client_id", "client_secret", "tenant_id") if m.get(o))
        lack = f"an incomplete service principal ({given})" if given else "no credential"
        m.note(f"{lack}: adlfs would use DefaultAzureCredential, which hadoop-azure lacks; give Spark a credential "
               "(a managed identity: MsiTokenProvider)")  # fmt: skip
    return f"abfss://{container}@{m.scope}" + (f"/{path}" if path else "")


# --- GCS: the Cloud Storage connector (2.x and 3.x keys), one configuration for every bucket ---


#: GCS options that become connector keys one to one.
GCS_DIRECT = {
    "project": ("fs.gs.project.id", str), "upload:chunksize": ("fs.gs.outputstream.upload.chunk.size", str),
    "requests_timeout": ("fs.gs.http.connect-timeout fs.gs.http.read-timeout", _ms),
}  # fmt: skip


def _gcs(m: OptionsMapping) -> str:
    m.apply(GCS_DIRECT)
    token = m.get("token")
    if token == "anon":
        m.set("fs.gs.auth.type", "UNAUTHENTICATED")
        m.set("google.cloud.auth.null.enable", True)
    elif isinstance(token, str) and token not in ("google_default", "cloud", "browser", "cache"):
        keyfile = m.secret("token")
        m.set("fs.gs.auth.type", "SERVICE_ACCOUNT_JSON_KEYFILE")
        m.set("fs.gs.auth.service.account.json.keyfile", keyfile)
        m.set("google.cloud.auth.service.account.json.keyfile", keyfile)
        m.note("the service-account key file must be at that path on every node")
    elif token not in (None, "google_default", "cloud"):  # those two: the connector's default credentials
        raise m.refuse(f"token (from {m.source('token')})", "is not a key file the GCS connector can read")
    endpoint = m.get("endpoint_url")
    if endpoint:
        m.set("fs.gs.storage.root.url", ("" if "://" in endpoint else "http://") + endpoint.rstrip("/") + "/")
    return f"gs://{m.resolved.root}"


# --- HDFS and viewfs: the URL as it is, Hadoop keys as they are --------------------------------


def _hdfs(m: OptionsMapping) -> str:
    m.read.update(("host", "port"))  # in the URL
    config = _flat({**(m.get("config") or {}), **(m.get("extra_conf") or {})})
    for key, value in config.items():
        m.set(key, value)
    ticket, user = m.get("env:KRB5CCNAME") or m.get("kerb_ticket"), m.get("env:HADOOP_USER_NAME") or m.get("user")
    if ticket:
        m.set("hadoop.security.kerberos.ticket.cache.path", ticket)
    if user:
        m.note(f"Hadoop takes the user from the environment only: run spark-submit with HADOOP_USER_NAME={user}")
    if not m.resolved.authority and "fs.defaultFS" not in config:
        m.note("hdfs:/// names no NameNode: Spark uses fs.defaultFS of its own Hadoop configuration")
    return f"{m.resolved.scheme}://{m.resolved.authority}{m.resolved.root}"


# --- SFTP and FTP: Hadoop's own filesystems, keys per host ------------------------------------


def _sftp(m: OptionsMapping) -> str:
    if m.get("known_hosts") is not None:
        raise m.refuse("host-key checking", "cannot be kept: Hadoop's SFTPFileSystem never checks host keys; set "
                       "ARTIFACT_FS_SFTP_KNOWN_HOSTS=none to accept that explicitly")  # fmt: skip
    host, user, password = m.get("host"), m.get("username"), m.get("password")
    m.read.add("port")  # in the URL
    if not user:
        raise m.refuse("a URI without a user", "cannot be read: Hadoop's SFTPFileSystem needs one (no ~/.ssh/config)")
    m.set("fs.sftp.impl", "org.apache.hadoop.fs.sftp.SFTPFileSystem")
    m.set(f"fs.sftp.user.{host}", user)
    if password is not None:
        m.set(f"fs.sftp.password.{host}.{user}", m.secret("password"))
    else:
        m.note("Hadoop's SFTPFileSystem uses no SSH agent: add spark.hadoop.fs.sftp.keyfile=<key on every node>")
    return f"sftp://{m.resolved.authority}{m.resolved.root}"


def _ftp(m: OptionsMapping) -> str:
    host, user, password = m.get("host"), m.get("username") or "anonymous", m.get("password")
    m.read.add("port")  # in the URL
    if password is None and user != "anonymous":
        raise m.refuse(f"user {user!r} without a password", "cannot log in: Hadoop's FTPFileSystem needs one")
    m.set("fs.ftp.impl", "org.apache.hadoop.fs.ftp.FTPFileSystem")
    m.set("fs.ftp.data.connection.mode", "PASSIVE_LOCAL_DATA_CONNECTION_MODE")  # as ftplib
    m.set("fs.ftp.transfer.mode", "STREAM_TRANSFER_MODE")  # as ftplib (Hadoop's default: block mode)
    m.set(f"fs.ftp.user.{host}", user)
    m.set(f"fs.ftp.password.{host}", m.secret("password") if password is not None else "anonymous@")
    return f"ftp://{m.resolved.authority}{m.resolved.root}"


def _local(m: OptionsMapping) -> str:
    m.note("a local path: every executor must see it at the same place (a shared mount), or run Spark locally")
    return "file://" + ("" if m.resolved.root.startswith("/") else "/") + m.resolved.root


#: Scheme → the mapper of its family, which sets the keys and returns the native URL. Every row of
#: :data:`artifact_fs.backends.SCHEMES` is here or in :data:`REFUSED`.
FAMILIES: dict[str, Callable[[OptionsMapping], str]] = {
    "s3": _s3, "r2": _s3, "b2": _s3, "abfss": _azure, "wasbs": _azure, "gs": _gcs, "hdfs": _hdfs, "viewfs": _hdfs,
    "sftp": _sftp, "ftp": _ftp, "": _local, "file": _local,
}  # fmt: skip
