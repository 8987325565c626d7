"""THE TABLE: every MLflow artifact scheme, the fsspec filesystem behind it, and the
environment settings it reads (the settings groups live in :mod:`artifact_fs.settings_table`).
Adding a backend is adding a row here (plus an entry point, a server fixture and a test
subclass) — never a new repository class.
"""

from __future__ import annotations

import functools

from . import client_hooks
from ._table import Scheme, Setting, StoreChecksum, as_timeout, constant
from .settings_table import (
    AZURE_SETTINGS,
    HDFS_SETTINGS,
    PYARROW_HDFS_SETTINGS,
    S3_ADDRESSING,
    S3_CREDENTIALS,
    S3_ENDPOINT,
    S3_REGION,
    S3_TRANSPORT,
    S3_UPLOADS,
    GCS_CHUNK,
    TIMEOUT,
    half_timeout,
    known_hosts_file,
    parts_in_flight,
)


_HDFS_COMMON = dict(
    mlflow_builtin="mlflow.store.artifact.hdfs_artifact_repo:HdfsArtifactRepository",
    real_directories=True,
    atomic_rename=True,
)
_HDFS_NATIVE = dict(
    grammar="namenode_url",
    extra="hdfs",
    settings=HDFS_SETTINGS,
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
    settings=PYARROW_HDFS_SETTINGS,
    variant="pyarrow",
    **_HDFS_COMMON,
)
_HDFS_FORM = "`hdfs:/<path>`, `hdfs:///<path>`, `hdfs://<namenode>[:port]/<path>`"
_VIEWFS_FORM = "`viewfs://<cluster>/<path>`"

NO_LISTINGS_CACHE = {"use_listings_cache": False}  # listings must see other writers at once
FTP_CONNECTIONS = 4  # control connections of one many-file FTP transfer
# s3fs moves big files in parts of its block size (50 MiB) with 10 in flight, buffering
# them all: 8 MiB parts (boto3's TransferManager default) keep memory flat as files grow.
# Uploads keep 4 parts in flight in a sliding window (client_hooks.s3_parts_in_a_sliding_window;
# s3fs's own waves idle at every wave's tail): 1 GiB to SeaweedFS 8.7 s vs 12.9 s with 1,
# 8 no faster, ~12 MiB RSS per part. Downloads take one streamed GET: s3fs reads each
# concurrent range whole into memory on its one event-loop thread, so on 2 cores 1 stream
# beat 2, 4 and 10 (256 MiB: 0.7 s vs 1.6-1.9 s, +29 MiB vs +230 MiB RSS).
S3_PARTS = {"upload:chunksize": 8 * 2**20, "download:chunksize": 8 * 2**20,
            "upload:max_concurrency": 4, "download:max_concurrency": 1}
S3_PARTS_IN_FLIGHT = parts_in_flight("upload:max_concurrency", "download:max_concurrency")


#: The MLflow mixins a store honours by handing clients signed URLs (multipart upload with
#: part URLs, presigned GET with the size, presigned PUT); which credentials make that
#: possible is the presigner's business (artifact_fs/presign.py). Every row also honours
#: StreamUploadMixin, which needs no signing.
PRESIGNED_MIXINS = ("MultipartUploadMixin", "MultipartDownloadMixin", "PresignedUploadMixin")


#: One retry layer (artifact_fs's budget, ARTIFACT_FS_RETRIES): botocore makes one attempt per
#: request and s3fs's own retry loop one too, instead of botocore's 5 x s3fs's 5.
S3_ONE_ATTEMPT = {"config_kwargs": {"retries": {"total_max_attempts": 1}}, "attr:retries": 1}


_S3_COMMON = dict(
    protocol="s3",
    checksum=StoreChecksum("ETag", "md5", "hex", composite="-", is_plain_digest=client_hooks.s3_etag_is_md5),
    presigner="s3",
    presigned_mixins=PRESIGNED_MIXINS,
    impl="s3fs.S3FileSystem",
    extra="s3",
    content_headers=("ContentType", "ContentEncoding"),
    upload_extra_option="s3_additional_kwargs",
    prepare=client_hooks.s3_client_setup,
    abort_stale_uploads=client_hooks.s3_abort_stale_uploads,
)


