"""Settings: every row of the table, driven by the table itself, plus precedence and secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from artifact_fs import InvalidSettingError
from artifact_fs.backends import SCHEMES

from .conftest import resolve_on_fsspec as resolve  # the table of s3fs's options

SAMPLE_URI = {
    "": "/tmp/artifact-root",
    "mlflow-artifacts": "mlflow-artifacts:/0/r/artifacts",
    "http": "http://h:5000/api/2.0/mlflow-artifacts/artifacts/0/r",
    "https": "https://h/api/2.0/mlflow-artifacts/artifacts/0/r",
    "file": "file:///tmp/artifact-root",
    "abfss": "abfss://fs@acct.dfs.core.windows.net/p",
    "b2": "b2://bkt@s3.eu-central-003.backblazeb2.com/p",
    "ftp": "ftp://ftp.example.com/p",
    "gs": "gs://bkt/p",
    "hdfs": "hdfs://nn:8020/p",
    "memory": "memory://m/p",
    "r2": "r2://bkt@acct.r2.cloudflarestorage.com/p",
    "s3": "s3://bkt/p",
    "sftp": "sftp://host/p",
    "viewfs": "viewfs://cluster/p",
    "wasbs": "wasbs://c@acct.blob.core.windows.net/p",
}

#: converter name → (a valid raw value, what it must become); SKIP means "sets nothing"
VALID = {
    "str": ("value-1", "value-1"),
    "as_timeout": ("30", 30),
    "false_when_true": ("true", False),
    "except_unsigned": ("s3v4", "s3v4"),
    "only_unsigned": ("unsigned", True),
    "one_of_auto_virtual_path": ("PATH", "path"),
    "as_upload_extra_args": ('{"ServerSideEncryption": "AES256"}', {"ServerSideEncryption": "AES256"}),
    "multiple_of_262144": ("524288", 524288),
    "as_key_value_pairs": ("dfs.replication=2, a=b", {"dfs.replication": "2", "a": "b"}),
    "known_hosts_file": ("/etc/ssh/known_hosts", "/etc/ssh/known_hosts"),
    "no_retry": ("30", 0),
    "half_timeout": ("30", 15),
    "always_1": ("30", 1),
    "as_millis_text": ("2.5", "2500"),
    "always_anon": ("http://127.0.0.1:4443", "anon"),
    "as_positive_int": ("6", 6),
}

#: converter name → values that must be refused
INVALID = {
    "as_timeout": ["soon", "0", "-5"],
    "as_millis_text": ["soon", "0", "-5"],
    "no_retry": ["soon", "0", "-5"],
    "half_timeout": ["soon", "0", "-5"],
    "false_when_true": ["yes", "on"],
    "one_of_auto_virtual_path": ["diagonal"],
    "as_upload_extra_args": ["{bad", "[1, 2]", "42", '{"NoSuchUploadArg": "x"}', '{"contenttype": "text/plain"}'],
    "multiple_of_262144": ["1000", "-262144", "abc"],
    "as_key_value_pairs": ["novalue", "=x"],
    "as_positive_int": ["0", "-2", "many", "1.5"],
}


def _rows():
    for row in SCHEMES:
        for setting in row.client.settings:
            yield pytest.param(row, setting, id=f"{row.name or 'path'}-{setting.var}-{setting.option}")


def _lookup(resolved, option):
    channel, sep, rest = option.partition(":")
    channels = {
        "upload": resolved.upload_options,
        "download": resolved.download_options,
        "attr": resolved.fs_attributes,
        "env": resolved.fs_environment,
    }
    tree = channels[channel] if sep else None
    tree, path = (tree, rest) if sep else (resolved.storage_options, option)
    for key in path.split("."):
        tree = tree[key]
    return tree


def _converter(setting):
    return getattr(setting.parse, "__name__", "str").lstrip("_")


def test_every_converter_in_the_table_has_samples():
    names = {_converter(s) for row in SCHEMES for s in row.client.settings}
    assert names <= set(VALID), names - set(VALID)


@pytest.mark.parametrize(("row", "setting"), list(_rows()))
def test_every_setting_becomes_its_option(row, setting):
    raw, expected = VALID[_converter(setting)]
    resolved = resolve(SAMPLE_URI[row.name], env={setting.var: raw})
    assert _lookup(resolved, setting.option) == expected
    assert resolved.sources[setting.option.replace(":", ":")] == f"environment {setting.var}"


@pytest.mark.parametrize(("row", "setting"), [p for p in _rows() if _converter(p.values[1]) in INVALID])
def test_bad_values_name_their_variable(row, setting):
    for raw in INVALID[_converter(setting)]:
        with pytest.raises(InvalidSettingError, match=setting.var):
            resolve(SAMPLE_URI[row.name], env={setting.var: raw})


def test_sample_uris_cover_every_scheme():
    assert set(SAMPLE_URI) == {row.name for row in SCHEMES}


def test_bad_extra_args_json_says_which_variable_and_why():
    with pytest.raises(InvalidSettingError) as info:
        resolve("s3://b/p", env={"MLFLOW_S3_UPLOAD_EXTRA_ARGS": "{bad"})
    assert "MLFLOW_S3_UPLOAD_EXTRA_ARGS" in str(info.value) and "invalid JSON" in str(info.value)


def test_unknown_upload_extra_args_are_refused_naming_the_key_and_the_variable():
    """As MLflow's S3 repository (boto3's upload_file refuses them), instead of being ignored;
    the keys artifact_fs maps itself keep working."""
    with pytest.raises(InvalidSettingError) as info:
        resolve(
            "s3://b/p", env={"MLFLOW_S3_UPLOAD_EXTRA_ARGS": '{"ContentType": "text/plain", "NoSuchUploadArg": "x"}'}
        )
    assert "MLFLOW_S3_UPLOAD_EXTRA_ARGS" in str(info.value) and "'NoSuchUploadArg': not an S3 upload argument" in str(
        info.value
    )
    extra = {
        "ContentType": "application/x-custom", "ContentEncoding": "gzip", "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": "alias/k", "SSECustomerAlgorithm": "AES256", "Metadata": {"team": "ml"}, "ACL": "private",
        "ExpectedBucketOwner": "123", "StorageClass": "STANDARD_IA", "Tagging": "a=b", "CacheControl": "no-cache",
    }  # fmt: skip
    resolved = resolve(
        "r2://bkt@acct.r2.cloudflarestorage.com/p", env={"MLFLOW_S3_UPLOAD_EXTRA_ARGS": json.dumps(extra)}
    )
    assert resolved.storage_options["s3_additional_kwargs"] == extra


def test_upload_extra_args_are_checked_without_importing_boto3():
    code = """if True:
        import sys, artifact_fs
        try:
            artifact_fs.resolve("s3://b/p", env={"MLFLOW_S3_UPLOAD_EXTRA_ARGS": '{"NoSuchUploadArg": 1}'})
        except artifact_fs.InvalidSettingError:
            pass
        else:
            raise SystemExit("an unknown upload argument was accepted")
        assert not {"boto3", "s3transfer", "botocore"} & set(sys.modules)
    """
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_upload_args_are_those_boto3_upload_file_takes():
    """The table keeps boto3's list as data (resolve() imports no boto3). It must hold every key
    the installed s3transfer allows (never refuse what MLflow's S3 repository would pass) and
    nothing S3's PutObject or CreateMultipartUpload does not know."""
    import botocore.session
    from boto3.s3.transfer import S3Transfer

    from artifact_fs.backends.s3 import S3_UPLOAD_ARGS

    assert set(S3Transfer.ALLOWED_UPLOAD_ARGS) <= S3_UPLOAD_ARGS, set(S3Transfer.ALLOWED_UPLOAD_ARGS) - S3_UPLOAD_ARGS
    model = botocore.session.get_session().get_service_model("s3")
    known = {
        name for operation in ("PutObject", "CreateMultipartUpload", "CompleteMultipartUpload")
        for name in model.operation_model(operation).input_shape.members
    }  # fmt: skip
    assert S3_UPLOAD_ARGS <= known, S3_UPLOAD_ARGS - known


def test_timeout_minus_one_means_no_timeout():
    resolved = resolve("gs://b/p", env={"MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT": "-1"})
    assert resolved.storage_options["requests_timeout"] is None


def test_new_timeout_variable_wins_over_the_deprecated_one():
    env = {"MLFLOW_GCS_DEFAULT_TIMEOUT": "10", "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT": "20"}
    assert resolve("gs://b/p", env=env).storage_options["requests_timeout"] == 20


def test_ignore_tls_wins_over_ca_bundle():
    env = {"AWS_CA_BUNDLE": "/ca.pem", "MLFLOW_S3_IGNORE_TLS": "true"}
    assert resolve("s3://b/p", env=env).storage_options["client_kwargs"]["verify"] is False
    env["MLFLOW_S3_IGNORE_TLS"] = "false"
    assert resolve("s3://b/p", env=env).storage_options["client_kwargs"]["verify"] == "/ca.pem"


def test_unsigned_signature_means_anonymous():
    options = resolve("s3://b/p", env={"MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION": "unsigned"}).storage_options
    assert options["anon"] is True and "signature_version" not in options.get("config_kwargs", {})


def test_connection_string_switches_the_access_key_off():
    env = {
        "AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=https;AccountKey=k1",
        "AZURE_STORAGE_ACCESS_KEY": "k2",
    }
    options = resolve("wasbs://c@acct.blob.core.windows.net/p", env=env).storage_options
    assert options["connection_string"].endswith("k1") and "account_key" not in options


def test_expected_bucket_owner_merges_with_extra_args():
    env = {
        "MLFLOW_S3_UPLOAD_EXTRA_ARGS": '{"ServerSideEncryption": "AES256"}',
        "MLFLOW_S3_EXPECTED_BUCKET_OWNER": "123",
    }
    assert resolve("s3://b/p", env=env).storage_options["s3_additional_kwargs"] == {
        "ServerSideEncryption": "AES256",
        "ExpectedBucketOwner": "123",
    }


def test_r2_and_b2_ignore_the_s3_endpoint_variable():
    env = {"MLFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:9000"}
    assert resolve("r2://b@acct.r2.cloudflarestorage.com/p", env=env).storage_options["endpoint_url"] == (
        "https://acct.r2.cloudflarestorage.com"
    )
    assert resolve("s3://b/p", env=env).storage_options["endpoint_url"] == "http://127.0.0.1:9000"


def test_environment_is_read_at_call_time(monkeypatch):
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://first")
    assert resolve("s3://b/p").storage_options["endpoint_url"] == "http://first"
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://second")
    assert resolve("s3://b/p").storage_options["endpoint_url"] == "http://second"


# --- precedence: default < fsspec config < environment < URI < overrides -------------------


def test_precedence_layers_in_order():
    env = {
        "FSSPEC_S3": (
            '{"use_listings_cache": true, "endpoint_url": "http://fsspec", '
            '"client_kwargs": {"region_name": "fs-region"}}'
        ),
        "MLFLOW_S3_ENDPOINT_URL": "http://env",
        "MLFLOW_S3_IGNORE_TLS": "true",
    }
    resolved = resolve("s3://b/p", env=env)
    assert resolved.storage_options == {
        "use_listings_cache": True,  # fsspec config beats the row default
        "endpoint_url": "http://env",  # environment beats fsspec config
        "client_kwargs": {"region_name": "fs-region", "verify": False},  # nested dicts merge leaf by leaf
        "config_kwargs": {"retries": {"total_max_attempts": 1}},  # one retry layer: artifact_fs's budget
    }
    assert resolved.upload_options == {"chunksize": 8 * 2**20, "max_concurrency": 4}  # a sliding window of parts
    assert resolved.download_options == {"chunksize": 8 * 2**20, "max_concurrency": 1}  # one streamed GET
    assert resolved.fs_attributes == {"retries": 1}  # s3fs's own retry loop off too
    assert resolved.sources == {
        "upload:chunksize": "default",
        "download:chunksize": "default",
        "upload:max_concurrency": "default",
        "download:max_concurrency": "default",
        "config_kwargs.retries.total_max_attempts": "default",
        "attr:retries": "default",
        "use_listings_cache": "fsspec",
        "endpoint_url": "environment MLFLOW_S3_ENDPOINT_URL",
        "client_kwargs.region_name": "fsspec",
        "client_kwargs.verify": "environment MLFLOW_S3_IGNORE_TLS",
    }
    overridden = resolve("s3://b/p", env=env, endpoint_url="http://override", client_kwargs={"verify": "/ca"})
    assert overridden.storage_options["endpoint_url"] == "http://override"
    assert overridden.storage_options["client_kwargs"] == {"region_name": "fs-region", "verify": "/ca"}


def test_uri_beats_environment_and_overrides_beat_uri():
    env = {"AWS_DEFAULT_REGION": "eu-west-1", "FSSPEC_S3_ENDPOINT_URL": "http://fsspec"}
    uri = "b2://bkt@s3.us-west-004.backblazeb2.com/p"
    resolved = resolve(uri, env=env)
    assert resolved.storage_options["client_kwargs"]["region_name"] == "us-west-004"
    assert resolved.sources["client_kwargs.region_name"] == "uri"
    assert resolve(uri, env=env, endpoint_url="http://mine").storage_options["endpoint_url"] == "http://mine"


def test_fsspec_kwarg_variables_are_honoured_for_options_we_leave_open():
    resolved = resolve("s3://b/p", env={"FSSPEC_S3_MAX_CONCURRENCY": "32"})
    assert resolved.storage_options["max_concurrency"] == 32


# --- secrets ------------------------------------------------------------------------------


SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "s3cr3t-AWS",
    "AWS_ACCESS_KEY_ID": "AKIA-SECRET-ID",
    "AWS_SESSION_TOKEN": "session-t0ken",
}


