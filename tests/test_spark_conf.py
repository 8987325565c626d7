"""``spark_conf`` / ``artifact-fs resolve --format spark``: every scheme row mapped to Hadoop
settings or refused with a reason, every setting of the table carried, noted or refused (never
dropped silently), secrets written as ``${env.NAME}`` unless asked for, and the CLI around it.
Pure: resolving does no I/O, and no server is needed (the runs:/ case uses a SQLite tracking store)."""

from __future__ import annotations

import doctest
import json
import os
import subprocess
import sys

import pytest

import artifact_fs
from artifact_fs import cli, resolve, spark
from artifact_fs.backends import SCHEMES
from artifact_fs.settings import BUDGET_SETTINGS, TRANSFER_SETTINGS
from artifact_fs.spark import FAMILIES, REFUSED, settings_for, spark_conf

SCRIPT = os.path.join(os.path.dirname(sys.executable), "artifact-fs")
P = "spark.hadoop."

#: one URI per scheme row (a new row must be added here, and to spark.FAMILIES or spark.REFUSED)
SAMPLE_URI = {
    "": "/tmp/artifact-root/run",
    "file": "file:///tmp/artifact-root/run",
    "abfss": "abfss://fs@acct.dfs.core.windows.net/p/q",
    "b2": "b2://bkt@s3.eu-central-003.backblazeb2.com/p/q",
    "ftp": "ftp://ftp.example.com:2121/p/q",
    "gs": "gs://bkt/p/q",
    "hdfs": "hdfs://nn:8020/p/q",
    "memory": "memory://m/p",
    "mlflow-artifacts": "mlflow-artifacts:/0/r/artifacts",
    "http": "http://h:5000/api/2.0/mlflow-artifacts/artifacts/0/r",
    "https": "https://h/api/2.0/mlflow-artifacts/artifacts/0/r",
    "r2": "r2://bkt@acct.r2.cloudflarestorage.com/p/q",
    "s3": "s3://bkt/p/q",
    "sftp": "sftp://alice@sftp.example.com:2222/p/q",
    "viewfs": "viewfs://cluster/p/q",
    "wasbs": "wasbs://c@acct.blob.core.windows.net/p/q",
}
#: what each row needs to be mapped at all (SFTP: the explicit opt-out of host-key checks)
BASE_ENV = {"sftp": {"ARTIFACT_FS_SFTP_KNOWN_HOSTS": "none"}}

#: a valid value for every variable the settings table reads (several for one that switches rows)
SAMPLES = {
    "MLFLOW_TRACKING_URI": ["http://127.0.0.1:5000"], "MLFLOW_HTTP_REQUEST_TIMEOUT": ["60"],
    "AWS_ACCESS_KEY_ID": ["AKIDSAMPLE"], "AWS_SECRET_ACCESS_KEY": ["secret-sample"], "AWS_SESSION_TOKEN": ["tok"],
    "AWS_PROFILE": ["team"], "AWS_DEFAULT_REGION": ["eu-west-1"], "MLFLOW_S3_ENDPOINT_URL": ["http://127.0.0.1:8333"],
    "AWS_CA_BUNDLE": ["/etc/ca.pem"], "MLFLOW_S3_IGNORE_TLS": ["true"],
    "MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION": ["s3v4", "unsigned"], "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE": ["path"],
    "MLFLOW_S3_UPLOAD_EXTRA_ARGS": ['{"ServerSideEncryption": "AES256"}'], "MLFLOW_S3_EXPECTED_BUCKET_OWNER": ["1234"],
    "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT": ["30", "-1"], "ARTIFACT_FS_RETRIES": ["4"],
    "ARTIFACT_FS_VERIFY": ["full"], "ARTIFACT_FS_FILES_IN_FLIGHT": ["16"], "ARTIFACT_FS_PARTS_IN_FLIGHT": ["2"],
    "AZURE_STORAGE_CONNECTION_STRING": ["AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net"],
    "AZURE_STORAGE_ACCESS_KEY": ["a2V5"], "AZURE_STORAGE_ACCOUNT_KEY": ["a2V5"],
    "AZURE_STORAGE_SAS_TOKEN": ["sv=1&sig=x"], "AZURE_STORAGE_CLIENT_ID": ["cid"],
    "AZURE_STORAGE_CLIENT_SECRET": ["csecret"], "AZURE_STORAGE_TENANT_ID": ["tid"],
    "GOOGLE_APPLICATION_CREDENTIALS": ["/keys/sa.json"], "GOOGLE_CLOUD_PROJECT": ["proj"],
    "STORAGE_EMULATOR_HOST": ["http://127.0.0.1:4443"], "MLFLOW_GCS_DEFAULT_TIMEOUT": ["20"],
    "MLFLOW_GCS_UPLOAD_CHUNK_SIZE": ["524288"], "MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE": ["524288"],
    "MLFLOW_PYARROW_EXTRA_CONF": ["dfs.replication=2"], "MLFLOW_KERBEROS_TICKET_CACHE": ["/tmp/krb5cc_1"],
    "MLFLOW_KERBEROS_USER": ["hdfsuser"], "ARTIFACT_FS_SFTP_KNOWN_HOSTS": ["/etc/ssh/known_hosts"],
}  # fmt: skip


