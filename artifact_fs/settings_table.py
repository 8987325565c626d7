"""THE SETTINGS TABLE: every environment variable artifact_fs reads, and the storage
option each becomes, grouped per family of schemes (the scheme rows in
:mod:`artifact_fs.backends` pick their groups).

Rows are applied in order, so a later row for the same option wins
(``MLFLOW_S3_IGNORE_TLS`` after ``AWS_CA_BUNDLE``). A row whose variable is unset sets
nothing, so fsspec's own configuration still applies to every option left open.
"""

from __future__ import annotations

from typing import Mapping

from ._table import (
    SKIP,
    Setting,
    as_json_object,
    as_key_value_pairs,
    as_millis_text,
    as_non_negative_int,
    as_positive_int,
    as_timeout,
    constant,
    except_word,
    false_when_true,
    multiple_of,
    one_of,
    only_word,
)

TIMEOUT = "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT"
GCS_CHUNK = multiple_of(256 * 1024)


def known_hosts_file(value: str):
    """A known_hosts file path; ``none`` turns host-key checking off (explicit opt-out)."""
    return None if value.strip().lower() in ("none", "off", "false", "0") else value.strip()


def half_timeout(value: str):
    """Half the timeout, in seconds (``-1``: ``None``, no limit): SSH keepalives sent that
    often, with one allowed to go unanswered, declare a silent server dead after the timeout."""
    seconds = as_timeout(value)
    return None if seconds is None else seconds / 2


#: The keys ``MLFLOW_S3_UPLOAD_EXTRA_ARGS`` may hold: the upload arguments boto3's ``upload_file``
#: takes (``boto3.s3.transfer.S3Transfer.ALLOWED_UPLOAD_ARGS``, s3transfer 0.19), which MLflow's
#: S3 repository passes the variable to, refusing any other key. Kept here as data, so resolving
#: imports no boto3; tests/test_resolve_settings.py checks it against the installed s3transfer.
S3_UPLOAD_ARGS = frozenset({
    "ACL", "CacheControl", "ChecksumAlgorithm", "ChecksumCRC32", "ChecksumCRC32C", "ChecksumCRC64NVME",
    "ChecksumMD5", "ChecksumSHA1", "ChecksumSHA256", "ChecksumSHA512", "ChecksumType", "ChecksumXXHASH128",
    "ChecksumXXHASH3", "ChecksumXXHASH64", "ContentDisposition", "ContentEncoding", "ContentLanguage",
    "ContentType", "ExpectedBucketOwner", "Expires", "GrantFullControl", "GrantRead", "GrantReadACP",
    "GrantWriteACP", "Metadata", "MpuObjectSize", "ObjectLockLegalHoldStatus", "ObjectLockMode",
    "ObjectLockRetainUntilDate", "RequestPayer", "SSECustomerAlgorithm", "SSECustomerKey", "SSECustomerKeyMD5",
    "SSEKMSEncryptionContext", "SSEKMSKeyId", "ServerSideEncryption", "StorageClass", "Tagging",
    "WebsiteRedirectLocation",
})


def as_upload_extra_args(value: str) -> dict:
    """A JSON object whose keys are all S3 upload arguments (:data:`S3_UPLOAD_ARGS`), as MLflow requires."""
    parsed = as_json_object(value)
    unknown = sorted(set(parsed) - S3_UPLOAD_ARGS)
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise ValueError(f"{names}: not an S3 upload argument; the keys allowed are {', '.join(sorted(S3_UPLOAD_ARGS))}")
    return parsed


