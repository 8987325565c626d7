"""Azure Blob (``wasbs://``) and ADLS Gen2 (``abfss://``) through adlfs against real Azurite.

Azurite has no ``dfs`` endpoint: ``abfss://fs@account.dfs.core.windows.net/...`` reaches it
through adlfs's blob endpoint, which is how every ``abfss://`` URI is served here.

Over plain HTTP the dev account is reached the natural way, ``AZURE_STORAGE_CONNECTION_STRING``.
The account-key and SAS routes make adlfs build ``https://<account_host>``, so they run
against an HTTPS Azurite, in a fresh Python whose ``SSL_CERT_FILE`` trusts its throwaway CA
(aiohttp reads the trust store once, at import) and whose ``FSSPEC_ABFS_ACCOUNT_HOST``
(fsspec's own configuration) names ``127.0.0.1:PORT/devstoreaccount1``.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
import logging
import os
import pathlib
import re

import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from artifact_fs import FsspecArtifactRepository, resolve
from artifact_fs.backends import scheme_row
from artifact_fs.opener import open_filesystem

from .conftest import calls_on_a_paused_server
from .contract import RepositoryContract
from .servers.azure import ACCOUNT, KEY, azurite_server

WRONG_KEY = base64.b64encode(b"not-the-dev-account-key-" * 3).decode()
TAMPERED = base64.b64encode(b"a-signature-made-with-no-key-at-all").decode().replace("=", "%3D")
CS, ACCESS, ACCOUNT_KEY, SAS = (
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
)
SP = {"AZURE_STORAGE_CLIENT_ID": "cid", "AZURE_STORAGE_CLIENT_SECRET": "csecret", "AZURE_STORAGE_TENANT_ID": "tid"}


def uri(scheme: str, container: str, path: str = "") -> str:
    """A real-world-shaped URI for the dev account: wasbs on ``blob.``, abfss on ``dfs.``."""
    host = {"wasbs": "blob", "abfss": "dfs"}[scheme]
    return f"{scheme}://{container}@{ACCOUNT}.{host}.core.windows.net{'/' + path if path else ''}"


@pytest.fixture
def container(azurite, monkeypatch):
    """A fresh container, reached through ``AZURE_STORAGE_CONNECTION_STRING``."""
    monkeypatch.setenv(CS, azurite.connection_string())
    return azurite.create_container()


class AzureContract(RepositoryContract):
    scheme, path = "wasbs", "mlruns/1/run/artifacts"

    @pytest.fixture
    def container_uri(self, container):
        return uri(self.scheme, container)

    @pytest.fixture
    def artifact_uri(self, container):
        return uri(self.scheme, container, self.path)


class TestWasbs(AzureContract):
    pass


class TestAbfss(AzureContract):
    scheme = "abfss"


class TestWasbsContainerRoot(AzureContract):
    """The artifact root is the container itself: nothing may ever delete the container."""

    path = ""

    @pytest.fixture
    def outside(self):
        return lambda: set()

    def test_delete_everything_keeps_the_container(self, repo, source, container, azurite):
        repo.log_artifacts(source)
        repo.delete_artifacts()
        assert azurite.blob_names(container) == []
        repo.log_artifact(source / "a.txt")  # the container is still there
        assert azurite.blob_names(container) == ["a.txt"]


class TestAbfssContainerRoot(TestWasbsContainerRoot):
    scheme = "abfss"


class ObstoreAzureContract(AzureContract):
    """The same contract on the obstore engine (artifact_fs/backends/azure_obstore.py)."""

    @pytest.fixture(autouse=True)
    def _obstore(self, monkeypatch):
        monkeypatch.setenv("ARTIFACT_FS_ENGINE", "obstore")

    def test_the_engine(self, repo):
        assert type(repo.fs).__name__ == "ObstoreAzureFileSystem" and repo.fs.credential_route == "access_key"


class TestWasbsObstore(ObstoreAzureContract):
    pass


class TestAbfssObstore(ObstoreAzureContract):
    scheme = "abfss"


class TestWasbsContainerRootObstore(ObstoreAzureContract, TestWasbsContainerRoot):
    pass


# --- settings: credentials, adlfs's own variables, the instance cache ----------------------


@pytest.mark.parametrize("scheme", ["wasbs", "abfss"])
@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({CS: "cs", ACCESS: "k1", ACCOUNT_KEY: "k2", SAS: "sas", **SP}, {"connection_string": CS}),
        ({ACCESS: "k1", ACCOUNT_KEY: "k2", SAS: "sas", **SP}, {"account_key": ACCESS}),
        ({ACCOUNT_KEY: "k2", SAS: "sas", **SP}, {"account_key": ACCOUNT_KEY}),
        ({SAS: "sas", **SP}, {"sas_token": SAS}),
        (
            SP,
            {
                "client_id": "AZURE_STORAGE_CLIENT_ID",
                "client_secret": "AZURE_STORAGE_CLIENT_SECRET",
                "tenant_id": "AZURE_STORAGE_TENANT_ID",
            },
        ),
        ({}, {}),  # nothing: anon=False, so adlfs builds a DefaultAzureCredential
    ],
)
def test_credential_precedence_is_the_same_for_both_schemes(scheme, env, expected):
    resolved = resolve(uri(scheme, "c", "p"), env=env)
    credentials = {
        k: v.removeprefix("environment ") for k, v in resolved.sources.items() if v.startswith("environment")
    }
    assert credentials == expected
    assert resolved.storage_options["anon"] is False
    for name in (CS, ACCESS, ACCOUNT_KEY, SAS, "AZURE_STORAGE_CLIENT_SECRET"):
        if name in env:
            assert f"'{env[name]}'" not in repr(resolved)  # every secret is redacted


def test_every_variable_adlfs_reads_is_decided_by_the_table():
    """adlfs reads ``value or os.getenv(...)``: an unset option cannot stop it, so each of
    its variables is either a row of the table or overridden by an explicit value."""
    import adlfs.spec

    read = set(re.findall(r'os\.getenv\(\s*"([A-Z_]+)"', inspect.getsource(adlfs.spec.AzureBlobFileSystem.__init__)))
    assert {CS, ACCOUNT_KEY, SAS, "AZURE_STORAGE_ANON"} <= read  # the scan itself works
    for scheme in ("wasbs", "abfss"):
        in_table = {setting.var for setting in scheme_row(scheme).client.settings}
        assert read - in_table == {"AZURE_STORAGE_ANON", "AZURE_STORAGE_ACCOUNT_NAME"}
        options = resolve(uri(scheme, "c", "p"), env={}).storage_options
        assert options["anon"] is False and options["account_name"] == ACCOUNT  # explicit, so never read


def test_adlfs_own_variables_never_sneak_in(container, azurite, monkeypatch, tmp_path):
    junk = {ACCOUNT_KEY: WRONG_KEY, SAS: "sv=2020&sig=junk", "AZURE_STORAGE_ANON": "true",
            "AZURE_STORAGE_ACCOUNT_NAME": "someoneelse", **SP}  # fmt: skip
    for name, value in junk.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "a.txt").write_text("a")
    repo = get_artifact_repository(uri("wasbs", container, "p"))
    repo.log_artifact(tmp_path / "a.txt")  # the connection string, nothing else
    assert [i.path for i in repo.list_artifacts()] == ["a.txt"]
    assert repo.fs.anon is False and repo.fs.account_name == ACCOUNT
    monkeypatch.delenv(CS)
    for name in (ACCOUNT_KEY, SAS, *SP):
        monkeypatch.delenv(name)
    fs = open_filesystem(resolve(uri("abfss", container, "p")))  # no credential: no I/O yet
    assert fs.anon is False and type(fs.credential).__name__ == "DefaultAzureCredential"


def test_changed_connection_string_never_reuses_a_filesystem(container, azurite, monkeypatch, tmp_path):
    (tmp_path / "a.txt").write_text("a")
    target = uri("wasbs", container, "p")
    first = get_artifact_repository(target)
    first.log_artifact(tmp_path / "a.txt")
    monkeypatch.setenv(CS, azurite.connection_string(WRONG_KEY))
    with pytest.raises(MlflowException):
        get_artifact_repository(target).log_artifact(tmp_path / "a.txt", "again")
    monkeypatch.setenv(CS, azurite.connection_string())
    second = get_artifact_repository(target)
    assert second.fs is not first.fs  # never from fsspec's instance cache (DefaultAzureCredential)
    assert [i.path for i in second.list_artifacts()] == ["a.txt"]


def test_wrong_key_fails_clearly_without_leaking_it(container, azurite, monkeypatch, tmp_path, caplog):
    monkeypatch.setenv(CS, azurite.connection_string(WRONG_KEY))
    (tmp_path / "a.txt").write_text("a")
    caplog.set_level(logging.DEBUG)
    repo = get_artifact_repository(uri("abfss", container, "p"))
    with pytest.raises(MlflowException) as info:
        repo.log_artifact(tmp_path / "a.txt")
    assert "Failed to log artifact" in info.value.message
    for text in (info.value.message, repr(repo), str(repo.resolved.redacted()), caplog.text):
        assert WRONG_KEY not in text and KEY not in text


def test_missing_container_is_named_by_listings_and_downloads_fail_clearly(azurite, monkeypatch, tmp_path):
    monkeypatch.setenv(CS, azurite.connection_string())
    repo = get_artifact_repository(uri("wasbs", "no-such-container", "p"))
    with pytest.raises(MlflowException) as listed:
        repo.list_artifacts()  # a mistyped container is no empty run
    assert listed.value.error_code == "RESOURCE_DOES_NOT_EXIST" and "no-such-container" in listed.value.message
    with pytest.raises(MlflowException) as info:
        repo.download_artifacts("x.txt", str(tmp_path))
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_abfss_path_is_percent_decoded_as_mlflow_does(container, azurite, tmp_path):
    (tmp_path / "a.txt").write_text("a")
    get_artifact_repository(uri("abfss", container, "with%20space/x")).log_artifact(tmp_path / "a.txt")
    assert azurite.blob_names(container) == ["with space/x/a.txt"]


@pytest.mark.parametrize("scheme", ["wasbs", "abfss"])
def test_content_type_and_encoding_are_guessed(scheme, container, azurite, tmp_path):
    for name, data in {"m.json": b"{}", "page.html": b"<p>", "bundle.tar.gz": b"\x1f\x8b", "noext": b"x"}.items():
        (tmp_path / name).write_bytes(data)
    get_artifact_repository(uri(scheme, container, "root")).log_artifacts(tmp_path)
    blobs = azurite.service_client().get_container_client(container)

    def headers(name):
        settings = blobs.get_blob_client(f"root/{name}").get_blob_properties().content_settings
        return settings.content_type, settings.content_encoding

    assert headers("m.json") == ("application/json", None)
    assert headers("page.html") == ("text/html", None)
    assert headers("bundle.tar.gz") == ("application/x-tar", "gzip")
    assert headers("noext") == ("application/octet-stream", None)  # no guess: the service's default


def test_blobs_over_16_mib_are_staged_in_blocks_and_smaller_ones_keep_their_md5(container, azurite, tmp_path):
    # One PUT reads the whole blob into memory (the SDK's limit is 64 MiB): above 16 MiB
    # artifact_fs stages 4 MiB blocks, which bounds memory; the service then lists no MD5.
    small, big = tmp_path / "small.bin", tmp_path / "big.bin"
    small.write_bytes(os.urandom(16 * 2**20))
    big.write_bytes(os.urandom(16 * 2**20 + 1))
    repo = get_artifact_repository(uri("wasbs", container, "root"))
    repo.log_artifact(small)
    repo.log_artifact(big)
    blobs = azurite.service_client().get_container_client(container)
    committed = {
        name: blobs.get_blob_client(f"root/{name}").get_block_list("committed")[0] for name in ("small.bin", "big.bin")
    }
    assert committed["small.bin"] == [] and len(committed["big.bin"]) == 5
    md5 = blobs.get_blob_client("root/small.bin").get_blob_properties().content_settings.content_md5
    assert bytes(md5) == hashlib.md5(small.read_bytes()).digest()
    (tmp_path / "dst").mkdir()
    downloaded = repo.download_artifacts("big.bin", str(tmp_path / "dst"))
    assert pathlib.Path(downloaded).read_bytes() == big.read_bytes()


@pytest.mark.parametrize("timeout", [None, "30"])  # with a timeout the adlfs instance is wrapped (BoundedCalls)
def test_a_directory_listing_is_one_request_and_files_and_missing_paths_list_nothing(
    timeout, container, azurite, tmp_path, caplog, monkeypatch
):
    if timeout:
        monkeypatch.setenv("MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT", timeout)
    for rel in ("d/a.txt", "d/sub/b.txt", "d/c.bin", "top.txt"):
        (tmp_path / "src" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / rel).write_text(rel)
    repo = get_artifact_repository(uri("wasbs", container, "root"))
    repo.log_artifacts(tmp_path / "src")
    caplog.set_level(logging.DEBUG, logger="azure.core.pipeline.policies.http_logging_policy")
    caplog.clear()
    listed = [(i.path, i.is_dir, i.file_size) for i in repo.list_artifacts("d")]
    assert listed == [("d/a.txt", False, 7), ("d/c.bin", False, 7), ("d/sub", True, None)]
    assert sum("Request URL" in r.getMessage() for r in caplog.records) == 1  # adlfs alone asks twice
    assert repo.list_artifacts("top.txt") == [] and repo.list_artifacts("nowhere") == []
    assert [i.path for i in repo.list_artifacts("d/sub")] == ["d/sub/b.txt"]


def test_downloads_go_in_8_mib_gets(container, azurite, tmp_path, caplog):
    # The SDK's own default is one 32 MiB GET held whole in memory, then 4 MiB ranges.
    data = os.urandom(20 * 2**20 + 5)
    (tmp_path / "w.bin").write_bytes(data)
    repo = get_artifact_repository(uri("wasbs", container, "root"))
    repo.log_artifact(tmp_path / "w.bin")
    (tmp_path / "dst").mkdir()
    caplog.set_level(logging.DEBUG, logger="azure.core.pipeline.policies.http_logging_policy")
    caplog.clear()
    assert pathlib.Path(repo.download_artifacts("w.bin", str(tmp_path / "dst"))).read_bytes() == data
    gets = caplog.text.count("Request method: 'GET'")
    assert gets == 3  # 0-8, 8-16, 16-20 MiB (the SDK alone: one GET of all 20 MiB)


# --- names adlfs reads as URLs, globs or padded: carried exactly ------------------------------

EXACT_NAMES = ["a?b=c#d", "#", "?", "a ", ". ", ".. ", "   ", "x#y/z?w", "100% done", "v?versionid=1"]
#: more files than integrity.INFO_LOOKUPS: the upload is verified from a listing of their parent
EXACT_TREE = {**{f"{i}.txt": f"file {i}".encode() for i in range(9)}, "sub/g ?#[1].txt": b"g", "sub/  ": b"spaces"}


def _twins(name: str) -> list[str]:
    """Names a mangled ``name`` would hit: the one its ``?`` matches as a glob, the one without trailing spaces."""
    stripped = "/".join(segment.rstrip() for segment in name.split("/"))
    twins = {name.replace("?", "Q")} | (
        {stripped} if all(s not in ("", ".", "..") for s in stripped.split("/")) else set()
    )
    return sorted(twins - {name})


@pytest.mark.parametrize(("scheme", "timeout"), [("wasbs", None), ("abfss", None), ("wasbs", "30")])
def test_names_with_query_fragment_percent_and_trailing_spaces_round_trip_exactly(
    scheme, timeout, container, azurite, tmp_path, monkeypatch
):
    # With a transfer timeout the opener wraps the adlfs instance (BoundedCalls): the hooks must reach it.
    if timeout:
        monkeypatch.setenv("MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT", timeout)
    blobs = azurite.service_client().get_container_client(container)

    def stored(prefix: str) -> list[str]:  # straight from azure-storage-blob, not through adlfs
        return sorted(blob.name for blob in blobs.list_blobs(name_starts_with=prefix))

    (tmp_path / "f.txt").write_bytes(b"payload")
    for rel, data in EXACT_TREE.items():
        (tmp_path / "tree" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "tree" / rel).write_bytes(data)
    tree_blobs = sorted(f"tree/{rel}" for rel in EXACT_TREE)
    for number, name in enumerate(EXACT_NAMES):
        root, twins = f"run{number}", _twins(name)
        repo = get_artifact_repository(uri(scheme, container, root))
        for twin in twins:
            repo.log_artifact(tmp_path / "f.txt", twin)
        repo.log_artifact(tmp_path / "f.txt", name)
        repo.log_artifacts(tmp_path / "tree", f"{name}/tree")
        mine = sorted([f"{root}/{name}/f.txt"] + [f"{root}/{name}/{rel}" for rel in tree_blobs])
        assert stored(f"{root}/") == sorted(mine + [f"{root}/{twin}/f.txt" for twin in twins]), name

        assert [i.path for i in repo.list_artifacts()] == sorted({n.split("/")[0] for n in [name, *twins]})
        listed = [(i.path, i.is_dir, i.file_size) for i in repo.list_artifacts(name)]
        assert listed == [(f"{name}/f.txt", False, 7), (f"{name}/tree", True, None)], name
        assert [(i.path, i.file_size) for i in repo.list_artifacts(f"{name}/tree/sub")] == [
            (f"{name}/tree/sub/  ", 6),
            (f"{name}/tree/sub/g ?#[1].txt", 1),
        ]
        assert repo.list_artifacts(f"{name}/f.txt") == []

        dst = tmp_path / f"dst{number}"
        dst.mkdir()
        assert pathlib.Path(repo.download_artifacts(f"{name}/f.txt", str(dst))).read_bytes() == b"payload"
        whole = pathlib.Path(repo.download_artifacts(name, str(dst)))
        assert whole == dst / name
        downloaded = {str(p.relative_to(whole)): p.read_bytes() for p in whole.rglob("*") if p.is_file()}
        assert downloaded == {"f.txt": b"payload", **{f"tree/{rel}": data for rel, data in EXACT_TREE.items()}}

        repo.delete_artifacts(f"{name}/tree/sub/g ?#[1].txt")  # that blob, not what the glob matches
        repo.delete_artifacts(f"{name}/f.txt")
        assert stored(f"{root}/{name}/") == [
            f"{root}/{name}/{rel}" for rel in tree_blobs if rel != "tree/sub/g ?#[1].txt"
        ]
        repo.delete_artifacts(name)
        assert stored(f"{root}/") == [f"{root}/{twin}/f.txt" for twin in twins], name
        assert repo.list_artifacts(name) == []


def test_the_filesystem_of_an_azure_uri_takes_names_exactly_and_globs_only_what_matches_nothing(container, azurite):
    import artifact_fs

    blobs = azurite.service_client().get_container_client(container)
    for name in ("r/a?b=c#d/f", "r/?/f", "r/x/f", "r/a /f", "r/a/f", "r/t1.csv", "r/t2.csv", "r/[1]", "r/1"):
        blobs.upload_blob(name, name.encode())
    fs, root = artifact_fs.filesystem(uri("wasbs", container, "r"))
    assert root == f"{container}/r"
    assert fs.ls(f"{root}/a ") == [f"{root}/a /f"]
    assert fs.ls(f"{root}/?") == [f"{root}/?/f"]
    assert fs.cat_file(f"{root}/a?b=c#d/f") == b"r/a?b=c#d/f"
    with fs.open(f"abfs://{container}@{ACCOUNT}.dfs.core.windows.net/r/a?b=c#d/f") as handle:
        assert handle.read() == b"r/a?b=c#d/f"
    assert not fs.exists(f"{root}/#")  # not r/
    assert fs.info(f"abfs://{root}/?") == {"name": f"{root}/?", "size": None, "type": "directory"}
    assert sorted(fs.find(f"{root}/?", withdirs=True)) == [f"{root}/?/f"]
    fs.rm([f"{root}/?/f", f"{root}/[1]"])  # those blobs, not r/x/f nor r/1
    assert sorted(b.name for b in blobs.list_blobs()) == [
        "r/1",
        "r/a /f",
        "r/a/f",
        "r/a?b=c#d/f",
        "r/t1.csv",
        "r/t2.csv",
        "r/x/f",
    ]
    fs.rm(f"{root}/a ", recursive=True)
    fs.rm(f"{root}/t?.csv")  # no blob has that name: still a glob
    assert sorted(b.name for b in blobs.list_blobs()) == ["r/1", "r/a/f", "r/a?b=c#d/f", "r/x/f"]


# --- a hung server ---------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [2, 5])
def test_a_hung_server_fails_within_the_timeout(tmp_path_factory, monkeypatch, tmp_path, seconds):
    """SIGSTOP: the kernel still accepts connections, nothing answers. Without the setting
    azure-core waits 60 s per attempt, four attempts, plus backoff (about 5 minutes)."""
    # Its own Azurite, not conftest's: this one is SIGSTOPped.
    with azurite_server(tmp_path_factory.mktemp("azurite-paused"), reuse=False) as server:
        monkeypatch.setenv(CS, server.connection_string())
        monkeypatch.setenv("MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT", str(seconds))
        repo = get_artifact_repository(uri("wasbs", server.create_container(), "run"))
        (tmp_path / "a.txt").write_text("a")
        repo.log_artifact(tmp_path / "a.txt")  # connected and working
        calls_on_a_paused_server(server, repo, tmp_path, f"MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT={seconds}")


def test_timeout_minus_one_sets_no_limit_and_keeps_retries():
    resolved = resolve(uri("wasbs", "c", "p"), env={"MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT": "-1"})
    assert "retry_read" not in resolved.upload_options and resolved.fs_attributes == {"call_timeout": None}
    assert resolved.storage_options["read_timeout"] is None and resolved.storage_options["timeout"] is None


# --- account key and SAS token: adlfs's https://<account_host> route, on HTTPS Azurite ---------

#: Runs in a fresh Python: each step changes the environment, builds a repository through
#: MLflow's registry, logs, lists, downloads and deletes one file. Prints one result per
#: step and everything logged (DEBUG, every library).
PROBE = r"""
import io, json, logging, os, pathlib, sys, tempfile
logging.basicConfig(level=logging.DEBUG, stream=(log := io.StringIO()))
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

