"""The hostile-input corpus (``tests/data/hostile.toml``, ~200 cases) against real stores.

Every case must end in a clear ``MlflowException`` naming the culprit (or, for accepted
names, an exact round trip), with zero bytes written outside the artifact root or the
download directory, and no traceback from deep inside a dependency for a plain user error.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import uuid
from collections.abc import Callable

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli, a dependency there (see pyproject.toml)
    import tomli as tomllib

import pytest
from mlflow.exceptions import MlflowException

from artifact_fs import FsspecArtifactRepository

from .conftest import NEEDS_OBSTORE, new_bucket
from .servers.azure import ACCOUNT

CORPUS = tomllib.loads((pathlib.Path(__file__).parent / "data" / "hostile.toml").read_text(encoding="utf-8"))
PATHS = CORPUS["artifact_paths"]
# TOML cannot hold lone surrogates: those cases are written as Python escapes and decoded here
PATHS["refused"] += [text.encode("ascii").decode("unicode_escape") for text in PATHS.pop("refused_escaped")]
ENV_CASES = [(entry, value) for entry in CORPUS["env"] for value in entry["values"]]
PACKAGE = str(pathlib.Path(__file__).resolve().parent.parent / "artifact_fs")


def test_the_corpus_has_at_least_150_cases():
    counted = (
        len(PATHS["refused"]) + len(PATHS["accepted"]) + len(PATHS["normalised"])
        + len(CORPUS["store_keys"]["escaping"]) + len(CORPUS["uris"]["malformed"]) + len(ENV_CASES)
    )  # fmt: skip
    assert counted >= 150, counted


def _ids(values):
    return [ascii(v)[:60] for v in values]


def plain_user_error(exc: BaseException, code: str = "INVALID_PARAMETER_VALUE") -> str:
    """Assert ``exc`` is an MlflowException with ``code`` whose whole chain was raised by
    artifact_fs itself (no frame from a dependency); return its message."""
    assert isinstance(exc, MlflowException), repr(exc)
    assert exc.error_code == code, (exc.error_code, exc.message)
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    while cause is not None:
        frames = []
        tb = cause.__traceback__
        while tb is not None:
            frames.append(tb.tb_frame.f_code.co_filename)
            tb = tb.tb_next
        deep = [f for f in frames if not f.startswith(PACKAGE)]
        assert not deep, f"{type(cause).__name__} raised from {deep}"
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
    return exc.message


def outside(container: pathlib.Path, *allowed: pathlib.Path) -> list[str]:
    """Every file under ``container`` that is not under one of ``allowed``."""
    found = []
    for dirpath, _dirs, files in os.walk(container):
        for name in files:
            full = pathlib.Path(dirpath, name)
            if not any(full.is_relative_to(a) for a in allowed):
                found.append(str(full))
    return found


@pytest.fixture
def local(tmp_path):
    """A local artifact root inside a sandbox, a source file and directory, a download dir."""
    sandbox = tmp_path / "sandbox"
    root, src, dst = sandbox / "container" / "root", sandbox / "src", sandbox / "dst"
    for d in (root, src / "dir", dst):
        d.mkdir(parents=True)
    (src / "f.txt").write_bytes(b"payload")
    (src / "dir" / "g.txt").write_bytes(b"tree")
    return FsspecArtifactRepository(str(root)), sandbox, root, src, dst


# --- artifact paths --------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS["refused"], ids=_ids(PATHS["refused"]))
def test_refused_artifact_paths_on_every_call(local, path):
    repo, sandbox, root, src, dst = local
    calls = {
        "log_artifact": lambda: repo.log_artifact(str(src / "f.txt"), path),
        "log_artifacts": lambda: repo.log_artifacts(str(src / "dir"), path),
        "list_artifacts": lambda: repo.list_artifacts(path),
        "download_artifacts": lambda: repo.download_artifacts(path, str(dst)),
        "delete_artifacts": lambda: repo.delete_artifacts(path),
    }
    for name, call in calls.items():
        with pytest.raises(MlflowException) as info:
            call()
        message = plain_user_error(info.value)
        assert "Invalid artifact path" in message and repr(path)[:40] in message, (name, message)
    assert outside(sandbox, root, src) == [] and os.listdir(root) == [] and os.listdir(dst) == []


def _round_trip(repo, given: str, stored: str, src: pathlib.Path, dst: pathlib.Path) -> None:
    repo.log_artifact(str(src / "f.txt"), given)
    assert [(i.path, i.file_size) for i in repo.list_artifacts(given)] == [(f"{stored}/f.txt", 7)]
    local = repo.download_artifacts(f"{stored}/f.txt", str(dst))
    assert pathlib.Path(local).read_bytes() == b"payload"
    assert pathlib.Path(local).resolve().is_relative_to(dst.resolve())


@pytest.mark.parametrize("path", PATHS["accepted"], ids=_ids(PATHS["accepted"]))
def test_accepted_names_round_trip_exactly_on_local_roots(local, path):
    repo, sandbox, root, src, dst = local
    _round_trip(repo, path, path, src, dst)
    assert (root / path / "f.txt").read_bytes() == b"payload"
    assert outside(sandbox, root, src, dst) == []


@pytest.mark.parametrize(("given", "stored"), PATHS["normalised"], ids=_ids([g for g, _ in PATHS["normalised"]]))
def test_normalised_paths(local, given, stored):
    repo, sandbox, root, src, dst = local
    _round_trip(repo, given, stored, src, dst)
    assert outside(sandbox, root, src, dst) == []


# --- the same names on every store ----------------------------------------------------------


@dataclasses.dataclass
class Store:
    """A fresh, empty location on one store: ``base`` URI, the storage options a repository
    there needs, ``listing()`` (every file below ``base``, relative to it, straight from the
    store or its disk) and ``missing`` (the same root in a bucket or container that does not exist)."""

    name: str
    base: str
    listing: Callable[[], list[str]]
    options: dict = dataclasses.field(default_factory=dict)
    missing: str | None = None

    def repo(self, sub: str) -> FsspecArtifactRepository:
        return FsspecArtifactRepository(f"{self.base}/{sub}", **self.options)


def _walk(root: pathlib.Path) -> Callable[[], list[str]]:
    return lambda: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _local_store(request, monkeypatch, tmp_path) -> Store:
    root = tmp_path / "store"
    root.mkdir()
    return Store("local", str(root), _walk(root))


def _s3_store(request, monkeypatch, tmp_path, engine: str = "fsspec") -> Store:
    monkeypatch.setenv("ARTIFACT_FS_ENGINE", engine)
    server = request.getfixturevalue("seaweedfs")
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    bucket, client = new_bucket(server), server.boto3_client()

    def listing():
        return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))

    return Store("s3", f"s3://{bucket}", listing, missing=f"s3://nosuch-{uuid.uuid4().hex[:12]}/run")


def _gcs_store(request, monkeypatch, tmp_path) -> Store:
    server = request.getfixturevalue("fake_gcs")
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    bucket = f"t-{uuid.uuid4().hex[:16]}"
    server.create_bucket(bucket)
    return Store(
        "gcs",
        f"gs://{bucket}",
        lambda: sorted(server.objects(bucket)),
        missing=f"gs://nosuch-{uuid.uuid4().hex[:12]}/run",
    )


def _azure_store(request, monkeypatch, tmp_path) -> Store:
    server = request.getfixturevalue("azurite")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", server.connection_string())
    container = server.create_container()
    host = f"{ACCOUNT}.blob.core.windows.net"
    missing = f"wasbs://nosuch-{uuid.uuid4().hex[:12]}@{host}/run"

    def listing():
        return server.blob_names(container)

    return Store("azure", f"wasbs://{container}@{host}", listing, missing=missing)


def _sftp_store(request, monkeypatch, tmp_path) -> Store:
    server = request.getfixturevalue("sshd")  # ours, not a reused one: the check walks its files here
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no user ~/.ssh/config in the way
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(server.known_hosts_line())
    root = tmp_path / "remote"
    root.mkdir()
    options = {"client_keys": [server.client_key], "known_hosts": str(known_hosts)}
    return Store("sftp", server.uri(str(root)), _walk(root), options)


def _ftp_store(request, monkeypatch, tmp_path) -> Store:
    server = request.getfixturevalue("pyftpdlib")  # ours, not a reused one: the check walks its root here
    sub = uuid.uuid4().hex
    (server.root / sub).mkdir()
    return Store("ftp", server.uri(f"/{sub}"), _walk(server.root / sub))


def _s3_obstore_store(request, monkeypatch, tmp_path) -> Store:
    return _s3_store(request, monkeypatch, tmp_path, "obstore")


STORES = {
    "local": _local_store,
    "s3": _s3_store,
    "s3-obstore": _s3_obstore_store,
    "gcs": _gcs_store,
    "azure": _azure_store,
    "sftp": _sftp_store,
    "ftp": _ftp_store,
}


@pytest.fixture(params=list(STORES))
def store(request, monkeypatch, tmp_path) -> Store:
    return STORES[request.param](request, monkeypatch, tmp_path)


def _source(tmp_path: pathlib.Path) -> pathlib.Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.txt").write_bytes(b"payload")
    return src


def test_accepted_names_round_trip_exactly_on_every_store(store, tmp_path):
    """One root for all the names (a bucket per case would cost SeaweedFS a volume each)."""
    src = _source(tmp_path)
    for i, path in enumerate(PATHS["accepted"]):
        dst = tmp_path / f"dst{i}"
        dst.mkdir()
        _round_trip(store.repo(f"run{i}"), path, path, src, dst)
        keys = [key for key in store.listing() if key.startswith(f"run{i}/")]
        assert keys == [f"run{i}/{path}/f.txt"], (path, keys)


def test_encoded_separators_in_local_names_are_carried_literally(store, tmp_path):
    """A file or directory literally named ``d%2Fe`` is stored, listed and downloaded as ``d%2Fe``."""
    src = tmp_path / "tree"
    (src / "d%2Fe").mkdir(parents=True)
    (src / "d%2Fe" / "f%2Fg.txt").write_bytes(b"inner")
    (src / "a%5Cb.txt").write_bytes(b"outer")
    repo = store.repo("run")
    repo.log_artifacts(str(src))
    assert [(i.path, i.is_dir) for i in repo.list_artifacts()] == [("a%5Cb.txt", False), ("d%2Fe", True)]
    assert [i.path for i in repo.list_artifacts("d%2Fe")] == ["d%2Fe/f%2Fg.txt"]
    assert store.listing() == ["run/a%5Cb.txt", "run/d%2Fe/f%2Fg.txt"]
    dst = tmp_path / "dst"
    dst.mkdir()
    repo.download_artifacts("", str(dst))
    assert sorted(str(p.relative_to(dst)) for p in dst.rglob("*") if p.is_file()) == ["a%5Cb.txt", "d%2Fe/f%2Fg.txt"]
    assert (dst / "d%2Fe" / "f%2Fg.txt").read_bytes() == b"inner"


def test_names_that_are_not_utf8_are_refused_before_any_byte_is_written(store, tmp_path):
    """A local file name that is not UTF-8 reaches Python as a lone surrogate (``os.fsdecode``):
    no store can carry it, so every upload naming it is refused up front, naming the path."""
    clean, src = _source(tmp_path), tmp_path / "latin1"
    src.mkdir()
    bad = os.path.join(os.fsencode(src), b"caf\xe9.txt")
    with open(bad, "wb") as handle:
        handle.write(b"latin-1 name")
    repo = store.repo("run")
    calls = {
        "file": lambda: repo.log_artifact(os.fsdecode(bad)),
        "tree": lambda: repo.log_artifacts(str(src)),
        "artifact_path": lambda: repo.log_artifact(str(clean / "f.txt"), "d/\udcff"),
        "tree artifact_path": lambda: repo.log_artifacts(str(clean), "\udcff/x"),
    }
    for name, call in calls.items():
        with pytest.raises(MlflowException) as info:
            call()
        message = plain_user_error(info.value)
        assert "Invalid artifact path" in message and ("\\udce9" in message or "\\udcff" in message), (name, message)
        message.encode("utf-8")  # printable as it is: the name is shown escaped
    assert store.listing() == []


@pytest.fixture(params=["s3", "s3-obstore", "gcs", "azure"])
def bucket_store(request, monkeypatch, tmp_path) -> Store:
    return STORES[request.param](request, monkeypatch, tmp_path)


def test_a_missing_bucket_is_an_error_naming_it(bucket_store):
    """A mistyped bucket or container must not look like an empty run; a missing path under
    an existing root still lists as empty."""
    store = bucket_store
    assert store.repo("run").list_artifacts() == [] and store.repo("run").list_artifacts("absent/dir") == []
    bucket = store.missing.split("://", 1)[1].split("@")[0].split("/")[0]
    with pytest.raises(MlflowException) as info:
        FsspecArtifactRepository(store.missing, **store.options).list_artifacts()
    message = plain_user_error(info.value, "RESOURCE_DOES_NOT_EXIST")
    assert repr(bucket) in message and "does not exist" in message, message


# --- a hostile store --------------------------------------------------------------------------


@pytest.mark.s3
@pytest.mark.parametrize("engine", ["fsspec", pytest.param("obstore", marks=NEEDS_OBSTORE)])
@pytest.mark.parametrize("key", CORPUS["store_keys"]["escaping"], ids=_ids(CORPUS["store_keys"]["escaping"]))
def test_listed_keys_that_would_escape_the_download_directory_are_refused(moto, monkeypatch, tmp_path, key, engine):
    """moto keeps keys literally (``run/../escape.txt`` is one key), as S3 does. s3fs lists it,
    and the path policy refuses it by its whole name; object_store refuses the listing itself,
    naming the key as far as it read it (``run/../``)."""
    for name, value in {**moto.env(), "ARTIFACT_FS_ENGINE": engine}.items():
        monkeypatch.setenv(name, value)
    bucket, client = new_bucket(moto), moto.boto3_client()
    client.put_object(Bucket=bucket, Key="run/ok.txt", Body=b"ok")
    client.put_object(Bucket=bucket, Key=f"run/{key}", Body=b"hostile")
    sandbox = tmp_path / "sandbox"
    dst = sandbox / "deep" / "dst"
    dst.mkdir(parents=True)
    repo = FsspecArtifactRepository(f"s3://{bucket}/run")
    with pytest.raises(MlflowException) as info:
        repo.download_artifacts("", str(dst))
    message = plain_user_error(info.value)
    whole = f"the store lists a key {key!r}" in message
    as_object_store_read_it = engine == "obstore" and "the store lists a key 'run/" in message
    assert "Invalid artifact path" in message and (whole or as_object_store_read_it), message
    assert outside(sandbox, dst) == [], "a hostile listed key wrote outside the download directory"
    for path in dst.rglob("*"):
        assert path.resolve().is_relative_to(dst.resolve())


# --- malformed URIs and bad settings ---------------------------------------------------------


@pytest.mark.parametrize("uri", CORPUS["uris"]["malformed"], ids=_ids(CORPUS["uris"]["malformed"]))
def test_malformed_uris_are_refused_when_the_repository_is_built(uri, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MlflowException) as info:
        FsspecArtifactRepository(uri)
    message = plain_user_error(info.value)
    scheme = uri.partition(":")[0] if "://" in uri else "path"
    assert scheme in message or "URI" in message, message
    for secret in ("hunter2", "secretsig", "pw@"):
        assert secret not in message
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("entry", "value"), ENV_CASES, ids=[f"{e['var']}={ascii(v)[:30]}" for e, v in ENV_CASES])
def test_bad_environment_values_name_their_variable(entry, value, monkeypatch):
    for name, other in entry.get("also", {}).items():
        monkeypatch.setenv(name, other)
    monkeypatch.setenv(entry["var"], value)
    with pytest.raises(MlflowException) as info:
        FsspecArtifactRepository(entry["uri"])
    message = plain_user_error(info.value)
    assert entry["var"] in message
    for secret in entry.get("also", {}).values():
        assert secret not in message