S3_CREDENTIALS = (
    Setting("AWS_ACCESS_KEY_ID", "key", secret=True, doc="passed explicitly so a changed key never reuses a cached client"),
    Setting("AWS_SECRET_ACCESS_KEY", "secret", secret=True),
    Setting("AWS_SESSION_TOKEN", "token", secret=True),
    Setting("AWS_PROFILE", "profile"),
)
S3_REGION = (Setting("AWS_DEFAULT_REGION", "client_kwargs.region_name"),)
S3_ENDPOINT = (Setting("MLFLOW_S3_ENDPOINT_URL", "endpoint_url", doc="r2/b2 URIs name their own endpoint"),)
S3_TRANSPORT = (
    Setting("AWS_CA_BUNDLE", "client_kwargs.verify", doc="CA bundle path for TLS verification"),
    Setting("MLFLOW_S3_IGNORE_TLS", "client_kwargs.verify", false_when_true, doc="true → no TLS verification (wins over AWS_CA_BUNDLE)"),
    Setting("MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION", "config_kwargs.signature_version", except_word("unsigned")),
    Setting("MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION", "anon", only_word("unsigned", True), doc="unsigned → anonymous requests (public buckets)"),
)
S3_ADDRESSING = (
    Setting("MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE", "config_kwargs.s3.addressing_style", one_of("auto", "virtual", "path"), doc="r2 is always virtual, b2 always path"),
)
S3_UPLOADS = (
    Setting("MLFLOW_S3_UPLOAD_EXTRA_ARGS", "s3_additional_kwargs", as_upload_extra_args, doc="JSON object; overrides the guessed Content-Type"),
    Setting("MLFLOW_S3_EXPECTED_BUCKET_OWNER", "s3_additional_kwargs.ExpectedBucketOwner", doc="sent on every request that accepts it"),
    Setting(TIMEOUT, "config_kwargs.connect_timeout", as_timeout),
    Setting(TIMEOUT, "config_kwargs.read_timeout", as_timeout),
    Setting(TIMEOUT, "config_kwargs.retries.max_attempts", constant(1), doc="with a timeout, a request that times out is not retried by botocore..."),
    Setting(TIMEOUT, "attr:retries", constant(1), doc="...nor by s3fs, so a stalled server fails the call after about that many seconds"),
)

# HDFS: hdfs-native (Rust RPC client, no JVM, no libhdfs.so) by default; pyarrow's
# HadoopFileSystem (libhdfs + a Hadoop install) with ARTIFACT_FS_HDFS_CLIENT=pyarrow.
# hdfs-native takes Hadoop configuration keys as keyword arguments (the "config" option,
# passed as dotted names) and reads its user and Kerberos ticket cache only from the
# process environment. MLFLOW_PYARROW_EXTRA_CONF comes first: a whole "config" dict set
# after the timeout row would replace its key.
HDFS_SETTINGS = (
    Setting("MLFLOW_PYARROW_EXTRA_CONF", "config", as_key_value_pairs, doc="`k=v,k2=v2`: Hadoop configuration keys (`fs.defaultFS=hdfs://nn:8020`)"),
    Setting("MLFLOW_KERBEROS_TICKET_CACHE", "env:KRB5CCNAME", doc="where hdfs-native's Kerberos (GSSAPI) finds the ticket cache"),
    Setting("MLFLOW_KERBEROS_USER", "env:HADOOP_USER_NAME", doc="the user HDFS sees (simple authentication; with Kerberos, the ticket's)"),
    Setting(TIMEOUT, "config.dfs.client.socket-timeout", as_millis_text, doc="DataNode connections, reads and writes"),
    Setting(TIMEOUT, "attr:call_timeout", as_timeout, doc="NameNode calls (list, mkdir, rename, delete) give up after it: hdfs-native has no RPC timeout"),
)
PYARROW_HDFS_SETTINGS = (
    Setting("MLFLOW_KERBEROS_TICKET_CACHE", "kerb_ticket"),
    Setting("MLFLOW_KERBEROS_USER", "user"),
    Setting("MLFLOW_PYARROW_EXTRA_CONF", "extra_conf", as_key_value_pairs, doc="`k=v,k2=v2`"),
)
def _no_retry(value: str):
    """0 retries when a timeout is set (``-1``, no timeout, sets nothing)."""
    return SKIP if as_timeout(value) is None else 0