#: The SDK's transfer sizes (adlfs passes no option for them; set on its client by the
#: rows' ``prepare``). One PUT only up to 16 MiB: the SDK's 64 MiB is read whole and copied
#: (a 64 MiB upload +188 MiB RSS and 0.54 s on Azurite; in 4 MiB blocks +25 MiB and 0.26 s);
#: larger blobs list no Content-MD5 and are verified by size. Downloads in 8 MiB GETs: the
#: SDK's first GET is 32 MiB held whole, then 4 MiB ranges (256 MiB 1.35 s / +66 MiB ->
#: 0.96 s / +39 MiB, the raw SDK with 8 MiB ranges 0.95 s; 4 MiB for both: +24 MiB, 1.2 s).
AZURE_SDK_SIZES = {"max_single_put_size": 16 * 2**20, "max_single_get_size": 8 * 2**20, "max_chunk_get_size": 8 * 2**20}


_AZURE_COMMON = dict(
    protocol="abfs",
    checksum=StoreChecksum("content_settings.content_md5", "md5", "bytes"),  # set when the blob has one
    prepare=functools.partial(client_hooks.azure_client_setup, sdk_sizes=AZURE_SDK_SIZES),
    presigner="azure_blob",  # SAS from an account key; adlfs talks to the blob endpoint for abfss too
    presigned_mixins=PRESIGNED_MIXINS,
    impl="adlfs.AzureBlobFileSystem",
    extra="azure",
    settings=AZURE_SETTINGS + parts_in_flight("upload:max_concurrency", "download:max_concurrency"),
    # anon=False: adlfs would read AZURE_STORAGE_ANON. No instance cache: with no credential
    # variable adlfs builds a DefaultAzureCredential, which reads its own environment
    # (AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, ...) once; a new repository must see a new one.
    # 4 blocks of one blob in flight (adlfs's batched put/get would send 1 at a time): 256 MiB
    # on Azurite up 1.5 s vs 2.0 s, down 1.6 s vs 2.8 s, RSS as with 1.
    defaults={"anon": False, "skip_instance_cache": True, **NO_LISTINGS_CACHE,
              "upload:max_concurrency": 4, "download:max_concurrency": 4},
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
        sync_threads=1,  # copying a small file costs less than handing it to a thread
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
        settings=S3_CREDENTIALS + S3_TRANSPORT + S3_UPLOADS + S3_PARTS_IN_FLIGHT,
        host_pattern=r"(?P<bucket>[^@]+)@(?P<endpoint>s3\.(?P<region>[^.]+)\.backblazeb2\.com)",
        host_options={"region": "client_kwargs.region_name"},
        fixed={"config_kwargs": {"s3": {"addressing_style": "path"}}},
        defaults={**NO_LISTINGS_CACHE, **S3_PARTS, **S3_ONE_ATTEMPT},
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
        sync_threads=1,  # copying a small file costs less than handing it to a thread
    ),
    Scheme(
        name="ftp",
        protocol="ftp",
        grammar="userinfo_host",
        impl="fsspec.implementations.ftp.FTPFileSystem",
        settings=(Setting(TIMEOUT, "timeout", as_timeout),),
        # 4 control connections for many-file transfers (one ftplib connection per thread:
        # the client must not be shared). A file is one streamed STOR or RETR (``prepare``), its
        # parents made once per upload, not checked (one listing each) before every file, and
        # made by MKD first, no listings, a concurrent creator's directory taken as made.
        defaults={**NO_LISTINGS_CACHE, "upload:connections": FTP_CONNECTIONS,
                  "download:connections": FTP_CONNECTIONS, "upload:parents_exist": True},
        prepare=client_hooks.ftp_client_setup,
        mlflow_builtin="mlflow.store.artifact.ftp_artifact_repo:FTPArtifactRepository",
        form="`ftp://[user[:password]@]host[:port][/path]`",
        real_directories=True,
        atomic_rename=True,
        thread_safe=False,  # one ftplib control connection per filesystem
        ls_file_as_child=True,  # fsspec's FTP ls() of a file falls back to LIST: "/d/f" → "/d/f/f"
        connection_probe=client_hooks.ftp_connection_lost,  # fsspec's FTP never reconnects by itself
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
            Setting("MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE", "download:chunk_size", GCS_CHUNK, doc="bytes, multiple of 256 KiB; the size of each ranged read when more than one part is in flight"),
            *parts_in_flight("download:concurrency"),  # gcsfs uploads one chunk at a time: no knob
        ),
        # One streamed GET per file: gcsfs's concurrent ranged reads (files over 100 MB) join
        # every range in memory; 256 MiB on fake-gcs-server 1.1 s / +42 MiB vs 1.8 s / +240 MiB.
        defaults={**NO_LISTINGS_CACHE, "download:concurrency": 1},
        mlflow_builtin="mlflow.store.artifact.gcs_artifact_repo:GCSArtifactRepository",
        form="`gs://<bucket>[/<path>]`",
        # Content-Type only, as MLflow's GCS repository: with Content-Encoding gzip, GCS and
        # aiohttp would hand a .tar.gz artifact back decompressed.
        content_headers=("content_type",),
        checksum=StoreChecksum("md5Hash", "md5", "base64"),
        client_retries=True,  # gcsfs retries each request 6 times, fixed when gcsfs is imported
        presigner="gcs",  # V4 signed URLs need a service-account key
        presigned_mixins=("MultipartDownloadMixin", "PresignedUploadMixin"),  # no XML multipart API (see presign_gcs.py)
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
        settings=S3_CREDENTIALS + S3_REGION + S3_TRANSPORT + S3_UPLOADS + S3_PARTS_IN_FLIGHT,
        host_pattern=r"(?P<bucket>[^@]+)@(?P<endpoint>[^@/]+)",
        fixed={"config_kwargs": {"s3": {"addressing_style": "virtual"}}},
        defaults={"client_kwargs": {"region_name": "auto"}, "fixed_upload_size": True, **NO_LISTINGS_CACHE, **S3_PARTS, **S3_ONE_ATTEMPT},
        mlflow_builtin="mlflow.store.artifact.r2_artifact_repo:R2ArtifactRepository",
        form="`r2://<bucket>@<account-id>.r2.cloudflarestorage.com[/<path>]`",
        **_S3_COMMON,
    ),
    Scheme(
        name="s3",
        grammar="bucket",
        settings=S3_CREDENTIALS + S3_REGION + S3_ENDPOINT + S3_TRANSPORT + S3_ADDRESSING + S3_UPLOADS + S3_PARTS_IN_FLIGHT,
        defaults={**NO_LISTINGS_CACHE, **S3_PARTS, **S3_ONE_ATTEMPT},
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
            Setting("ARTIFACT_FS_SFTP_KNOWN_HOSTS", "known_hosts", known_hosts_file, doc="known_hosts path; `none` turns host-key checks off"),
            Setting(TIMEOUT, "connect_timeout", as_timeout, doc="default 30 s; -1 = no timeout"),
            Setting(TIMEOUT, "keepalive_interval", half_timeout, doc="half the timeout, with `keepalive_count_max=1`: a server silent for the timeout drops the connection (default 30 s)"),
        ),
        # known_hosts=(): asyncssh's default, check ~/.ssh/known_hosts. The timeouts bound a
        # hung server (asyncssh has none by default); they win over ~/.ssh/config's
        # ConnectTimeout / ServerAlive*, while its HostName, User, Port, IdentityFile apply.
        defaults={"known_hosts": (), "connect_timeout": 30, "keepalive_interval": 15, "keepalive_count_max": 1,
                  "upload:parents_exist": True, "download:block_size": -1},
        # download:block_size=-1: asyncssh's own read size (the server's maximum, 255 KiB on
        # OpenSSH) instead of sshfs's 48 KiB: a quarter of the round trips for big files.
        prepare=client_hooks.sftp_put_skipping_made_parents,
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
    {"key", "secret", "token", "password", "account_key", "connection_string", "sas_token", "client_secret", "SSECustomerKey"}
)

BY_NAME = {row.name: row for row in SCHEMES}


def scheme_row(name: str) -> Scheme | None:
    """The table row for an MLflow scheme name (``""`` for plain paths), or None."""
    return BY_NAME.get(name)


__all__ = ["BUILTIN_SCHEMES_VAR", "SCHEMES", "SECRET_OPTION_NAMES", "TIMEOUT", "scheme_row"]
