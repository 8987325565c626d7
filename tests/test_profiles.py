"""Profiles: matching, the precedence of every layer, references, and bad files.

Pure resolver tests: each writes a real profiles file and calls ``resolve`` with an
explicit environment. The end-to-end test with two S3 servers is in
``test_profiles_two_servers.py``.
"""

from __future__ import annotations

import os
import textwrap
import warnings

import pytest

from artifact_fs.errors import InvalidProfilesError
from artifact_fs.profiles import ProfilesWarning, match_key

from .conftest import resolve_on_fsspec as resolve  # profiles give s3fs's option names here


@pytest.fixture
def write_profiles(tmp_path):
    """Write a profiles file (mode 600 unless told) and return the env that points at it."""

    def write(text: str, mode: int = 0o600, **env: str) -> dict[str, str]:
        path = tmp_path / "profiles.toml"
        path.write_text(textwrap.dedent(text))
        os.chmod(path, mode)
        return {"ARTIFACT_FS_PROFILES": str(path), **env}

    return write


TWO_STORES = """
    [profiles.team-a]
    match = "s3://shared"
    endpoint_url = "http://a.example:9000"
    access_key_id = "env:A_KEY"
    secret_access_key = "env:A_SECRET"

    [profiles.team-b]
    match = "s3://shared/team-b"
    endpoint_url = "http://b.example:9000"
    region = "eu-west-3"
"""


def test_longest_prefix_wins_at_a_path_segment_boundary(write_profiles):
    env = write_profiles(TWO_STORES, A_KEY="ka", A_SECRET="sa")
    assert resolve("s3://shared/runs/1", env=env).profile.name == "team-a"
    assert resolve("s3://shared/team-b/runs/1", env=env).profile.name == "team-b"
    assert resolve("s3://shared/team-b", env=env).profile.name == "team-b"
    assert resolve("s3://shared/team-bx/runs", env=env).profile.name == "team-a"
    assert resolve("s3://shared2/runs", env=env).profile is None
    assert resolve("gs://shared/runs", env=env).profile is None


def test_the_matched_profile_is_used_as_a_whole(write_profiles):
    env = write_profiles(TWO_STORES, A_KEY="ka", A_SECRET="sa")
    b = resolve("s3://shared/team-b/x", env=env)
    assert b.storage_options["endpoint_url"] == "http://b.example:9000"
    assert b.storage_options["client_kwargs"] == {"region_name": "eu-west-3"}
    assert "key" not in b.storage_options  # team-a's credentials are not inherited


# (layer below, layer above, how each sets the endpoint)  -- every adjacent pair of layers
def _env_endpoint(value):
    return {"MLFLOW_S3_ENDPOINT_URL": value}


@pytest.mark.parametrize(
    "lower_env, expect_source",
    [
        ({}, "profile"),  # alone
        ({"FSSPEC_S3_ENDPOINT_URL": "http://fsspec.example"}, "profile"),  # fsspec config < profile
        (_env_endpoint("http://env.example"), "profile"),  # environment < profile
    ],
)
def test_a_profile_wins_over_fsspec_config_and_the_environment(write_profiles, lower_env, expect_source):
    env = write_profiles(TWO_STORES, A_KEY="ka", A_SECRET="sa", **lower_env)
    resolved = resolve("s3://shared/x", env=env)
    assert resolved.storage_options["endpoint_url"] == "http://a.example:9000"
    assert resolved.sources["endpoint_url"].startswith(f"{expect_source} 'team-a' (")


def test_a_profile_wins_over_the_row_default(write_profiles):
    env = write_profiles("""
        [profiles.cached]
        match = "s3://bkt"
        storage_options = { use_listings_cache = true }
    """)
    assert resolve("s3://other", env=env).storage_options["use_listings_cache"] is False
    resolved = resolve("s3://bkt/p", env=env)
    assert resolved.storage_options["use_listings_cache"] is True
    assert resolved.sources["use_listings_cache"].endswith("storage_options")