def _variants(row):
    """The row and each alternative client, with the variable that picks it."""
    yield row, {}
    for name, alternative in row.alternatives.items():
        yield alternative, {row.variant_var: name}


def _setting_cases():
    for row in (row for row in SCHEMES if row.name not in REFUSED):
        for variant, pick in _variants(row):
            variables = dict.fromkeys(s.var for s in (*variant.client.settings, *TRANSFER_SETTINGS, *BUDGET_SETTINGS))
            for var in variables:
                for value in SAMPLES.get(var, ["<no sample>"]):
                    name = f"{row.name or 'path'}{'-' + variant.variant if pick else ''}-{var}={value}"
                    yield pytest.param(row.name, {**pick, var: value}, var, id=name)


def _text(settings) -> str:
    return settings.text() + json.dumps(settings.as_dict())


# --- the table, row by row -------------------------------------------------------------------


def test_every_scheme_row_is_mapped_or_refused_with_a_reason():
    names = {row.name for row in SCHEMES}
    assert set(SAMPLE_URI) == names
    assert names == set(FAMILIES) | set(REFUSED) and not set(FAMILIES) & set(REFUSED)
    assert all(len(reason) > 20 for reason in REFUSED.values())


@pytest.mark.parametrize("name", sorted(SAMPLE_URI, key=str))
def test_every_row_maps_from_its_resolve_result(name):
    uri, env = SAMPLE_URI[name], BASE_ENV.get(name, {})
    if name in REFUSED:
        with pytest.raises(ValueError, match=REFUSED[name][:30]):
            spark_conf(uri, env)
        return
    resolved = resolve(uri, env)
    settings = spark_conf(uri, env)
    assert settings == settings_for(resolved, env)  # the same resolve result, mapped
    assert settings.url.split("://")[0] in {"s3a", "abfss", "gs", "hdfs", "viewfs", "sftp", "ftp", "file"}
    assert settings.url.endswith("/p/q") or settings.url.endswith("/run")  # the same location
    assert all(key.startswith(P) for key in settings.conf)


def test_every_variable_of_the_table_has_a_sample():
    variables = {s.var for row in SCHEMES for v, _ in _variants(row) for s in v.client.settings}
    assert variables | {s.var for s in (*TRANSFER_SETTINGS, *BUDGET_SETTINGS)} <= set(SAMPLES)


