"""``gs``, ``wasbs`` and ``abfss`` on the obstore engine (``ARTIFACT_FS_ENGINE=obstore``):
each setting lands in obstore's configuration or is refused by name, secrets stay out of
reprs and pickles, and on the real emulators the listed digest (GCS) or size (Azure) is
checked, names are carried exactly and a hung server fails within the timeout.

(The repository contract runs on this engine in test_backend_gcs.py and test_backend_azure.py.)
"""

from __future__ import annotations

import datetime
import pickle
import urllib.parse
import urllib.request

import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

import artifact_fs
from artifact_fs import FsspecArtifactRepository, resolve
from artifact_fs.backends import scheme_row
from artifact_fs.backends.gcs_obstore import etag_md5
from artifact_fs.errors import IntegrityError, InvalidSettingError
from artifact_fs.obstore_config import NO_TIMEOUT
from artifact_fs.opener import open_filesystem

from .conftest import NEEDS_OBSTORE, calls_on_a_paused_server, new_bucket, run_without_obstore
from .gcs_xml_shim import GCSXMLShim
from .servers.azure import ACCOUNT, KEY, azurite_server
from .servers.gcs import gcs_server

pytestmark = NEEDS_OBSTORE

OBSTORE = {"ARTIFACT_FS_ENGINE": "obstore"}
GS, WASBS, ABFSS = (
    "gs://b/run",
    f"wasbs://c@{ACCOUNT}.blob.core.windows.net/run",
    "abfss://c@acct.dfs.core.windows.net/r",
)
CS, ACCESS, ACCOUNT_KEY, SAS = (
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
)
SP = {"AZURE_STORAGE_CLIENT_ID": "cid", "AZURE_STORAGE_CLIENT_SECRET": "csecret", "AZURE_STORAGE_TENANT_ID": "tid"}


def opened(uri: str, env: dict):
    """The obstore filesystem the URI opens in ``env`` (no I/O: obstore builds stores on first use)."""
    fs = open_filesystem(resolve(uri, env={**OBSTORE, **env}))
    assert type(fs).__module__.endswith("_obstore_fs"), type(fs)
    return fs


# --- GCS settings -------------------------------------------------------------------------------


def test_gcs_settings_land_in_obstores_config():
    fs = opened(GS, {"STORAGE_EMULATOR_HOST": "127.0.0.1:4443", "GOOGLE_CLOUD_PROJECT": "p",
                     "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT": "7"})  # fmt: skip
    assert type(fs).__name__ == "ObstoreGCSFileSystem"
    assert fs._config == {"base_url": "http://127.0.0.1:4443"}  # no project: obstore names none
    assert fs._client_options == {"allow_http": True, "timeout": datetime.timedelta(seconds=7),
                                  "connect_timeout": datetime.timedelta(seconds=7)}  # fmt: skip
    assert fs._credential_provider() == {"token": "", "expires_at": None}  # anonymous, as google-cloud-storage
    assert fs._retry_config["max_retries"] == 0  # the retry budget is artifact_fs's

    keyed = opened(GS, {"STORAGE_EMULATOR_HOST": "https://gcs.test", "GOOGLE_APPLICATION_CREDENTIALS": "/k/sa.json"})
    assert keyed._config == {"base_url": "https://gcs.test", "application_credentials": "/k/sa.json"}
    assert keyed._credential_provider is None and "allow_http" not in keyed._client_options


def test_gcs_timeouts_chunk_sizes_and_parts_in_flight():
    assert opened(GS, {})._client_options == {"timeout": NO_TIMEOUT}  # not obstore's 30 s per request
    assert opened(GS, {"MLFLOW_GCS_DEFAULT_TIMEOUT": "-1"})._client_options == {"timeout": NO_TIMEOUT}
    assert opened(GS, {"MLFLOW_GCS_DEFAULT_TIMEOUT": "2.5"})._client_options["timeout"].total_seconds() == 2.5
    resolved = resolve(GS, env={**OBSTORE, "MLFLOW_GCS_UPLOAD_CHUNK_SIZE": str(16 * 2**20),
                                "ARTIFACT_FS_PARTS_IN_FLIGHT": "3"})  # fmt: skip
    assert resolved.upload_options == {"chunksize": 16 * 2**20, "max_concurrency": 3}
    assert resolve(GS, env=OBSTORE).upload_options == {"chunksize": 8 * 2**20, "max_concurrency": 4}