# Both Azure schemes take the same credentials, in MLflow's order (connection string, then
# access key, then DefaultAzureCredential) with MLflow's ADLS variable (SAS) and adlfs's
# own names slotted in before DefaultAzureCredential. adlfs reads every AZURE_STORAGE_*
# variable itself (``value or os.getenv(...)``: no explicit empty value stops it), so each
# is a row here: visible in ``sources``, in fsspec's cache key, and ignored by adlfs once a
# row above it is set.
_CS, _ACCESS, _ACCOUNT_KEY, _SAS = (
    "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCESS_KEY", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN"
)
AZURE_SETTINGS = (
    Setting(_CS, "connection_string", secret=True, doc="checked first; its account and endpoint win over the URI's"),
    Setting(_ACCESS, "account_key", secret=True, unless=(_CS,), doc="MLflow's name for the account key"),
    Setting(_ACCOUNT_KEY, "account_key", secret=True, unless=(_CS, _ACCESS), doc="adlfs's name for the account key"),
    Setting(_SAS, "sas_token", secret=True, unless=(_CS, _ACCESS, _ACCOUNT_KEY), doc="MLflow's ADLS variable"),
    Setting("AZURE_STORAGE_CLIENT_ID", "client_id", unless=(_CS, _ACCESS, _ACCOUNT_KEY, _SAS), doc="adlfs's service principal, with the next two; none set: DefaultAzureCredential"),
    Setting("AZURE_STORAGE_CLIENT_SECRET", "client_secret", secret=True, unless=(_CS, _ACCESS, _ACCOUNT_KEY, _SAS)),
    Setting("AZURE_STORAGE_TENANT_ID", "tenant_id", unless=(_CS, _ACCESS, _ACCOUNT_KEY, _SAS)),
    Setting(TIMEOUT, "timeout", as_timeout, doc="server-side limit per upload/download request, as MLflow's"),
    Setting(TIMEOUT, "connection_timeout", as_timeout),
    Setting(TIMEOUT, "read_timeout", as_timeout, doc="client-side, per upload/download attempt (azure-core's default: 60 s)"),
    Setting(TIMEOUT, "upload:retry_read", _no_retry, doc="an upload that timed out is not retried, so a stalled server fails it after about that many seconds..."),
    Setting(TIMEOUT, "upload:retry_connect", _no_retry, doc="...(adlfs passes no per-call option to downloads: those still get azure-core's retries)"),
    Setting(TIMEOUT, "attr:call_timeout", as_timeout, doc="listings (info, ls, find) give up after it: adlfs gives them no timeout, azure-core waits 60 s per attempt, 4 attempts"),
)


#: Variables that identify who is calling. A profile that gives any of them replaces all of
#: the environment's (never one store's key with another's secret).
CREDENTIAL_VARIABLES = frozenset({
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
    _CS, _ACCESS, _ACCOUNT_KEY, _SAS, "AZURE_STORAGE_CLIENT_ID", "AZURE_STORAGE_CLIENT_SECRET",
    "AZURE_STORAGE_TENANT_ID", "GOOGLE_APPLICATION_CREDENTIALS",
})
#: Credential variables a storage client falls back to by itself when no option is given
#: (adlfs: ``value or os.getenv(...)``), so they cannot be masked by leaving an option out.
CLIENT_READ_CREDENTIALS = (
    _CS, _ACCOUNT_KEY, _SAS, "AZURE_STORAGE_CLIENT_ID", "AZURE_STORAGE_CLIENT_SECRET", "AZURE_STORAGE_TENANT_ID",
)


# artifact_fs's own transfer knobs, read for every scheme (after the row's own settings) into
# ``Resolved.transfer_options``, so a profile can set them per store too; not storage options.
RETRIES_VAR, VERIFY_VAR = "ARTIFACT_FS_RETRIES", "ARTIFACT_FS_VERIFY"
TRANSFER_SETTINGS = (
    Setting(RETRIES_VAR, "transfer:retries", as_non_negative_int, doc="the one retry budget: a transfer that failed on a dropped or refused connection is tried again this many times (default 2), files already verified in the store are skipped; a timeout is never retried; the SDKs' own retries are off where the client allows it"),
    Setting(VERIFY_VAR, "transfer:verify", one_of("size", "checksum", "full"), doc="after each upload and download: `size`; `checksum` (default) also compares the digest the store lists (S3 single-part ETag, GCS md5Hash, Azure Content-MD5); `full` also reads every upload back and compares SHA-256"),
)

