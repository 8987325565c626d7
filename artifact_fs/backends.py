"""THE TABLE: every MLflow artifact scheme, the fsspec filesystem behind it, and the
environment settings it reads. Adding a backend is adding a row here (plus an entry
point, a server fixture and a test subclass) — never a new repository class.

Rows are data. Settings are applied in order, so a later row for the same option wins
(``MLFLOW_S3_IGNORE_TLS`` after ``AWS_CA_BUNDLE``). A row whose variable is unset sets
nothing, so fsspec's own configuration still applies to every option left open.
"""

from __future__ import annotations

from ._table import (
    SKIP,
    Scheme,
    Setting,
    as_json_object,
    as_key_value_pairs,
    as_millis_text,
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


def _known_hosts(value: str):
    """A known_hosts file path; ``none`` turns host-key checking off (explicit opt-out)."""
    return None if value.strip().lower() in ("none", "off", "false", "0") else value.strip()


def _half_timeout(value: str):
    """Half the timeout, in seconds (``-1``: ``None``, no limit): SSH keepalives sent that
    often, with one allowed to go unanswered, declare a silent server dead after the timeout."""
    seconds = as_timeout(value)
    return None if seconds is None else seconds / 2


def _ftp_connection_lost(fs) -> bool:
    """True when an FTPFileSystem's control connection cannot serve another command: closed,
    timed out (ftplib's socket file refuses reads after a timeout), or holding unread bytes
    while idle (a server's ``421`` goodbye, or the late reply to a timed-out command).
    Looks at local state only; sends nothing."""
    import select

    ftp = fs.ftp
    socket_file = getattr(getattr(ftp.file, "buffer", None), "raw", None)  # text → buffered → SocketIO
    if ftp.sock is None or getattr(socket_file, "_timeout_occurred", False):
        return True
    return bool(select.select([ftp.sock], [], [], 0)[0])


_S3_CREDENTIALS = (
    Setting("AWS_ACCESS_KEY_ID", "key", secret=True, doc="passed explicitly so a changed key never reuses a cached client"),
    Setting("AWS_SECRET_ACCESS_KEY", "secret", secret=True),
    Setting("AWS_SESSION_TOKEN", "token", secret=True),
    Setting("AWS_PROFILE", "profile"),
)
_S3_REGION = (Setting("AWS_DEFAULT_REGION", "client_kwargs.region_name"),)
_S3_ENDPOINT = (Setting("MLFLOW_S3_ENDPOINT_URL", "endpoint_url", doc="r2/b2 URIs name their own endpoint"),)
_S3_TRANSPORT = (
    Setting("AWS_CA_BUNDLE", "client_kwargs.verify", doc="CA bundle path for TLS verification"),
    Setting("MLFLOW_S3_IGNORE_TLS", "client_kwargs.verify", false_when_true, doc="true → no TLS verification (wins over AWS_CA_BUNDLE)"),
    Setting("MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION", "config_kwargs.signature_version", except_word("unsigned")),
    Setting("MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION", "anon", only_word("unsigned", True), doc="unsigned → anonymous requests (public buckets)"),
)
_S3_ADDRESSING = (
    Setting("MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE", "config_kwargs.s3.addressing_style", one_of("auto", "virtual", "path"), doc="r2 is always virtual, b2 always path"),
)
_S3_UPLOADS = (
    Setting("MLFLOW_S3_UPLOAD_EXTRA_ARGS", "s3_additional_kwargs", as_json_object, doc="JSON object; overrides the guessed Content-Type"),
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
_HDFS_SETTINGS = (
    Setting("MLFLOW_PYARROW_EXTRA_CONF", "config", as_key_value_pairs, doc="`k=v,k2=v2`: Hadoop configuration keys (`fs.defaultFS=hdfs://nn:8020`)"),
    Setting("MLFLOW_KERBEROS_TICKET_CACHE", "env:KRB5CCNAME", doc="where hdfs-native's Kerberos (GSSAPI) finds the ticket cache"),
    Setting("MLFLOW_KERBEROS_USER", "env:HADOOP_USER_NAME", doc="the user HDFS sees (simple authentication; with Kerberos, the ticket's)"),
    Setting(TIMEOUT, "config.dfs.client.socket-timeout", as_millis_text, doc="DataNode connections, reads and writes"),
    Setting(TIMEOUT, "attr:call_timeout", as_timeout, doc="NameNode calls (list, mkdir, rename, delete) give up after it: hdfs-native has no RPC timeout"),
)
_PYARROW_HDFS_SETTINGS = (
    Setting("MLFLOW_KERBEROS_TICKET_CACHE", "kerb_ticket"),
    Setting("MLFLOW_KERBEROS_USER", "user"),
    Setting("MLFLOW_PYARROW_EXTRA_CONF", "extra_conf", as_key_value_pairs, doc="`k=v,k2=v2`"),
)
_HDFS_COMMON = dict(
    mlflow_builtin="mlflow.store.artifact.hdfs_artifact_repo:HdfsArtifactRepository",
    real_directories=True,
    atomic_rename=True,
)
_HDFS_NATIVE = dict(
    grammar="namenode_url",
    extra="hdfs",
    settings=_HDFS_SETTINGS,
    conf_option="config",
    # A new client for every repository: hdfs-native reads HADOOP_CONF_DIR (fs.defaultFS,
    # viewfs mount tables), HADOOP_USER_NAME and KRB5CCNAME when a client is built, which
    # fsspec's instance cache (keyed on the arguments) cannot see.
    defaults={"skip_instance_cache": True},
    rename_options={"overwrite": True},  # HDFS rename with OVERWRITE: an existing artifact is replaced atomically
    bounded_calls=("info", "exists", "isdir", "isfile", "ls", "find", "mkdir", "makedirs", "mv", "rm", "rm_file"),
    path_refuses="#?;",  # hdfs-native's fsspec class parses paths as URLs: these would cut a path short
    variant="hdfs-native",
    variant_var="ARTIFACT_FS_HDFS_CLIENT",
    **_HDFS_COMMON,
)
_PYARROW_HDFS = dict(
    protocol="hdfs",
    grammar="namenode",
    impl="fsspec.implementations.arrow.HadoopFileSystem",
    extra="hdfs-pyarrow",
    settings=_PYARROW_HDFS_SETTINGS,
    variant="pyarrow",
    **_HDFS_COMMON,
)
_HDFS_FORM = "`hdfs:/<path>`, `hdfs:///<path>`, `hdfs://<namenode>[:port]/<path>`"
_VIEWFS_FORM = "`viewfs://<cluster>/<path>`"

NO_LISTINGS_CACHE = {"use_listings_cache": False}  # listings must see other writers at once

_S3_COMMON = dict(
    protocol="s3",
    impl="s3fs.S3FileSystem",
    extra="s3",
    content_headers=("ContentType", "ContentEncoding"),
    upload_extra_option="s3_additional_kwargs",
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
_AZURE_SETTINGS = (
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

_AZURE_COMMON = dict(
    protocol="abfs",
    impl="adlfs.AzureBlobFileSystem",
    extra="azure",
    settings=_AZURE_SETTINGS,
    # anon=False: adlfs would read AZURE_STORAGE_ANON. No instance cache: with no credential
    # variable adlfs builds a DefaultAzureCredential, which reads its own environment
    # (AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, ...) once; a new repository must see a new one.
    defaults={"anon": False, "skip_instance_cache": True, **NO_LISTINGS_CACHE},
    content_headers=("content_settings.content_type", "content_settings.content_encoding"),
    bounded_calls=("info", "exists", "isdir", "isfile", "ls", "find"),  # not rm: a bulk delete may take long
)

SCHEMES: tuple[Scheme, ...] = (
    Scheme(
        name="",
        protocol="file",
        grammar="local",
        impl="fsspec.implementations.local.LocalFileSystem",
        defaults={"auto_mkdir": True},
        mlflow_builtin="mlflow.store.artifact.local_artifact_repo:LocalArtifactRepository",
        form="`/abs/path`, `rel/path`, `C:\\path` (Windows)",
        local=True,
        real_directories=True,
        atomic_rename=True,
    ),
    Scheme(
        name="abfss",
        grammar="azure",
        host_pattern=r"(?P<container>[^@]+)@(?P<account>[^.]+)\.(?P<suffix>.+)",
        unquote_path=True,
        mlflow_builtin="mlflow.store.artifact.azure_data_lake_artifact_repo:AzureDataLakeArtifactRepository",
        form="`abfss://<filesystem>@<account>.dfs.core.windows.net[/<path>]` (any suffix)",
        **_AZURE_COMMON,
    ),
    Scheme(
        name="b2",
        grammar="bucket_at_endpoint",
        settings=_S3_CREDENTIALS + _S3_TRANSPORT + _S3_UPLOADS,
        host_pattern=r"(?P<bucket>[^@]+)@(?P<endpoint>s3\.(?P<region>[^.]+)\.backblazeb2\.com)",
        host_options={"region": "client_kwargs.region_name"},
        fixed={"config_kwargs": {"s3": {"addressing_style": "path"}}},
        defaults=NO_LISTINGS_CACHE,
        mlflow_builtin="mlflow.store.artifact.b2_artifact_repo:B2ArtifactRepository",
        form="`b2://<bucket>@s3.<region>.backblazeb2.com[/<path>]`",
        **_S3_COMMON,
    ),
    Scheme(
        name="file",
        protocol="file",
        grammar="local",
        impl="fsspec.implementations.local.LocalFileSystem",
        defaults={"auto_mkdir": True},
        mlflow_builtin="mlflow.store.artifact.local_artifact_repo:LocalArtifactRepository",
        form="`file:///abs/path`, `file:rel/path`",
        local=True,
        real_directories=True,
        atomic_rename=True,
    ),
    Scheme(
        name="ftp",
        protocol="ftp",
        grammar="userinfo_host",
        impl="fsspec.implementations.ftp.FTPFileSystem",
        settings=(Setting(TIMEOUT, "timeout", as_timeout),),
        defaults=NO_LISTINGS_CACHE,
        mlflow_builtin="mlflow.store.artifact.ftp_artifact_repo:FTPArtifactRepository",
        form="`ftp://[user[:password]@]host[:port][/path]`",
        real_directories=True,
        atomic_rename=True,
        thread_safe=False,  # one ftplib control connection per filesystem
        ls_file_as_child=True,  # fsspec's FTP ls() of a file falls back to LIST: "/d/f" → "/d/f/f"
        connection_probe=_ftp_connection_lost,  # fsspec's FTP never reconnects by itself
        secret_uri_options=("password",),
    ),
    Scheme(
        name="gs",
        protocol="gcs",
        grammar="bucket",
        # gcsfs.core's class, not the package's default: with GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT
        # unset, `gcsfs.GCSFileSystem` is the experimental ExtendedGcsFileSystem, which asks
        # the Storage Control gRPC API for every bucket's layout (a 60 s stall per call on an
        # emulator, not cached on failure); MLflow's own GCS repository uses the JSON API only.
        impl="gcsfs.core.GCSFileSystem",
        extra="gcs",
        settings=(
            Setting("GOOGLE_APPLICATION_CREDENTIALS", "token", doc="service-account JSON path"),
            Setting("GOOGLE_CLOUD_PROJECT", "project"),
            Setting("STORAGE_EMULATOR_HOST", "endpoint_url"),
            Setting(
                "STORAGE_EMULATOR_HOST", "token", constant("anon"), unless=("GOOGLE_APPLICATION_CREDENTIALS",),
                doc="an emulator means anonymous requests, as google-cloud-storage does",
            ),
            Setting("MLFLOW_GCS_DEFAULT_TIMEOUT", "requests_timeout", as_timeout, doc="deprecated; -1 = no timeout"),
            Setting(TIMEOUT, "requests_timeout", as_timeout, doc="-1 = no timeout; gcsfs applies it to each HTTP request as a whole, and does not retry one that timed out"),
            Setting("MLFLOW_GCS_UPLOAD_CHUNK_SIZE", "upload:chunksize", GCS_CHUNK, doc="bytes, multiple of 256 KiB"),
            Setting("MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE", "download:chunk_size", GCS_CHUNK, doc="bytes, multiple of 256 KiB"),
        ),
        defaults=NO_LISTINGS_CACHE,
        mlflow_builtin="mlflow.store.artifact.gcs_artifact_repo:GCSArtifactRepository",
        form="`gs://<bucket>[/<path>]`",
        # Content-Type only, as MLflow's GCS repository: with Content-Encoding gzip, GCS and
        # aiohttp would hand a .tar.gz artifact back decompressed.
        content_headers=("content_type",),
    ),
    Scheme(
        name="hdfs",
        protocol="hdfs",
        impl="hdfs_native.fsspec.HdfsFileSystem",
        form=_HDFS_FORM,
        alternatives={"pyarrow": Scheme(name="hdfs", form=_HDFS_FORM, **_PYARROW_HDFS)},
        **_HDFS_NATIVE,
    ),
    Scheme(
        name="memory",
        protocol="memory",
        grammar="fsspec",
        impl="fsspec.implementations.memory.MemoryFileSystem",
        form="`memory://<path>` (fsspec's in-process store; not an MLflow scheme)",
        real_directories=True,
    ),
    Scheme(
        name="r2",
        grammar="bucket_at_endpoint",
        settings=_S3_CREDENTIALS + _S3_REGION + _S3_TRANSPORT + _S3_UPLOADS,
        host_pattern=r"(?P<bucket>[^@]+)@(?P<endpoint>[^@/]+)",
        fixed={"config_kwargs": {"s3": {"addressing_style": "virtual"}}},
        defaults={"client_kwargs": {"region_name": "auto"}, "fixed_upload_size": True, **NO_LISTINGS_CACHE},
        mlflow_builtin="mlflow.store.artifact.r2_artifact_repo:R2ArtifactRepository",
        form="`r2://<bucket>@<account-id>.r2.cloudflarestorage.com[/<path>]`",
        **_S3_COMMON,
    ),
    Scheme(
        name="s3",
        grammar="bucket",
        settings=_S3_CREDENTIALS + _S3_REGION + _S3_ENDPOINT + _S3_TRANSPORT + _S3_ADDRESSING + _S3_UPLOADS,
        defaults=NO_LISTINGS_CACHE,
        mlflow_builtin="mlflow.store.artifact.s3_artifact_repo:S3ArtifactRepository",
        form="`s3://<bucket>[/<path>]`",
        **_S3_COMMON,
    ),
    Scheme(
        name="sftp",
        protocol="sftp",
        grammar="userinfo_host",
        impl="sshfs.SSHFileSystem",
        extra="sftp",
        settings=(
            Setting("ARTIFACT_FS_SFTP_KNOWN_HOSTS", "known_hosts", _known_hosts, doc="known_hosts path; `none` turns host-key checks off"),
            Setting(TIMEOUT, "connect_timeout", as_timeout, doc="default 30 s; -1 = no timeout"),
            Setting(TIMEOUT, "keepalive_interval", _half_timeout, doc="half the timeout, with `keepalive_count_max=1`: a server silent for the timeout drops the connection (default 30 s)"),
        ),
        # known_hosts=(): asyncssh's default, check ~/.ssh/known_hosts. The timeouts bound a
        # hung server (asyncssh has none by default); they win over ~/.ssh/config's
        # ConnectTimeout / ServerAlive*, while its HostName, User, Port, IdentityFile apply.
        defaults={"known_hosts": (), "connect_timeout": 30, "keepalive_interval": 15, "keepalive_count_max": 1},
        connection_probe="client.is_closed",  # sshfs never reconnects by itself
        mlflow_builtin="mlflow.store.artifact.sftp_artifact_repo:SFTPArtifactRepository",
        form="`sftp://[user[:password]@]host[:port][/path]`",
        real_directories=True,
        atomic_rename=True,
        secret_uri_options=("password",),
    ),
    Scheme(
        name="viewfs",
        protocol="viewfs",
        impl="hdfs_native.fsspec.ViewfsFileSystem",
        form=_VIEWFS_FORM,
        alternatives={"pyarrow": Scheme(name="viewfs", form=_VIEWFS_FORM, **_PYARROW_HDFS)},
        **_HDFS_NATIVE,
    ),
    Scheme(
        name="wasbs",
        grammar="azure",
        host_pattern=r"(?P<container>[^@]+)@(?P<account>[^.]+)\.(?P<suffix>blob\.core\.(windows\.net|chinacloudapi\.cn|usgovcloudapi\.net))",
        mlflow_builtin="mlflow.store.artifact.azure_blob_artifact_repo:AzureBlobArtifactRepository",
        form="`wasbs://<container>@<account>.blob.core.windows.net[/<path>]` (also `.chinacloudapi.cn`, `.usgovcloudapi.net`)",
        **_AZURE_COMMON,
    ),
)

#: Schemes the escape-hatch variable may hand back to MLflow, and the variable itself.
BUILTIN_SCHEMES_VAR = "ARTIFACT_FS_BUILTIN_SCHEMES"

#: Options a URI's own text may carry that are secrets, whatever the scheme.
SECRET_OPTION_NAMES = frozenset(
    {"key", "secret", "token", "password", "account_key", "connection_string", "sas_token", "client_secret"}
)

BY_NAME = {row.name: row for row in SCHEMES}


def scheme_row(name: str) -> Scheme | None:
    """The table row for an MLflow scheme name (``""`` for plain paths), or None."""
    return BY_NAME.get(name)


__all__ = ["BUILTIN_SCHEMES_VAR", "SCHEMES", "SECRET_OPTION_NAMES", "TIMEOUT", "scheme_row"]
