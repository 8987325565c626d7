"""THE TABLE: every MLflow artifact scheme, the fsspec filesystem behind it, and the
environment settings it reads. Adding a backend is adding a row here (plus an entry
point, a server fixture and a test subclass) — never a new repository class.

Rows are data. Settings are applied in order, so a later row for the same option wins
(``MLFLOW_S3_IGNORE_TLS`` after ``AWS_CA_BUNDLE``). A row whose variable is unset sets
nothing, so fsspec's own configuration still applies to every option left open.
"""

from __future__ import annotations

from ._table import (
    Scheme,
    Setting,
    as_json_object,
    as_key_value_pairs,
    as_timeout,
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
)

_HDFS_SETTINGS = (
    Setting("MLFLOW_KERBEROS_TICKET_CACHE", "kerb_ticket"),
    Setting("MLFLOW_KERBEROS_USER", "user"),
    Setting("MLFLOW_PYARROW_EXTRA_CONF", "extra_conf", as_key_value_pairs, doc="`k=v,k2=v2`"),
)

NO_LISTINGS_CACHE = {"use_listings_cache": False}  # listings must see other writers at once

_S3_COMMON = dict(
    protocol="s3",
    impl="s3fs.S3FileSystem",
    extra="s3",
    content_headers=("ContentType", "ContentEncoding"),
    upload_extra_option="s3_additional_kwargs",
)

_AZURE_COMMON = dict(
    protocol="abfs", impl="adlfs.AzureBlobFileSystem", extra="azure", defaults={"anon": False, **NO_LISTINGS_CACHE}
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
        settings=(
            Setting("AZURE_STORAGE_SAS_TOKEN", "sas_token", secret=True),
            Setting(TIMEOUT, "timeout", as_timeout),
        ),
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
        mlflow_builtin="mlflow.store.artifact.ftp_artifact_repo:FTPArtifactRepository",
        form="`ftp://[user[:password]@]host[:port][/path]`",
        real_directories=True,
        atomic_rename=True,
        secret_uri_options=("password",),
    ),
    Scheme(
        name="gs",
        protocol="gcs",
        grammar="bucket",
        impl="gcsfs.GCSFileSystem",
        extra="gcs",
        settings=(
            Setting("GOOGLE_APPLICATION_CREDENTIALS", "token", doc="service-account JSON path"),
            Setting("GOOGLE_CLOUD_PROJECT", "project"),
            Setting("STORAGE_EMULATOR_HOST", "endpoint_url"),
            Setting("MLFLOW_GCS_DEFAULT_TIMEOUT", "requests_timeout", as_timeout, doc="deprecated; -1 = no timeout"),
            Setting(TIMEOUT, "requests_timeout", as_timeout, doc="-1 = no timeout"),
            Setting("MLFLOW_GCS_UPLOAD_CHUNK_SIZE", "upload:chunksize", GCS_CHUNK, doc="bytes, multiple of 256 KiB"),
            Setting("MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE", "download:chunk_size", GCS_CHUNK, doc="bytes, multiple of 256 KiB"),
        ),
        defaults=NO_LISTINGS_CACHE,
        mlflow_builtin="mlflow.store.artifact.gcs_artifact_repo:GCSArtifactRepository",
        form="`gs://<bucket>[/<path>]`",
        content_headers=("content_type", "content_encoding"),
    ),
    Scheme(
        name="hdfs",
        protocol="hdfs",
        grammar="namenode",
        impl="fsspec.implementations.arrow.HadoopFileSystem",
        extra="hdfs",
        settings=_HDFS_SETTINGS,
        mlflow_builtin="mlflow.store.artifact.hdfs_artifact_repo:HdfsArtifactRepository",
        form="`hdfs:/<path>`, `hdfs:///<path>`, `hdfs://<namenode>[:port]/<path>`",
        real_directories=True,
        atomic_rename=True,
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
            Setting(TIMEOUT, "connect_timeout", as_timeout),
        ),
        defaults={"known_hosts": ()},  # asyncssh's default: check ~/.ssh/known_hosts
        mlflow_builtin="mlflow.store.artifact.sftp_artifact_repo:SFTPArtifactRepository",
        form="`sftp://[user[:password]@]host[:port][/path]`",
        real_directories=True,
        atomic_rename=True,
        secret_uri_options=("password",),
    ),
    Scheme(
        name="viewfs",
        protocol="hdfs",
        grammar="namenode",
        impl="fsspec.implementations.arrow.HadoopFileSystem",
        extra="hdfs",
        settings=_HDFS_SETTINGS,
        mlflow_builtin="mlflow.store.artifact.hdfs_artifact_repo:HdfsArtifactRepository",
        form="`viewfs://<cluster>/<path>`",
        real_directories=True,
        atomic_rename=True,
    ),
    Scheme(
        name="wasbs",
        grammar="azure",
        host_pattern=r"(?P<container>[^@]+)@(?P<account>[^.]+)\.(?P<suffix>blob\.core\.(windows\.net|chinacloudapi\.cn|usgovcloudapi\.net))",
        settings=(
            Setting("AZURE_STORAGE_CONNECTION_STRING", "connection_string", secret=True, doc="checked first"),
            Setting("AZURE_STORAGE_ACCESS_KEY", "account_key", secret=True, unless=("AZURE_STORAGE_CONNECTION_STRING",), doc="used when no connection string; else DefaultAzureCredential"),
            Setting(TIMEOUT, "timeout", as_timeout),
        ),
        mlflow_builtin="mlflow.store.artifact.azure_blob_artifact_repo:AzureBlobArtifactRepository",
        form="`wasbs://<container>@<account>.blob.core.windows.net[/<path>]` (also `.chinacloudapi.cn`, `.usgovcloudapi.net`)",
        content_headers=None,
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