@pytest.mark.parametrize(
    ("variable", "value", "why"),
    [
        ("MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE", str(2**20), "one streamed GET"),
        ("MLFLOW_GCS_UPLOAD_CHUNK_SIZE", str(2**20), "at least 5242880 bytes"),
    ],
)
def test_gcs_settings_obstore_cannot_honour_are_refused_by_name(variable, value, why):
    with pytest.raises(InvalidSettingError, match=variable) as info:
        resolve(GS, env={**OBSTORE, variable: value})
    assert "ARTIFACT_FS_ENGINE=obstore" in str(info.value) and why in str(info.value)
    resolve(GS, env={variable: value})  # the fsspec engine honours it


def test_gcs_etag_is_an_md5_only_when_it_is_one():
    md5 = "5d41402abc4b2a76b9719d911017c592"  # of b"hello"
    assert etag_md5(f'"{md5.upper()}"') == md5  # real GCS, one piece: the hex MD5
    assert etag_md5('"XUFAKrxLKna5cZ2REBfFkg=="') == md5  # fake-gcs-server: base64
    for other in (f'"{md5}-3"', '"CKih16GjycICEAE="', "", None, '"not base64 at all!!!!=="'):
        assert etag_md5(other) is None  # multipart, composed, JSON generation tags: size only


# --- Azure settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "config", "route"),
    [
        ({ACCESS: "k1", ACCOUNT_KEY: "k2", SAS: "s", **SP}, {"account_key": "k1"}, "access_key"),
        ({ACCOUNT_KEY: "k2", SAS: "s", **SP}, {"account_key": "k2"}, "access_key"),
        ({SAS: "?sv=1&sig=s", **SP}, {"sas_key": "sv=1&sig=s"}, "sas_token"),
        (SP, {"client_id": "cid", "client_secret": "csecret", "tenant_id": "tid"}, "client_secret"),
        ({"AZURE_STORAGE_CLIENT_ID": "cid"}, {}, "DefaultAzureCredential"),  # part of one: as adlfs
        ({}, {}, "DefaultAzureCredential"),
    ],
)
@pytest.mark.parametrize("uri", [WASBS, ABFSS])
def test_azure_credentials_in_mlflows_order_pinned_for_obstore(uri, env, config, route):
    fs = opened(uri, env)
    assert fs.credential_route == route
    pinned = {"access_key": "access_key", "sas_token": "sas_token", "client_secret": "client_secret"}.get(route)
    account = uri.split("@")[1].split(".")[0]
    expected = {"account_name": account, **config, **({"credential_type": pinned} if pinned else {})}
    assert fs._config == expected  # obstore's own AZURE_* environment cannot pick another route
    if route == "DefaultAzureCredential":
        assert type(fs._credential_provider._credential).__name__ == "DefaultAzureCredential"
    else:
        assert fs._credential_provider is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint=http://127.0.0.1:1/x/;",
            {"account_name": ACCOUNT, "account_key": KEY, "endpoint": "http://127.0.0.1:1/x"},
        ),
        (
            "AccountName=other;SharedAccessSignature=?sv=2&sig=z;EndpointSuffix=core.chinacloudapi.cn",
            {"account_name": "other", "sas_key": "sv=2&sig=z", "endpoint": "https://other.blob.core.chinacloudapi.cn"},
        ),
        ("UseDevelopmentStorage=true", {"account_name": "acct", "use_emulator": True}),
    ],
)
def test_azure_connection_string_wins_over_the_uri_and_every_other_credential(text, expected):
    fs = opened(ABFSS, {CS: text, ACCESS: "ignored", **SP})
    pinned = {"account_key": "access_key", "sas_key": "sas_token"}
    types = [pinned[name] for name in pinned if name in expected]
    assert fs._config == {**expected, **({"credential_type": types[0]} if types else {})}
    assert fs._client_options.get("allow_http", False) == ("http://" in text or "Development" in text)