@pytest.mark.parametrize(("name", "extra", "var"), list(_setting_cases()))
def test_every_setting_is_carried_noted_or_refused_by_name(name, extra, var):
    """Never dropped silently: the settings (or notes) change, or the error names the variable."""
    uri, base = SAMPLE_URI[name], {**BASE_ENV.get(name, {}), **{k: v for k, v in extra.items() if k != var}}
    before = spark_conf(uri, base)
    try:
        after = spark_conf(uri, {**base, **extra})
    except ValueError as exc:
        assert var in str(exc) and "\n" not in str(exc)
        return
    assert (after.conf, after.notes) != (before.conf, before.notes)


# --- representative environments -------------------------------------------------------------

S3_ENV = {
    "MLFLOW_S3_ENDPOINT_URL": "http://seaweed.local:8333",
    "AWS_DEFAULT_REGION": "eu-central-1",
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-secret",
    "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT": "30",
    "ARTIFACT_FS_RETRIES": "5",
}

CASES = [
    ("s3-seaweedfs", "s3://team/mlruns/1", S3_ENV, "s3a://team/mlruns/1", {
        "fs.s3a.bucket.team.endpoint": "http://seaweed.local:8333",
        "fs.s3a.bucket.team.connection.ssl.enabled": "false",
        "fs.s3a.bucket.team.path.style.access": "true",
        "fs.s3a.bucket.team.endpoint.region": "eu-central-1",
        "fs.s3a.bucket.team.access.key": "${env.AWS_ACCESS_KEY_ID}",
        "fs.s3a.bucket.team.secret.key": "${env.AWS_SECRET_ACCESS_KEY}",
        "fs.s3a.bucket.team.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "fs.s3a.bucket.team.connection.establish.timeout": "30000",
        "fs.s3a.bucket.team.connection.timeout": "30000",
        "fs.s3a.bucket.team.retry.limit": "5",
    }),
    ("s3-aws-session-kms", "s3://data-lake/x", {
        "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t",
        "AWS_SESSION_TOKEN": "FwoGZXIvYXdzEXAMPLE",
        "MLFLOW_S3_UPLOAD_EXTRA_ARGS": '{"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "arn:aws:kms:k/1",'
                                       ' "StorageClass": "STANDARD_IA", "ACL": "bucket-owner-full-control"}',
        "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE": "virtual",
    }, "s3a://data-lake/x", {
        "fs.s3a.bucket.data-lake.access.key": "${env.AWS_ACCESS_KEY_ID}",
        "fs.s3a.bucket.data-lake.secret.key": "${env.AWS_SECRET_ACCESS_KEY}",
        "fs.s3a.bucket.data-lake.session.token": "${env.AWS_SESSION_TOKEN}",
        "fs.s3a.bucket.data-lake.aws.credentials.provider": "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider",
        "fs.s3a.bucket.data-lake.encryption.algorithm": "SSE-KMS",
        "fs.s3a.bucket.data-lake.encryption.key": "arn:aws:kms:k/1",
        "fs.s3a.bucket.data-lake.create.storage.class": "standard_ia",
        "fs.s3a.bucket.data-lake.acl.default": "BucketOwnerFullControl",
        "fs.s3a.bucket.data-lake.path.style.access": "false",
    }),
    ("s3-unsigned", "s3://public/x", {"MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION": "unsigned"}, "s3a://public/x", {
        "fs.s3a.bucket.public.aws.credentials.provider": "org.apache.hadoop.fs.s3a.AnonymousAWSCredentialsProvider",
    }),
    ("s3-aws-endpoint-profile", "s3://b/k", {
        "MLFLOW_S3_ENDPOINT_URL": "https://s3.eu-west-1.amazonaws.com", "AWS_PROFILE": "analytics",
        "MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION": "s3v4",
    }, "s3a://b/k", {
        "fs.s3a.bucket.b.endpoint": "https://s3.eu-west-1.amazonaws.com",
        "fs.s3a.bucket.b.aws.credentials.provider": "org.apache.hadoop.fs.s3a.auth.ProfileAWSCredentialsProvider",
        "fs.s3a.bucket.b.auth.profile.name": "analytics",
        "fs.s3a.bucket.b.signing-algorithm": "AWSS3V4SignerType",
    }),
    ("r2", "r2://bkt@0123abcd.r2.cloudflarestorage.com/runs", {}, "s3a://bkt/runs", {
        "fs.s3a.bucket.bkt.endpoint": "https://0123abcd.r2.cloudflarestorage.com",
        "fs.s3a.bucket.bkt.endpoint.region": "auto",
        "fs.s3a.bucket.bkt.path.style.access": "false",
    }),
    ("b2", "b2://bkt@s3.us-west-004.backblazeb2.com/runs", {}, "s3a://bkt/runs", {
        "fs.s3a.bucket.bkt.endpoint": "https://s3.us-west-004.backblazeb2.com",
        "fs.s3a.bucket.bkt.endpoint.region": "us-west-004",
        "fs.s3a.bucket.bkt.path.style.access": "true",
    }),
    ("wasbs-account-key", "wasbs://models@acct.blob.core.windows.net/run/1",
     {"AZURE_STORAGE_ACCESS_KEY": "bXkta2V5", "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT": "45"},
     "abfss://models@acct.dfs.core.windows.net/run/1", {
        "fs.azure.account.auth.type.acct.dfs.core.windows.net": "SharedKey",
        "fs.azure.account.key.acct.dfs.core.windows.net": "${env.AZURE_STORAGE_ACCESS_KEY}",
        "fs.azure.http.connection.timeout.acct.dfs.core.windows.net": "45000",
        "fs.azure.http.read.timeout.acct.dfs.core.windows.net": "45000",
    }),
    ("wasbs-china-sas", "wasbs://c@acct.blob.core.chinacloudapi.cn/p", {"AZURE_STORAGE_SAS_TOKEN": "sv=2022&sig=abc"},
     "abfss://c@acct.dfs.core.chinacloudapi.cn/p", {
        "fs.azure.account.auth.type.acct.dfs.core.chinacloudapi.cn": "SAS",
        "fs.azure.sas.fixed.token.acct.dfs.core.chinacloudapi.cn": "${env.AZURE_STORAGE_SAS_TOKEN}",
    }),
    ("abfss-service-principal", "abfss://lake@acct.dfs.core.windows.net/", {
        "AZURE_STORAGE_CLIENT_ID": "11111111-app", "AZURE_STORAGE_CLIENT_SECRET": "sp-secret",
        "AZURE_STORAGE_TENANT_ID": "tenant-9",
    }, "abfss://lake@acct.dfs.core.windows.net", {
        "fs.azure.account.auth.type.acct.dfs.core.windows.net": "OAuth",
        "fs.azure.account.oauth.provider.type.acct.dfs.core.windows.net":
            "org.apache.hadoop.fs.azurebfs.oauth2.ClientCredsTokenProvider",
        "fs.azure.account.oauth2.client.id.acct.dfs.core.windows.net": "11111111-app",
        "fs.azure.account.oauth2.client.secret.acct.dfs.core.windows.net": "${env.AZURE_STORAGE_CLIENT_SECRET}",
        "fs.azure.account.oauth2.client.endpoint.acct.dfs.core.windows.net":
            "https://login.microsoftonline.com/tenant-9/oauth2/token",
    }),
    ("gs-service-account", "gs://bkt/runs/1", {
        "GOOGLE_APPLICATION_CREDENTIALS": "/secrets/sa.json", "GOOGLE_CLOUD_PROJECT": "proj-1",
        "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT": "20", "MLFLOW_GCS_UPLOAD_CHUNK_SIZE": "1048576",
    }, "gs://bkt/runs/1", {
        "fs.gs.auth.type": "SERVICE_ACCOUNT_JSON_KEYFILE",
        "fs.gs.auth.service.account.json.keyfile": "${env.GOOGLE_APPLICATION_CREDENTIALS}",
        "google.cloud.auth.service.account.json.keyfile": "${env.GOOGLE_APPLICATION_CREDENTIALS}",
        "fs.gs.project.id": "proj-1",
        "fs.gs.http.connect-timeout": "20000",
        "fs.gs.http.read-timeout": "20000",
        "fs.gs.outputstream.upload.chunk.size": "1048576",
    }),
    ("gs-emulator", "gs://bkt/x", {"STORAGE_EMULATOR_HOST": "http://127.0.0.1:4443"}, "gs://bkt/x", {
        "fs.gs.auth.type": "UNAUTHENTICATED",
        "google.cloud.auth.null.enable": "true",
        "fs.gs.storage.root.url": "http://127.0.0.1:4443/",
    }),
    ("hdfs-namenode", "hdfs://nn.example:8020/mlruns", {
        "MLFLOW_PYARROW_EXTRA_CONF": "dfs.replication=2,dfs.client.use.datanode.hostname=true",
        "MLFLOW_KERBEROS_TICKET_CACHE": "/tmp/krb5cc_1000", "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT": "30",
    }, "hdfs://nn.example:8020/mlruns", {
        "dfs.replication": "2",
        "dfs.client.use.datanode.hostname": "true",
        "dfs.client.socket-timeout": "30000",
        "hadoop.security.kerberos.ticket.cache.path": "/tmp/krb5cc_1000",
    }),
    ("hdfs-default-fs", "hdfs:/mlruns", {"MLFLOW_PYARROW_EXTRA_CONF": "fs.defaultFS=hdfs://ha-cluster"},
     "hdfs:///mlruns", {"fs.defaultFS": "hdfs://ha-cluster"}),
    ("hdfs-pyarrow", "hdfs://nn:9000/x", {"ARTIFACT_FS_HDFS_CLIENT": "pyarrow", "MLFLOW_PYARROW_EXTRA_CONF": "a.b=c"},
     "hdfs://nn:9000/x", {"a.b": "c"}),
    ("viewfs", "viewfs://cluster/data", {}, "viewfs://cluster/data", {}),
    ("sftp-opted-out", "sftp://alice@files.example:2222/srv/a", {"ARTIFACT_FS_SFTP_KNOWN_HOSTS": "none"},
     "sftp://files.example:2222/srv/a", {
        "fs.sftp.impl": "org.apache.hadoop.fs.sftp.SFTPFileSystem",
        "fs.sftp.user.files.example": "alice",
    }),
    ("ftp-anonymous", "ftp://ftp.example/pub/a", {}, "ftp://ftp.example/pub/a", {
        "fs.ftp.impl": "org.apache.hadoop.fs.ftp.FTPFileSystem",
        "fs.ftp.data.connection.mode": "PASSIVE_LOCAL_DATA_CONNECTION_MODE",
        "fs.ftp.transfer.mode": "STREAM_TRANSFER_MODE",
        "fs.ftp.user.ftp.example": "anonymous",
        "fs.ftp.password.ftp.example": "anonymous@",
    }),
    ("local-path", "/srv/mlruns/1", {}, "file:///srv/mlruns/1", {}),
    ("file-uri", "file:///srv/mlruns/1", {}, "file:///srv/mlruns/1", {}),
]  # fmt: skip