plan, work = json.loads(sys.argv[1]), pathlib.Path(tempfile.mkdtemp())
(work / "a.txt").write_text("probe")
results = []
for i, step in enumerate(plan["steps"]):
    for name in step.get("unset", []):
        os.environ.pop(name, None)
    os.environ.update(step.get("env", {}))
    repo = get_artifact_repository(plan["uri"])
    sources = {k: v for k, v in repo.resolved.sources.items() if v.startswith("environment AZURE")}
    try:
        repo.log_artifact(str(work / "a.txt"), f"step{i}")
        listed = [info.path for info in repo.list_artifacts(f"step{i}")]
        (work / f"dst{i}").mkdir()
        data = pathlib.Path(repo.download_artifacts(f"step{i}/a.txt", str(work / f"dst{i}"))).read_text()
        repo.delete_artifacts(f"step{i}")
        ok = listed == [f"step{i}/a.txt"] and data == "probe" and repo.list_artifacts(f"step{i}") == []
        results.append({"ok": ok, "sources": sources})
    except MlflowException as exc:
        results.append({"ok": False, "sources": sources, "error": exc.message})
print(json.dumps({"results": results, "log": log.getvalue()}))
"""


def probe(server, target: str, steps: list[dict], logged: bool = True) -> list[dict]:
    """Run :data:`PROBE`'s steps against ``server`` (HTTPS) in a fresh interpreter (``logged``:
    the client logs its requests, as azure-core does and obstore does not)."""
    output = json.loads(server.run_python(PROBE, json.dumps({"uri": target, "steps": steps})).splitlines()[-1])
    assert "devstoreaccount1" in output["log"] or not logged  # the requests were logged...
    secrets = {KEY} | {
        v for step in steps for k, v in step.get("env", {}).items() if k in (CS, ACCESS, ACCOUNT_KEY, SAS)
    }
    for secret in secrets:  # ...and no secret, nor a SAS signature, shows in a log line or message
        signature = re.search(r"sig=([^&]+)", secret)
        for text in filter(None, (secret.lstrip("?"), signature and signature.group(1))):
            assert text not in json.dumps(output)
    return output["results"]


def _outcomes(results):
    """Per step: True, or the service's error code; and which variables were used."""
    codes = [r["ok"] or re.search(r"ErrorCode:(\w+)", r["error"]).group(1) for r in results]
    return [(code, sorted(r["sources"].values())) for code, r in zip(codes, results)]