# THE CONCURRENCY BUDGET: files in flight x parts in flight per file x bytes per part.
# Files in flight is one knob for every scheme (fsspec's ``batch_size``, or threads for sync
# clients); parts in flight is each client's own per-file knob, so each row names its
# option (``parts_in_flight(...)``); bytes per part are the rows' chunk/block sizes. The
# rows' defaults are what was measured fastest on a 2-core machine against local servers
# (benchmarks/README.md); a 64-core server on a long network path wants more of both.
FILES_VAR, PARTS_VAR = "ARTIFACT_FS_FILES_IN_FLIGHT", "ARTIFACT_FS_PARTS_IN_FLIGHT"
BUDGET_SETTINGS = (
    Setting(FILES_VAR, "upload:batch_size", as_positive_int, doc="files moved at once by one upload or download (default: the client's, fsspec's batch size 128 for async clients; 8 threads for HDFS, 1 for the local disk, 4 connections for FTP)"),
    Setting(FILES_VAR, "download:batch_size", as_positive_int),
)


def parts_in_flight(*options: str) -> tuple[Setting, ...]:
    """``ARTIFACT_FS_PARTS_IN_FLIGHT`` as the client's own options for parts of one file in flight."""
    return tuple(Setting(PARTS_VAR, option, as_positive_int, doc="parts (blocks, ranges) of one file moved at once" if not i else "") for i, option in enumerate(options))


#: Friendly profile keys and the setting (environment variable) each one stands for.
PROFILE_KEYS: Mapping[str, str] = {
    "endpoint_url": "MLFLOW_S3_ENDPOINT_URL",
    "region": "AWS_DEFAULT_REGION",
    "access_key_id": "AWS_ACCESS_KEY_ID",
    "secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "session_token": "AWS_SESSION_TOKEN",
    "credentials_profile": "AWS_PROFILE",
    "ca_bundle": "AWS_CA_BUNDLE",
    "ignore_tls": "MLFLOW_S3_IGNORE_TLS",
    "addressing_style": "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE",
    "signature_version": "MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION",
    "upload_extra_args": "MLFLOW_S3_UPLOAD_EXTRA_ARGS",
    "expected_bucket_owner": "MLFLOW_S3_EXPECTED_BUCKET_OWNER",
    "timeout": TIMEOUT,
    "upload_chunk_size": "MLFLOW_GCS_UPLOAD_CHUNK_SIZE",
    "download_chunk_size": "MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE",
    "service_account_file": "GOOGLE_APPLICATION_CREDENTIALS",
    "project": "GOOGLE_CLOUD_PROJECT",
    "connection_string": "AZURE_STORAGE_CONNECTION_STRING",
    "account_key": "AZURE_STORAGE_ACCESS_KEY",
    "sas_token": "AZURE_STORAGE_SAS_TOKEN",
    "client_id": "AZURE_STORAGE_CLIENT_ID",
    "client_secret": "AZURE_STORAGE_CLIENT_SECRET",
    "tenant_id": "AZURE_STORAGE_TENANT_ID",
    "known_hosts": "ARTIFACT_FS_SFTP_KNOWN_HOSTS",
    "kerberos_ticket_cache": "MLFLOW_KERBEROS_TICKET_CACHE",
    "kerberos_user": "MLFLOW_KERBEROS_USER",
    "hadoop_conf": "MLFLOW_PYARROW_EXTRA_CONF",
    "hdfs_client": "ARTIFACT_FS_HDFS_CLIENT",
    "retries": RETRIES_VAR,
    "verify": VERIFY_VAR,
    "files_in_flight": FILES_VAR,
    "parts_in_flight": PARTS_VAR,
}