@pytest.mark.parametrize(("uri", "env", "url", "conf"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_representative_environments(uri, env, url, conf):
    settings = spark_conf(uri, env)
    assert settings.url == url
    assert {key.removeprefix(P): value for key, value in settings.conf.items()} == conf
    assert settings == settings_for(resolve(uri, env), env)


def test_notes_say_what_spark_needs_beyond_the_keys():
    def notes(uri, env):
        return "\n".join(spark_conf(uri, env).notes)

    assert "not carried from environment ARTIFACT_FS_FILES_IN_FLIGHT" in notes(
        "s3://b/k", {"ARTIFACT_FS_FILES_IN_FLIGHT": "9"}
    )
    assert "truststore" in notes("s3://b/k", {"AWS_CA_BUNDLE": "/etc/corp-ca.pem"})
    assert "HADOOP_USER_NAME=bob" in notes("hdfs://nn/p", {"MLFLOW_KERBEROS_USER": "bob"})
    assert "fs.defaultFS" in notes("hdfs:/p", {})
    assert "fs.sftp.keyfile" in notes("sftp://u@h/p", {"ARTIFACT_FS_SFTP_KNOWN_HOSTS": "none"})
    assert "shared mount" in notes("/srv/x", {})
    assert "DefaultAzureCredential" in notes("wasbs://c@a.blob.core.windows.net/p", {})
    assert "environment AZURE_STORAGE_CLIENT_ID" in notes(
        "wasbs://c@a.blob.core.windows.net/p", {"AZURE_STORAGE_CLIENT_ID": "x"}
    )
    assert "without it" in notes("wasbs://c@a.blob.core.windows.net/p", {"AZURE_STORAGE_SAS_TOKEN": "?sv=1&sig=a"})
    assert notes("s3://b/k", {}) == ""  # defaults are artifact_fs's own: nothing to say


# --- secrets ---------------------------------------------------------------------------------

SECRET_CASES = [
    ("s3", "s3://b/k", {"AWS_ACCESS_KEY_ID": "AKIA-literal-id", "AWS_SECRET_ACCESS_KEY": "literal-secret-key",
                        "AWS_SESSION_TOKEN": "literal-session-token"}),
    ("azure-key", "wasbs://c@acct.blob.core.windows.net/p", {"AZURE_STORAGE_ACCOUNT_KEY": "literal-account-key"}),
    ("azure-sas", "abfss://c@acct.dfs.core.windows.net/p", {"AZURE_STORAGE_SAS_TOKEN": "sv=2&sig=literal-sas"}),
    ("azure-sp", "abfss://c@acct.dfs.core.windows.net/p",
     {"AZURE_STORAGE_CLIENT_ID": "app", "AZURE_STORAGE_TENANT_ID": "t", "AZURE_STORAGE_CLIENT_SECRET": "literal-cs"}),
    ("gcs-key-file", "gs://b/k", {"GOOGLE_APPLICATION_CREDENTIALS": "/literal/key-file.json"}),
]  # fmt: skip
SECRET_VARIABLES = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_CLIENT_SECRET", "GOOGLE_APPLICATION_CREDENTIALS",
}  # fmt: skip


@pytest.mark.parametrize(("uri", "env"), [pytest.param(*c[1:], id=c[0]) for c in SECRET_CASES])
def test_secrets_are_references_unless_asked_for(uri, env):
    literals = [value for var, value in env.items() if var in SECRET_VARIABLES]
    assert set(literals) <= set(resolve(uri, env).secret_values)
    hidden = _text(spark_conf(uri, env))
    assert not [value for value in literals if value in hidden]
    assert all(f"${{env.{var}}}" in hidden for var in env if var in SECRET_VARIABLES)
    shown = _text(spark_conf(uri, env, secrets=True))
    assert all(value in shown for value in literals) and "${env." not in shown


@pytest.mark.parametrize(
    ("uri", "env", "secret", "shown"),
    [
        pytest.param("sftp://alice:pw-in-the-uri@h/p", {"ARTIFACT_FS_SFTP_KNOWN_HOSTS": "none"}, "pw-in-the-uri",
                     "fs.sftp.password.h.alice=pw-in-the-uri", id="sftp-uri-password"),
        pytest.param("ftp://bob:ftp-uri-password@h/p", {}, "ftp-uri-password", "fs.ftp.password.h=ftp-uri-password",
                     id="ftp-uri-password"),
        pytest.param("wasbs://c@acct.blob.core.windows.net/p",
                     {"AZURE_STORAGE_CONNECTION_STRING": "AccountName=acct;AccountKey=Y3Mta2V5;EndpointSuffix=x.net"},
                     "Y3Mta2V5", "fs.azure.account.key.acct.dfs.x.net=Y3Mta2V5", id="azure-connection-string"),
        pytest.param("s3://b/k", {"MLFLOW_S3_UPLOAD_EXTRA_ARGS": '{"SSECustomerAlgorithm": "AES256", '
                                  '"SSECustomerKey": "0123456789abcdef0123456789abcdef"}'},
                     "0123456789abcdef0123456789abcdef", "encryption.key=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
                     id="s3-sse-c-key"),
    ],
)  # fmt: skip
def test_a_secret_no_variable_holds_alone_needs_secrets_true(uri, env, secret, shown):
    with pytest.raises(ValueError, match="--show-secrets") as info:
        spark_conf(uri, env)
    assert secret not in str(info.value)
    assert shown in spark_conf(uri, env, secrets=True).text()


def test_a_profile_secret_is_referenced_through_its_env_reference(tmp_path):
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(
        '[profiles.archive]\nmatch = "s3://archive"\nendpoint_url = "http://minio.archive:9000"\n'
        'access_key_id = "env:ARCHIVE_KEY"\nsecret_access_key = "env:ARCHIVE_SECRET"\n'
        '[profiles.inline]\nmatch = "s3://inline"\naccess_key_id = "AKIAINLINE"\nsecret_access_key = "inline-secret"\n'
    )
    profiles.chmod(0o600)
    env = {"ARTIFACT_FS_PROFILES": str(profiles), "ARCHIVE_KEY": "archive-key-id", "ARCHIVE_SECRET": "archive-secret"}
    conf = spark_conf("s3://archive/runs", env).conf
    assert conf[P + "fs.s3a.bucket.archive.secret.key"] == "${env.ARCHIVE_SECRET}"
    assert conf[P + "fs.s3a.bucket.archive.endpoint"] == "http://minio.archive:9000"
    with pytest.raises(ValueError, match=r"profile 'inline'.*--show-secrets"):
        spark_conf("s3://inline/runs", env)
    assert (
        spark_conf("s3://inline/runs", env, secrets=True).conf[P + "fs.s3a.bucket.inline.secret.key"] == "inline-secret"
    )


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "env", "options", "culprit"),
    [
        ("s3://b/k?versionId=1", {}, {}, "query or fragment"),
        ("nosuchscheme://x/y", {}, {}, "unsupported artifact URI"),
        ("memory://m/p", {}, {}, "memory"),
        ("s3://b/k", {"MLFLOW_S3_IGNORE_TLS": "true"}, {}, "MLFLOW_S3_IGNORE_TLS"),
        ("s3://b/k", {"MLFLOW_S3_EXPECTED_BUCKET_OWNER": "123"}, {}, "ExpectedBucketOwner"),
        ("s3://b/k", {"MLFLOW_S3_UPLOAD_EXTRA_ARGS": '{"Metadata": {"a": "b"}}'}, {}, "Metadata"),
        ("s3://b/k", {"MLFLOW_S3_UPLOAD_EXTRA_ARGS": '{"ServerSideEncryption": "aws:fancy"}'}, {}, "aws:fancy"),
        ("s3://b/k", {"MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION": "s3v5"}, {}, "signature version 's3v5'"),
        ("s3://b/k", {"AWS_SESSION_TOKEN": "t"}, {}, "AWS_SESSION_TOKEN"),
        ("s3://b/k", {}, {"config_kwargs": {"max_pool_connections": 8}}, "config_kwargs.max_pool_connections"),
        ("wasbs://c@devstoreaccount1.blob.core.windows.net/p", {"AZURE_STORAGE_CONNECTION_STRING":
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
            "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"}, {}, "127.0.0.1:10000/devstoreaccount1"),
        ("wasbs://c@a.blob.core.windows.net/p", {"AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true"}, {},
         "custom endpoint"),
        ("wasbs://c@a.blob.core.windows.net/p", {}, {"anon": True}, "anonymous"),
        ("sftp://u@h/p", {}, {}, "host-key checking"),
        ("sftp://h/p", {"ARTIFACT_FS_SFTP_KNOWN_HOSTS": "none"}, {}, "without a user"),
        ("ftp://bob@h/p", {}, {}, "'bob' without a password"),
        ("gs://b/k", {}, {"token": {"private_key": "k"}}, "token"),
    ],
)  # fmt: skip
def test_what_spark_cannot_be_given_is_refused_by_name(uri, env, options, culprit):
    with pytest.raises(ValueError, match=culprit.replace("?", r"\?").replace(".", r"\.")) as info:
        spark_conf(uri, env, **options)
    assert "\n" not in str(info.value)