@pytest.mark.parametrize("scheme", ["wasbs", "abfss"])
def test_account_key_with_the_uri_account_and_mlflow_precedence(azurite_https, scheme):
    target = uri(scheme, azurite_https.create_container(), "run")
    results = probe(azurite_https, target, [
        {"env": {ACCESS: KEY}},  # MLflow's variable; the account comes from the URI
        {"unset": [ACCESS], "env": {ACCOUNT_KEY: KEY}},  # adlfs's name for it
        {"env": {ACCESS: WRONG_KEY}},  # MLflow's wins over adlfs's, and no stale client
        {"env": {CS: azurite_https.connection_string(WRONG_KEY), ACCESS: KEY}},  # the connection string first
        {"env": {CS: azurite_https.connection_string()}},
    ])  # fmt: skip
    key = f"environment {ACCESS}"
    assert _outcomes(results) == [
        (True, [key]),
        (True, [f"environment {ACCOUNT_KEY}"]),
        ("AuthorizationFailure", [key]),
        ("AuthorizationFailure", [f"environment {CS}"]),
        (True, [f"environment {CS}"]),
    ], results


@pytest.mark.parametrize("scheme", ["abfss", "wasbs"])
def test_sas_token_generated_with_the_dev_key(azurite_https, scheme):
    container = azurite_https.create_container()
    full = dict(read=True, write=True, delete=True, list=True, add=True, create=True)
    container_sas = azurite_https.sas(container, **full)
    results = probe(azurite_https, uri(scheme, container, "run"), [
        {"env": {SAS: container_sas}},
        {"env": {SAS: "?" + azurite_https.sas(**full)}},  # as copied from the portal, leading '?'
        {"env": {SAS: azurite_https.sas(container, read=True, list=True)}},  # read-only: the token governs
        {"env": {SAS: re.sub(r"sig=[^&]+", f"sig={TAMPERED}", container_sas)}},  # a signature the key did not make
        {"env": {SAS: container_sas, **SP}},  # adlfs's service principal ranks below the SAS
    ])  # fmt: skip
    sas = f"environment {SAS}"
    assert _outcomes(results) == [
        (True, [sas]),
        (True, [sas]),
        ("AuthorizationPermissionMismatch", [sas]),
        ("AuthorizationFailure", [sas]),
        (True, [sas]),
    ], results