def test_the_uri_wins_over_a_profile(write_profiles):
    env = write_profiles("""
        [profiles.box]
        match = "sftp://box.example"
        storage_options = { username = "from-profile", port = 2200 }
    """)
    resolved = resolve("sftp://alice@box.example:2222/srv/runs", env=env)
    assert resolved.profile.name == "box"  # user-info and port are not part of the match
    assert resolved.storage_options["username"] == "alice"
    assert resolved.storage_options["port"] == 2222
    assert resolved.sources["username"] == "uri"


def test_an_explicit_override_wins_over_a_profile(write_profiles):
    env = write_profiles(TWO_STORES, A_KEY="ka", A_SECRET="sa")
    resolved = resolve("s3://shared/x", env=env, endpoint_url="http://override.example")
    assert resolved.storage_options["endpoint_url"] == "http://override.example"
    assert resolved.sources["endpoint_url"] == "override"


def test_the_environment_still_fills_what_a_profile_leaves_open(write_profiles):
    env = write_profiles(TWO_STORES, MLFLOW_S3_UPLOAD_EXTRA_ARGS='{"ACL": "private"}')
    resolved = resolve("s3://shared/team-b/x", env=env)
    assert resolved.storage_options["s3_additional_kwargs"] == {"ACL": "private"}
    assert resolved.sources["s3_additional_kwargs"] == "environment MLFLOW_S3_UPLOAD_EXTRA_ARGS"


@pytest.mark.parametrize("uri", ["s3://bkt/runs", "/tmp/store/runs", "gs://bkt/x", "sftp://h/x", "memory://m/x"])
def test_without_a_profiles_file_resolution_is_unchanged(tmp_path, uri):
    env = {
        "MLFLOW_S3_ENDPOINT_URL": "http://e.example",
        "AWS_ACCESS_KEY_ID": "k",
        "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT": "7",
    }
    plain = resolve(uri, env=env)
    missing = resolve(uri, env={**env, "ARTIFACT_FS_PROFILES": str(tmp_path / "absent.toml")})
    off = resolve(uri, env={**env, "ARTIFACT_FS_PROFILES": "none"})
    for other in (missing, off):
        assert other.storage_options == plain.storage_options and other.sources == plain.sources
        assert other.profile is None