# --- the public function, the command --------------------------------------------------------


def test_spark_conf_is_exported_and_its_example_runs():
    assert artifact_fs.spark_conf is spark_conf and "spark_conf" in artifact_fs.__all__
    failed, attempted = doctest.testmod(spark, optionflags=doctest.ELLIPSIS)
    assert attempted and not failed


def test_runs_uris_are_located_first(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    tracking = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking)
    experiment = client.create_experiment("spark", artifact_location=str(tmp_path / "store"))
    run_id = client.create_run(experiment).info.run_id
    settings = spark_conf(f"runs:/{run_id}/data", tracking_uri=tracking)
    assert settings.url == f"file://{tmp_path}/store/{run_id}/artifacts/data"
    with pytest.raises(ValueError, match="process environment"):
        spark_conf(f"runs:/{run_id}/data", {}, tracking_uri=tracking)


def test_cli_prints_conf_lines_json_and_secrets_only_when_asked(monkeypatch, capsys):
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["resolve", "--format", "spark", "s3://team/mlruns/1"]) == cli.EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "# s3a://team/mlruns/1"
    assert "--conf spark.hadoop.fs.s3a.bucket.team.endpoint=http://seaweed.local:8333" in lines
    assert "--conf 'spark.hadoop.fs.s3a.bucket.team.secret.key=${env.AWS_SECRET_ACCESS_KEY}'" in lines
    assert all(line.startswith(("# ", "--conf ")) for line in lines)
    assert cli.main(["resolve", "--format", "spark", "--json", "s3://team/mlruns/1"]) == cli.EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert data == spark_conf("s3://team/mlruns/1").as_dict()
    assert S3_ENV["AWS_SECRET_ACCESS_KEY"] not in json.dumps(data)
    assert cli.main(["resolve", "--format", "spark", "--show-secrets", "s3://team/mlruns/1"]) == cli.EXIT_OK
    assert f"secret.key={S3_ENV['AWS_SECRET_ACCESS_KEY']}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["resolve", "--format", "spark", "memory://m/p"], "memory -> Spark"),
        (["resolve", "--format", "spark", "--explain", "s3://b/k"], "--explain"),
        (["resolve", "--show-secrets", "s3://b/k"], "--format spark only"),
        (["resolve", "--format", "spark", "sftp://u@h/p"], "host-key checking"),
    ],
)
def test_cli_errors_are_one_line_and_usage_exit_codes(args, message, capsys):
    assert cli.main(args) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_cli_output_reads_back_as_spark_submit_arguments():
    """The documented way to use the text form in a shell: comments skipped, references kept literal."""
    env = {**os.environ, "ARTIFACT_FS_PROFILES": "none", **S3_ENV}
    script = f'eval "conf=($({SCRIPT} resolve --format spark s3://team/mlruns/1))"; printf "%s\\n" "${{conf[@]}}"'
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=120, check=True)
    assert done.stdout.splitlines() == spark_conf("s3://team/mlruns/1", env).as_args()
    assert S3_ENV["AWS_SECRET_ACCESS_KEY"] not in done.stdout