def test_secrets_are_redacted_in_repr_str_and_redacted_view():
    resolved = resolve("s3://b/p", env=SECRETS)
    assert resolved.storage_options["secret"] == "s3cr3t-AWS"  # the real value reaches fsspec
    for text in (repr(resolved), str(resolved), str(resolved.redacted())):
        for value in SECRETS.values():
            assert value not in text
    assert resolved.redacted()["storage_options"]["secret"] == "***"


@pytest.mark.parametrize(
    ("uri", "env", "secret"),
    [
        ("sftp://u:hunter2@host/p", {}, "hunter2"),
        ("ftp://u:hunter2@host/p", {}, "hunter2"),
        ("wasbs://c@acct.blob.core.windows.net/p", {"AZURE_STORAGE_ACCESS_KEY": "azkey=="}, "azkey=="),
        ("wasbs://c@acct.blob.core.windows.net/p", {"AZURE_STORAGE_CONNECTION_STRING": "AccountKey=zz9"}, "zz9"),
        ("abfss://f@acct.dfs.core.windows.net/p", {"AZURE_STORAGE_SAS_TOKEN": "sv=2020&sig=abc"}, "sig=abc"),
    ],
)
def test_every_kind_of_secret_is_redacted(uri, env, secret):
    resolved = resolve(uri, env=env)
    assert secret not in repr(resolved) and secret not in str(resolved.redacted())