def test_azure_uri_suffix_and_fsspecs_account_host_set_the_endpoint():
    china = "wasbs://c@acct.blob.core.chinacloudapi.cn/p"
    assert opened(china, {ACCESS: "k"})._config["endpoint"] == "https://acct.blob.core.chinacloudapi.cn"
    assert "endpoint" not in opened(ABFSS, {ACCESS: "k"})._config  # obstore's https://acct.blob.core.windows.net
    fs = opened(ABFSS, {ACCESS: "k", "FSSPEC_ABFS_ACCOUNT_HOST": "127.0.0.1:9/acct"})
    assert fs._config["endpoint"] == "https://127.0.0.1:9/acct"


@pytest.mark.parametrize("bad", ["AccountKey=k", "no pairs here", "AccountName=a;=x"])
def test_a_malformed_connection_string_is_refused_without_showing_it(bad):
    with pytest.raises(InvalidSettingError, match=CS) as info:
        resolve(WASBS, env={**OBSTORE, CS: bad})
    assert bad not in str(info.value)


def test_azure_timeout_parts_and_retries():
    fs = opened(WASBS, {"MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT": "4", "ARTIFACT_FS_PARTS_IN_FLIGHT": "2"})
    assert fs._client_options == {
        "timeout": datetime.timedelta(seconds=4),
        "connect_timeout": datetime.timedelta(seconds=4),
    }
    assert fs._retry_config["max_retries"] == 0
    resolved = resolve(WASBS, env={**OBSTORE, "ARTIFACT_FS_PARTS_IN_FLIGHT": "2"})
    assert resolved.upload_options == {"chunksize": 8 * 2**20, "max_concurrency": 2}
    assert opened(WASBS, {"MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT": "-1"})._client_options == {"timeout": NO_TIMEOUT}


# --- secrets: every secret row of the obstore alternatives ---------------------------------------

OBSTORE_ROWS = [scheme_row(name).alternatives["obstore"] for name in ("gs", "wasbs", "abfss")]


@pytest.mark.parametrize("row", OBSTORE_ROWS, ids=lambda row: row.name)
def test_secrets_are_redacted_and_never_pickled(row, monkeypatch):
    secrets = {s.var: f"Secret{i:03d}Value" for i, s in enumerate(row.client.settings) if s.secret}
    assert (row.name == "gs") == (not secrets)  # GCS's only credential is a file's path
    if CS in secrets:
        secrets[CS] = f"AccountName=acct;AccountKey={secrets[CS]}"
    uri = {"gs": GS, "wasbs": WASBS, "abfss": ABFSS}[row.name]
    for env in ({CS: secrets[CS]}, {k: v for k, v in secrets.items() if k != CS}) if secrets else ({},):
        for name, value in {**OBSTORE, **env}.items():
            monkeypatch.setenv(name, value)
        repo = get_artifact_repository(uri)
        assert type(repo.fs).__module__.endswith("_obstore_fs")
        texts = [repr(repo.resolved), str(repo.resolved.redacted()), repr(repo), repr(repo.fs)]
        blobs = [pickle.dumps(repo), pickle.dumps(repo.fs)]
        for value in env.values():
            secret = value.rpartition("=")[2]
            assert not [t for t in texts if secret in t] and not [b for b in blobs if secret.encode() in b]
        monkeypatch.delenv("ARTIFACT_FS_ENGINE")  # the engine travels in the pickle (a setting, no secret)
        assert type(pickle.loads(blobs[1])) is type(repo.fs)
        assert type(pickle.loads(blobs[0]).fs) is type(repo.fs)
        for name in env:
            monkeypatch.delenv(name)


# --- GCS on fake-gcs-server ------------------------------------------------------------------------


def _seed(server, bucket: str, name: str, data: bytes) -> None:
    """An object written through the emulator's JSON API (not through obstore)."""
    query = f"uploadType=media&name={urllib.parse.quote(name, safe='')}"
    request = urllib.request.Request(
        f"{server.endpoint_url}/upload/storage/v1/b/{bucket}/o?{query}", data, method="POST"
    )
    urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10).read()