@pytest.mark.parametrize("scheme", ["wasbs", "abfss"])
def test_obstore_engine_takes_keys_connection_strings_and_sas_in_mlflows_order(azurite_https, scheme):
    """The obstore engine's routes on HTTPS Azurite (its CA trusted through SSL_CERT_FILE, as
    obstore reads it). obstore's own variables (AZURE_CLIENT_ID...) are set throughout: the
    route the table chose is pinned, so they never win."""
    container = azurite_https.create_container()
    full = dict(read=True, write=True, delete=True, list=True, add=True, create=True)
    sas = azurite_https.sas(container, **full)
    theirs = {
        "ARTIFACT_FS_ENGINE": "obstore",
        "AZURE_CLIENT_ID": "x",
        "AZURE_CLIENT_SECRET": "y",
        "AZURE_TENANT_ID": "z",
    }
    results = probe(azurite_https, uri(scheme, container, "run"), [
        {"env": {**theirs, ACCESS: KEY}},  # the account from the URI, its host from fsspec's account_host
        {"unset": [ACCESS], "env": {ACCOUNT_KEY: KEY}},
        {"env": {ACCESS: WRONG_KEY}},  # MLflow's name wins over adlfs's
        {"env": {CS: azurite_https.connection_string(WRONG_KEY), ACCESS: KEY}},  # the connection string first
        {"env": {CS: azurite_https.connection_string()}},
        {"unset": [CS, ACCESS, ACCOUNT_KEY], "env": {SAS: "?" + sas}},
        {"env": {SAS: azurite_https.sas(container, read=True, list=True)}},  # read-only: the token governs
        {"env": {SAS: sas, **SP}},  # the SAS ranks above the service principal
    ], logged=False)  # fmt: skip
    used = [sorted(r["sources"].values()) for r in results]
    assert [r["ok"] for r in results] == [True, True, False, False, True, True, False, True], results
    assert used == [[f"environment {v}"] for v in (ACCESS, ACCOUNT_KEY, ACCESS, CS, CS, SAS, SAS, SAS)], used


