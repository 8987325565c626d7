"""URI grammar: every MLflow scheme → exact fsspec protocol, URL and storage options."""

from __future__ import annotations

import os

import pytest

from artifact_fs import InvalidURIError

from .conftest import resolve_on_fsspec as resolve  # exact options: s3fs's names

NO_CACHE = {"use_listings_cache": False}
AZURE_DEFAULTS = {"anon": False, "skip_instance_cache": True, **NO_CACHE}
ONE_ATTEMPT = {"retries": {"total_max_attempts": 1}}  # S3 rows: artifact_fs's retry budget is the only layer
S3_DEFAULTS = {**NO_CACHE, "config_kwargs": ONE_ATTEMPT}
SFTP_DEFAULTS = {"known_hosts": (), "connect_timeout": 30, "keepalive_interval": 15, "keepalive_count_max": 1}

CASES = [
    # (uri, protocol, url, storage options) with an empty environment
    ("s3://bkt/a/b/", "s3", "s3://bkt/a/b", S3_DEFAULTS),
    ("s3://bkt", "s3", "s3://bkt", S3_DEFAULTS),
    ("S3://bkt/Key", "s3", "s3://bkt/Key", S3_DEFAULTS),
    (
        "r2://bkt@acct123.r2.cloudflarestorage.com/runs",
        "s3",
        "s3://bkt/runs",
        {
            **NO_CACHE,
            "client_kwargs": {"region_name": "auto"},
            "fixed_upload_size": True,
            "endpoint_url": "https://acct123.r2.cloudflarestorage.com",
            "config_kwargs": {"s3": {"addressing_style": "virtual"}, **ONE_ATTEMPT},
        },
    ),
    (
        "b2://bkt@s3.us-west-004.backblazeb2.com/p",
        "s3",
        "s3://bkt/p",
        {
            **NO_CACHE,
            "endpoint_url": "https://s3.us-west-004.backblazeb2.com",
            "client_kwargs": {"region_name": "us-west-004"},
            "config_kwargs": {"s3": {"addressing_style": "path"}, **ONE_ATTEMPT},
        },
    ),
    ("gs://bkt/x/y", "gcs", "gcs://bkt/x/y", NO_CACHE),
    ("gs://bkt", "gcs", "gcs://bkt", NO_CACHE),
    (
        "wasbs://cont@acct.blob.core.windows.net/p/q",
        "abfs",
        "abfs://cont/p/q",
        {**AZURE_DEFAULTS, "account_name": "acct"},
    ),
    (
        "wasbs://cont@acct.blob.core.chinacloudapi.cn/p",
        "abfs",
        "abfs://cont/p",
        {**AZURE_DEFAULTS, "account_name": "acct", "account_host": "acct.blob.core.chinacloudapi.cn"},
    ),
    (
        "wasbs://cont@acct.blob.core.usgovcloudapi.net",
        "abfs",
        "abfs://cont",
        {**AZURE_DEFAULTS, "account_name": "acct", "account_host": "acct.blob.core.usgovcloudapi.net"},
    ),
    (
        "abfss://fs@acct.dfs.core.windows.net/a%20b/c",
        "abfs",
        "abfs://fs/a b/c",
        {**AZURE_DEFAULTS, "account_name": "acct"},
    ),
    (
        "abfss://fs@acct.dfs.core.chinacloudapi.cn/p",
        "abfs",
        "abfs://fs/p",
        {**AZURE_DEFAULTS, "account_name": "acct", "account_host": "acct.blob.core.chinacloudapi.cn"},
    ),
    (
        "sftp://alice:p%40ss@example.com:2222/data/mlruns",
        "sftp",
        "sftp://example.com:2222/data/mlruns",
        {**SFTP_DEFAULTS, "host": "example.com", "port": 2222, "username": "alice", "password": "p@ss"},
    ),
    ("sftp://example.com", "sftp", "sftp://example.com/", {**SFTP_DEFAULTS, "host": "example.com"}),
    (
        "ftp://bob:p%40ss@ftp.example.com/dir",
        "ftp",
        "ftp://ftp.example.com/dir",
        {**NO_CACHE, "host": "ftp.example.com", "username": "bob", "password": "p@ss"},
    ),
    ("ftp://localhost:2121", "ftp", "ftp://localhost:2121/", {**NO_CACHE, "host": "localhost", "port": 2121}),
    # hdfs-native (the default HDFS client): no host means fs.defaultFS; a new client per repository
    ("hdfs:/data/x", "hdfs", "hdfs:///data/x", {"skip_instance_cache": True}),
    ("hdfs:///data/x", "hdfs", "hdfs:///data/x", {"skip_instance_cache": True}),
    (
        "hdfs://NameNode:8020/data",
        "hdfs",
        "hdfs://NameNode:8020/data",
        {"skip_instance_cache": True, "host": "NameNode", "port": 8020},
    ),
    ("viewfs://cluster/data", "viewfs", "viewfs://cluster/data", {"skip_instance_cache": True, "host": "cluster"}),
    ("file:///tmp/a%20b/c", "file", "file:///tmp/a b/c", {"auto_mkdir": True}),
    ("file://localhost/tmp/x", "file", "file:///tmp/x", {"auto_mkdir": True}),
    ("/tmp/plain/path/", "file", "file:///tmp/plain/path", {"auto_mkdir": True}),
    ("/tmp/pct%20decoded", "file", "file:///tmp/pct decoded", {"auto_mkdir": True}),
    ("C:\\Users\\me\\mlruns", "file", "file://C:/Users/me/mlruns", {"auto_mkdir": True}),
    ("memory://bucket/x/", "memory", "memory:///bucket/x", {}),
]