def test_gcs_reads_listings_and_deletes_on_the_bare_emulator(fake_gcs, monkeypatch, tmp_path):
    """No shim: what obstore reads and deletes is the emulator's own answer (uploads need the shim)."""
    for name, value in {**fake_gcs.env(), **OBSTORE}.items():
        monkeypatch.setenv(name, value)
    bucket = new_bucket(fake_gcs)
    for name, data in {"run/a.txt": b"hello", "run/d/b.bin": b"\x00" * 300, "run/d/\u00e9 #?.txt": b"odd"}.items():
        _seed(fake_gcs, bucket, name, data)
    repo = get_artifact_repository(f"gs://{bucket}/run")
    assert [(i.path, i.is_dir, i.file_size) for i in repo.list_artifacts()] == [("a.txt", False, 5), ("d", True, None)]
    assert repo.fs.info(f"{bucket}/run/a.txt")["md5"] == "5d41402abc4b2a76b9719d911017c592"
    local = repo.download_artifacts("d", str(tmp_path))
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["b.bin", "\u00e9 #?.txt"] and local == str(
        tmp_path / "d"
    )
    repo.delete_artifacts("d")
    assert list(fake_gcs.objects(bucket)) == ["run/a.txt"]


def test_gcs_an_upload_the_emulator_refuses_fails_with_its_answer(fake_gcs, monkeypatch, tmp_path):
    """fake-gcs-server has no XML upload API (hence the shim elsewhere): its 400 must reach the caller."""
    for name, value in {**fake_gcs.env(), **OBSTORE}.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "up.txt").write_text("up")
    with pytest.raises(MlflowException, match="invalid uploadType"):
        get_artifact_repository(f"gs://{new_bucket(fake_gcs)}/run").log_artifact(tmp_path / "up.txt")


def test_gcs_an_object_replaced_after_the_listing_fails_the_download_on_its_md5(fake_gcs, monkeypatch, tmp_path):
    for name, value in {**fake_gcs.env(), **OBSTORE}.items():
        monkeypatch.setenv(name, value)
    bucket = new_bucket(fake_gcs)
    _seed(fake_gcs, bucket, "run/d/a.txt", b"the bytes that were logged")
    repo = FsspecArtifactRepository(f"gs://{bucket}/run")
    dst = tmp_path / "dst"
    dst.mkdir()
    pairs, _dirs, expected = repo._plan_tree(repo._remote("d"), "d", str(dst))  # the listing is trusted ...
    _seed(fake_gcs, bucket, "run/d/a.txt", b"THE BYTES THAT WERE LOGGED")  # ... and the object changes, same size
    with pytest.raises(IntegrityError, match="md5"):
        repo._download(pairs, expected)


def test_gcs_a_hung_server_fails_within_the_timeout(tmp_path_factory, monkeypatch, tmp_path):
    with gcs_server(tmp_path_factory.mktemp("gcs-obstore-paused"), reuse=False) as server:
        shim = GCSXMLShim(server.endpoint_url)
        try:
            for name, value in {**server.env(), **OBSTORE, "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT": "3"}.items():
                monkeypatch.setenv(name, value)
            monkeypatch.setenv("STORAGE_EMULATOR_HOST", shim.endpoint_url)
            repo = get_artifact_repository(f"gs://{new_bucket(server)}/run")
            (tmp_path / "a.txt").write_text("a")
            repo.log_artifact(tmp_path / "a.txt")
            _fails_within_the_bound(server, repo, tmp_path)
        finally:
            shim.close()


def _fails_within_the_bound(server, repo, tmp_path) -> None:
    errors = calls_on_a_paused_server(server, repo, tmp_path, "obstore, timeout 3 s")
    assert {name: error.error_code for name, error in errors.items()} == dict.fromkeys(
        errors, "TEMPORARILY_UNAVAILABLE"
    )


# --- Azure on Azurite ----------------------------------------------------------------------------------


@pytest.fixture
def azure_obstore(azurite, monkeypatch):
    monkeypatch.setenv(CS, azurite.connection_string())
    monkeypatch.setenv("ARTIFACT_FS_ENGINE", "obstore")
    return azurite.create_container()