def test_the_default_file_lives_in_the_user_config_directory(tmp_path):
    path = tmp_path / "cfg" / "artifact_fs" / "profiles.toml"
    path.parent.mkdir(parents=True)
    path.write_text('[profiles.x]\nmatch = "s3://bkt"\nregion = "ap-south-1"\n')
    path.chmod(0o600)
    assert resolve("s3://bkt", env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")}).profile.name == "x"
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    (home / ".config" / "artifact_fs").symlink_to(path.parent)
    assert resolve("s3://bkt", env={"HOME": str(home)}).profile.name == "x"


def test_credentials_from_a_profile_replace_the_environment_s_as_a_whole(write_profiles):
    env = write_profiles(
        """
        [profiles.named]
        match = "s3://bkt"
        credentials_profile = "team-b"
    """,
        AWS_ACCESS_KEY_ID="env-key",
        AWS_SECRET_ACCESS_KEY="env-secret",
        MLFLOW_S3_ENDPOINT_URL="http://e",
    )
    options = resolve("s3://bkt/x", env=env).storage_options
    assert options["profile"] == "team-b"
    assert "key" not in options and "secret" not in options
    assert options["endpoint_url"] == "http://e"  # not a credential: still the environment's


def test_a_credential_the_client_reads_by_itself_is_refused_not_mixed(write_profiles):
    env = write_profiles(
        """
        [profiles.acct-b]
        match = "wasbs://c@acctb.blob.core.windows.net"
        account_key = "env:B_KEY"
    """,
        B_KEY="a2V5",
        AZURE_STORAGE_CONNECTION_STRING="AccountName=accta;AccountKey=c2VjcmV0",
    )
    with pytest.raises(InvalidProfilesError, match="AZURE_STORAGE_CONNECTION_STRING is set in the environment") as info:
        resolve("wasbs://c@acctb.blob.core.windows.net/runs", env=env)
    assert "c2VjcmV0" not in str(info.value) and "a2V5" not in str(info.value)


def test_references_read_the_environment_and_files(write_profiles, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n")
    env = write_profiles(
        f"""
        [profiles.refs]
        match = "s3://bkt"
        access_key_id = "env:MY_KEY"
        secret_access_key = "file:{secret_file}"
    """,
        MY_KEY="from-env",
    )
    options = resolve("s3://bkt", env=env).storage_options
    assert (options["key"], options["secret"]) == ("from-env", "from-a-file")
    with pytest.raises(
        InvalidProfilesError,
        match=r"profile 'refs' \(.*profiles.toml:2\), AWS_ACCESS_KEY_ID: environment variable 'MY_KEY' is not set",
    ):
        resolve("s3://bkt", env={"ARTIFACT_FS_PROFILES": env["ARTIFACT_FS_PROFILES"]})


def test_secrets_from_profiles_are_redacted(write_profiles):
    env = write_profiles(TWO_STORES, A_KEY="AKIAPROFILEKEY", A_SECRET="profile-secret-value")
    resolved = resolve("s3://shared/x", env=env)
    shown = repr(resolved) + str(resolved.redacted()) + repr(resolved.profile)
    assert "AKIAPROFILEKEY" not in shown and "profile-secret-value" not in shown
    assert resolved.redacted()["profile"].startswith("profile 'team-a' (")


def test_inline_secrets_in_a_world_readable_file_warn(write_profiles):
    text = '[profiles.p]\nmatch = "s3://warn-bkt"\nsecret_access_key = "inline-secret"\n'
    env = write_profiles(text, mode=0o644)
    with pytest.warns(ProfilesWarning, match="readable by every user.*AWS_SECRET_ACCESS_KEY") as caught:
        resolve("s3://warn-bkt", env=env)
    assert "inline-secret" not in str(caught[0].message)
    for safe_text, mode in ((text, 0o600), (text.replace('"inline-secret"', '"env:S"'), 0o644)):
        env = write_profiles(safe_text + "# changed\n" * mode, mode=mode, S="x")
        with warnings.catch_warnings():
            warnings.simplefilter("error", ProfilesWarning)
            resolve("s3://warn-bkt", env=env)


def test_a_changed_file_is_read_again(write_profiles):
    env = write_profiles('[profiles.p]\nmatch = "s3://bkt"\nregion = "eu-west-1"\n')
    assert resolve("s3://bkt", env=env).storage_options["client_kwargs"]["region_name"] == "eu-west-1"
    write_profiles('[profiles.p]\nmatch = "s3://bkt"\nregion = "us-west-2"   # now\n')
    assert resolve("s3://bkt", env=env).storage_options["client_kwargs"]["region_name"] == "us-west-2"


BAD_FILES = [
    ('[profiles.p]\nmatch = "s3://b"\nregion = \n', r"line 3.*invalid TOML|invalid TOML.*line 3"),
    (
        '[profiles.p]\nmatch = "s3://b"\n\nendpoint = "http://x"\n',
        r"line 4: profile 'p': unknown key 'endpoint' \(keys for s3 stores: .*endpoint_url",
    ),
    (
        '[profiles.p]\nmatch = "s3://b"\n[profiles.q]\nmatch = "s3://b/"\n',
        r"line 3: profile 'q' has the same match 's3://b' as profile 'p'",
    ),
    (
        '[profiles.p]\nmatch = "gs://b"\naccess_key_id = "k"\n',
        r"line 3: profile 'p': 'access_key_id' does not apply to gs stores",
    ),
    (
        '[profiles.p]\nmatch = "s3://b"\n\n\ntimeout = "soon"\n',
        r"line 5: profile 'p': MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT='soon' is not valid",
    ),
    ('[profiles.p]\nmatch = "nope://b"\n', r"line 2: profile 'p': match 'nope://b' names no scheme"),
    ('[profiles.p]\nregion = "x"\n', r"line 1: profile 'p' needs a 'match' string"),
    (
        '[profiles.p]\nmatch = "s3://b"\n[profiles.p.settings]\nMLFLOW_GCS_UPLOAD_CHUNK_SIZE = 1\n',
        r"line 4: profile 'p': 'MLFLOW_GCS_UPLOAD_CHUNK_SIZE' does not apply to s3 stores",
    ),
    ("[other]\nx = 1\n", r"line 1: unknown top-level key 'other'"),
    (
        '[profiles.p]\nmatch = "s3://b"\nsecret_access_key = 5\nupload_extra_args = "{bad"\n',
        r"line 4: profile 'p': MLFLOW_S3_UPLOAD_EXTRA_ARGS='\{bad' is not valid",
    ),
]


@pytest.mark.parametrize("text, message", BAD_FILES)
def test_a_bad_profiles_file_names_the_file_the_line_and_the_reason(write_profiles, text, message):
    env = write_profiles(text)
    with pytest.raises(InvalidProfilesError, match=message) as info:
        resolve("s3://b/x", env=env)
    assert env["ARTIFACT_FS_PROFILES"] in str(info.value)


def test_a_bad_secret_value_is_not_echoed(write_profiles):
    env = write_profiles(
        '[profiles.p]\nmatch = "wasbs://c@a.blob.core.windows.net"\n[profiles.p.settings]\nNO_SUCH = "x"\n'
    )
    with pytest.raises(InvalidProfilesError, match="'NO_SUCH' does not apply to wasbs stores"):
        resolve("wasbs://c@a.blob.core.windows.net/x", env=env)


@pytest.mark.parametrize(
    "uri, key",
    [
        ("S3://Bucket/a/b/", "s3://Bucket/a/b"),
        ("sftp://user:pw@host:22/srv", "sftp://host:22/srv"),
        ("/data/../data/runs/", "file:///data/runs"),
        ("file:///data/runs", "file:///data/runs"),
        ("wasbs://c@acct.blob.core.windows.net/p", "wasbs://c@acct.blob.core.windows.net/p"),
    ],
)
def test_match_keys_are_normalised(uri, key):
    assert match_key(uri) == key


def test_a_local_profile_applies_to_plain_paths_and_file_uris(write_profiles, tmp_path):
    env = write_profiles(f'[profiles.nfs]\nmatch = "{tmp_path}/nfs"\nstorage_options = {{ auto_mkdir = false }}\n')
    assert resolve(f"{tmp_path}/nfs/runs", env=env).storage_options["auto_mkdir"] is False
    assert resolve(f"file://{tmp_path}/nfs/runs", env=env).profile.name == "nfs"
    assert resolve(f"{tmp_path}/other", env=env).profile is None


def test_a_profile_sets_the_retry_budget_and_checks_per_store(write_profiles):
    env = write_profiles(
        """
        [profiles.flaky]
        match = "s3://flaky-bucket"
        retries = 5
        verify = "full"
    """,
        ARTIFACT_FS_RETRIES="1",
    )
    flaky = resolve("s3://flaky-bucket/runs", env=env)
    assert flaky.transfer_options == {"retries": 5, "verify": "full"}
    assert flaky.sources["transfer:retries"].startswith("profile 'flaky' (")
    assert resolve("s3://other/runs", env=env).transfer_options == {"retries": 1}
    from artifact_fs.repository import FsspecArtifactRepository

    assert FsspecArtifactRepository("s3://flaky-bucket/runs").policy.retries == 2  # os.environ has no profiles file