@pytest.mark.parametrize(("uri", "protocol", "url", "options"), CASES, ids=[c[0] for c in CASES])
def test_every_scheme_resolves_to_exact_options(uri, protocol, url, options):
    resolved = resolve(uri, env={})
    assert (resolved.protocol, resolved.url, resolved.storage_options) == (protocol, url, options)


@pytest.mark.parametrize("uri", ["relative/dir", "file:relative/dir", "./x/../y"])
def test_relative_paths_resolve_against_the_working_directory(uri, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    expected = os.path.normpath(os.path.join(tmp_path, uri.removeprefix("file:")))
    assert resolve(uri, env={}).root == expected


@pytest.mark.parametrize("uri", ["az://cont/p", "abfs://cont/p", "gcs://bkt/p", "memory://m/p"])
def test_other_fsspec_protocols_pass_through_unchanged(uri):
    import fsspec

    resolved = resolve(uri, env={})
    cls = fsspec.get_filesystem_class(uri.split("://")[0])
    assert resolved.root == cls._strip_protocol(uri).rstrip("/")
    assert resolved.storage_options == cls._get_kwargs_from_urls(uri)


BAD = [
    ("nosuch://bucket/x", "MLflow schemes are"),
    ("wasb://c@acct.blob.core.windows.net/p", "MLflow schemes are"),
    ("wasbs://c@acct.dfs.core.windows.net/p", "must be of the form"),
    ("wasbs://acct.blob.core.windows.net/p", "must be of the form"),
    ("abfss://no-account-here/p", "must be of the form"),
    ("b2://bkt@example.com/p", "must be of the form"),
    ("r2://no-endpoint/p", "must be of the form"),
    ("s3:///key-without-bucket", "must be of the form"),
    ("s3://bkt/key?versionId=1", "query or fragment"),
    ("gs://bkt/a#frag", "query or fragment"),
    ("s3://bkt/a\x00b", "control character"),
    ("sftp://host:notaport/x", "malformed"),
    ("/tmp/nul\x00byte", "NUL"),
    ("sftp://:@/", "names no host"),
    ("sftp:///abs/path", "names no host"),
    ("ftp://:@/", "names no host"),
    ("ftp:///x", "names no host"),
    ("file://otherhost/path", "names the host 'otherhost'"),
    ("file://u:pw@otherhost/path", "names the host 'otherhost'"),
]


@pytest.mark.parametrize(("uri", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_uris_name_the_problem(uri, message):
    with pytest.raises(InvalidURIError, match=message):
        resolve(uri, env={})


def test_unknown_scheme_lists_supported_ones():
    with pytest.raises(InvalidURIError) as info:
        resolve("nosuch://x", env={})
    for scheme in ("s3", "gs", "wasbs", "abfss", "sftp", "ftp", "hdfs", "viewfs", "r2", "b2", "file"):
        assert scheme in str(info.value)


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("sftp://alice:hunter2@host/x?y=1", "alice:***@host"),
        ("sftp://alice:hunter2@[::1/x", "alice:***@[::1/x"),  # urlsplit refuses it: redacted all the same
        ("ftp://alice:hunter2@/x", "alice:***@/x"),
        ("file://alice:hunter2@otherhost/x", "alice:***@otherhost"),
    ],
)
def test_passwords_never_appear_in_uri_errors(uri, shown):
    with pytest.raises(InvalidURIError) as info:
        resolve(uri, env={})
    assert "hunter2" not in str(info.value) and shown in str(info.value)


def test_redact_uri_reads_the_text_itself():
    """Even a URI urlsplit refuses is redacted; the others as before."""
    from artifact_fs.uri import redact_uri

    cases = {
        "sftp://u:p@[::1/x": "sftp://u:***@[::1/x",
        "sftp://u:p@h/x": "sftp://u:***@h/x",
        "ftp://:@/": "ftp://:***@/",
        "ftp://u:p@ss@h:21/x?y#z": "ftp://u:***@h:21/x?y#z",  # the last '@' ends the user-info
        "sftp://u@h/x:p@y": "sftp://u@h/x:p@y",  # no password: unchanged ('@' in the path is no user-info)
        "s3://bucket/key": "s3://bucket/key",
        "/plain/path": "/plain/path",
    }
    assert {uri: redact_uri(uri) for uri in cases} == cases