@pytest.mark.parametrize("scheme", ["wasbs", "abfss"])
def test_azure_content_headers_and_exact_names(scheme, azure_obstore, azurite, tmp_path):
    container, host = azure_obstore, {"wasbs": "blob", "abfss": "dfs"}[scheme]
    names = {"m.json": b"{}", "bundle.tar.gz": b"\x1f\x8b", "a?b=c#d/x": b"q", "trailing /y ": b"s", "100% done": b"p"}
    for name, data in names.items():
        (tmp_path / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / name).write_bytes(data)
    repo = get_artifact_repository(f"{scheme}://{container}@{ACCOUNT}.{host}.core.windows.net/root")
    repo.log_artifacts(tmp_path / "src")
    assert azurite.blob_names(container) == sorted(f"root/{name}" for name in names)
    blobs = azurite.service_client().get_container_client(container)
    settings = {n: blobs.get_blob_client(f"root/{n}").get_blob_properties().content_settings for n in names}
    assert (settings["m.json"].content_type, settings["m.json"].content_encoding) == ("application/json", None)
    assert (settings["bundle.tar.gz"].content_type, settings["bundle.tar.gz"].content_encoding) == (
        "application/x-tar",
        "gzip",
    )
    assert [(i.path, i.file_size) for i in repo.list_artifacts("a?b=c#d")] == [("a?b=c#d/x", 1)]
    (tmp_path / "dst").mkdir()
    downloaded = repo.download_artifacts("", str(tmp_path / "dst"))
    assert {name: (tmp_path / "dst" / name).read_bytes() for name in names} == names and downloaded
    repo.delete_artifacts("a?b=c#d")
    repo.delete_artifacts("trailing ")
    assert azurite.blob_names(container) == ["root/100% done", "root/bundle.tar.gz", "root/m.json"]


def test_azure_checks_sizes_a_blob_replaced_after_the_listing_fails_the_download(azure_obstore, azurite, tmp_path):
    blobs = azurite.service_client().get_container_client(azure_obstore)
    blobs.upload_blob("run/d/a.txt", b"the bytes that were logged")
    repo = FsspecArtifactRepository(f"wasbs://{azure_obstore}@{ACCOUNT}.blob.core.windows.net/run")
    dst = tmp_path / "dst"
    dst.mkdir()
    pairs, _dirs, expected = repo._plan_tree(repo._remote("d"), "d", str(dst))
    blobs.upload_blob("run/d/a.txt", b"other bytes, another size", overwrite=True)
    with pytest.raises(IntegrityError, match="size"):
        repo._download(pairs, expected)


def test_azure_a_hung_server_fails_within_the_timeout(tmp_path_factory, monkeypatch, tmp_path):
    with azurite_server(tmp_path_factory.mktemp("azurite-obstore-paused"), reuse=False) as server:
        for name, value in {
            CS: server.connection_string(),
            **OBSTORE,
            "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT": "3",
        }.items():
            monkeypatch.setenv(name, value)
        repo = get_artifact_repository(f"wasbs://{server.create_container()}@{ACCOUNT}.blob.core.windows.net/run")
        (tmp_path / "a.txt").write_text("a")
        repo.log_artifact(tmp_path / "a.txt")
        _fails_within_the_bound(server, repo, tmp_path)


def test_the_filesystem_of_an_obstore_uri(azure_obstore):
    fs, root = artifact_fs.filesystem(f"abfss://{azure_obstore}@{ACCOUNT}.dfs.core.windows.net/r")
    fs.pipe_file(f"{root}/x?y", b"1")
    assert root == f"{azure_obstore}/r" and fs.cat_file(f"abfs://{root}/x?y") == b"1"
    assert fs.find(root) == [f"{root}/x?y"]


def test_without_obstore_gs_and_azure_resolve_and_opening_names_the_extra():
    """obstore is an optional extra: the rows' settings import none of it; opening names the extra."""
    code = (
        "from artifact_fs import resolve\n"
        "from artifact_fs.opener import open_filesystem\n"
        f"for uri in ({GS!r}, {WASBS!r}, {ABFSS!r}):\n"
        "    resolved = resolve(uri, {'ARTIFACT_FS_ENGINE': 'obstore', 'MLFLOW_GCS_UPLOAD_CHUNK_SIZE': '8388608'})\n"
        "    try:\n"
        "        open_filesystem(resolved)\n"
        "    except ImportError as exc:\n"
        "        print(type(exc).__name__, 'artifact_fs[obstore]' in str(exc))\n"
    )
    out = run_without_obstore(code)
    assert out.split("\n")[:3] == ["BackendNotInstalledError True"] * 3, out