def test_overridden_secrets_are_redacted_too():
    resolved = resolve("memory://x", env={}, password="pw-override", client_secret="cs")
    assert "pw-override" not in repr(resolved) and "'cs'" not in repr(resolved)


# --- HDFS: hdfs-native by default, pyarrow when ARTIFACT_FS_HDFS_CLIENT asks for it ----------

HDFS_ENV = {
    "MLFLOW_KERBEROS_TICKET_CACHE": "FILE:/tmp/krb5cc_test",
    "MLFLOW_KERBEROS_USER": "alice",
    "MLFLOW_PYARROW_EXTRA_CONF": "dfs.replication=2, fs.defaultFS=hdfs://nn:8020",
    "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT": "7",
}


def test_mlflow_hdfs_settings_for_hdfs_native():
    from artifact_fs.opener import keyword_arguments

    resolved = resolve("hdfs://nn:8020/p", env=HDFS_ENV)
    assert resolved.row.client.impl == "hdfs_native.fsspec.HdfsFileSystem"
    assert resolved.fs_environment == {"KRB5CCNAME": "FILE:/tmp/krb5cc_test", "HADOOP_USER_NAME": "alice"}
    assert resolved.fs_attributes == {"call_timeout": 7}  # NameNode calls
    assert keyword_arguments(resolved) == {
        "skip_instance_cache": True,  # hdfs-native reads HADOOP_CONF_DIR & co. when a client is built
        "host": "nn",
        "port": 8020,
        "dfs.replication": "2",
        "fs.defaultFS": "hdfs://nn:8020",
        "dfs.client.socket-timeout": "7000",  # DataNode connections
    }