# --- MLflow end to end ------------------------------------------------------------------------

TREE = {
    "model/weights.bin": os.urandom(300_000),
    "model/empty.bin": b"",
    "model/.config": b"dot-file",
    "model/.hidden/.also": b"",
    "model/sub/deeper/z\u00e9ro.txt": b"",
    "model/donn\u00e9es/na\u00efve r\u00e9sum\u00e9.txt": "caf\u00e9".encode(),
    "model/\u65e5\u672c\u8a9e.json": b'{"k": 1}',
}


def _walk(client, run_id, path=None) -> dict[str, int]:
    """Every file under ``path`` with its size, listed through MlflowClient."""
    found = {}
    for info in client.list_artifacts(run_id, path):
        found.update(_walk(client, run_id, info.path) if info.is_dir else {info.path: info.file_size})
    return found


@pytest.mark.parametrize("scheme", ["wasbs", "abfss"])
def test_unchanged_mlflow_code_logs_through_artifact_fs(scheme, container, azurite, tmp_path, monkeypatch):
    import mlflow
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    for name, data in TREE.items():
        (tmp_path / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / name).write_bytes(data)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("azure-e2e", artifact_location=uri(scheme, container, "mlruns"))
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_artifacts(str(tmp_path / "src" / "model"), "model")
            mlflow.log_text("inline", "texts/inline.txt")
        assert run.info.artifact_uri.startswith(f"{scheme}://")
        client = MlflowClient()
        assert [(i.path, i.is_dir) for i in client.list_artifacts(run.info.run_id)] == [
            ("model", True),
            ("texts", True),
        ]
        assert _walk(client, run.info.run_id, "model") == {name: len(data) for name, data in TREE.items()}
        local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=str(tmp_path / "dl"))
        downloaded = {
            str(path.relative_to(local)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in pathlib.Path(local).rglob("*") if path.is_file()
        }  # fmt: skip
        expected = {name: hashlib.sha256(data).hexdigest() for name, data in TREE.items()}
        assert downloaded == {**expected, "texts/inline.txt": hashlib.sha256(b"inline").hexdigest()}
        prefix = f"mlruns/{run.info.run_id}/artifacts/"
        assert azurite.blob_names(container) == sorted(prefix + name for name in [*TREE, "texts/inline.txt"])
        repo = get_artifact_repository(run.info.artifact_uri)
        assert isinstance(repo, FsspecArtifactRepository)
        repo.delete_artifacts("model")
        assert [i.path for i in client.list_artifacts(run.info.run_id)] == ["texts"]
        repo.delete_artifacts()
        assert azurite.blob_names(container) == []
    finally:
        mlflow.set_tracking_uri(None)