def test_mlflow_hdfs_settings_for_pyarrow_when_asked_for():
    resolved = resolve("hdfs://nn:8020/p", env={**HDFS_ENV, "ARTIFACT_FS_HDFS_CLIENT": "PyArrow"})
    assert resolved.row.client.impl == "fsspec.implementations.arrow.HadoopFileSystem"
    assert resolved.storage_options == {
        "host": "hdfs://nn",
        "port": 8020,
        "kerb_ticket": "FILE:/tmp/krb5cc_test",
        "user": "alice",
        "extra_conf": {"dfs.replication": "2", "fs.defaultFS": "hdfs://nn:8020"},
    }
    assert resolved.fs_environment == {} and resolved.fs_attributes == {}
    pyarrow = {"ARTIFACT_FS_HDFS_CLIENT": "pyarrow"}
    assert resolve("hdfs:/p", env=pyarrow).storage_options == {"host": "default", "port": 0}
    viewfs = resolve("viewfs://cluster/p", env=pyarrow)
    assert (viewfs.protocol, viewfs.storage_options) == ("hdfs", {"host": "viewfs://cluster", "port": 0})
    native = resolve("hdfs://nn/p", env={"ARTIFACT_FS_HDFS_CLIENT": "hdfs-native"})
    assert native.row.client.impl == "hdfs_native.fsspec.HdfsFileSystem"


def test_unknown_hdfs_client_is_refused_with_the_choices():
    with pytest.raises(InvalidSettingError, match="ARTIFACT_FS_HDFS_CLIENT.*hdfs-native, pyarrow"):
        resolve("hdfs://nn/p", env={"ARTIFACT_FS_HDFS_CLIENT": "java"})


def test_hdfs_native_ticket_cache_and_user_are_exported_only_when_opened(monkeypatch):
    """hdfs-native reads them only from the environment (its Kerberos via GSSAPI's KRB5CCNAME)."""

    from artifact_fs.opener import open_filesystem

    for name in ("KRB5CCNAME", "HADOOP_USER_NAME"):
        monkeypatch.setenv(name, "before")  # restored (here: removed) after the test
        monkeypatch.delenv(name)
    resolved = resolve("hdfs://127.0.0.1:9/p", env={k: HDFS_ENV[k] for k in list(HDFS_ENV)[:2]})
    assert "KRB5CCNAME" not in os.environ  # resolving is pure
    fs = open_filesystem(resolved)  # no I/O: the client connects on first use
    assert os.environ["KRB5CCNAME"] == "FILE:/tmp/krb5cc_test" and os.environ["HADOOP_USER_NAME"] == "alice"
    assert fs is not open_filesystem(resolved)  # private: never reused under other settings


@pytest.mark.parametrize(
    ("uri", "upload", "download"),
    [
        ("s3://b/p", {"max_concurrency": 6}, {"max_concurrency": 6}),
        ("wasbs://c@acct.blob.core.windows.net/p", {"max_concurrency": 6}, {"max_concurrency": 6}),
        ("gs://b/p", {}, {"concurrency": 6}),  # gcsfs uploads one chunk at a time: no knob
    ],
)
def test_the_concurrency_budget_reaches_each_clients_own_option(uri, upload, download):
    env = {"ARTIFACT_FS_PARTS_IN_FLIGHT": "6", "ARTIFACT_FS_FILES_IN_FLIGHT": "3"}
    resolved = resolve(uri, env=env)
    assert {k: v for k, v in resolved.upload_options.items() if k in ("max_concurrency", "concurrency")} == upload
    assert {k: v for k, v in resolved.download_options.items() if k in ("max_concurrency", "concurrency")} == download
    assert resolved.upload_options["batch_size"] == resolved.download_options["batch_size"] == 3
    assert resolved.sources["upload:batch_size"] == "environment ARTIFACT_FS_FILES_IN_FLIGHT"


def test_a_bad_budget_names_its_variable():
    with pytest.raises(ValueError, match="ARTIFACT_FS_PARTS_IN_FLIGHT"):
        resolve("s3://b/p", env={"ARTIFACT_FS_PARTS_IN_FLIGHT": "0"})
