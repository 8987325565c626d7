"""The artifact-path policy as data, the error table, and the README staying in sync."""

from __future__ import annotations

import pathlib

import pytest

from artifact_fs import InvalidArtifactPathError
from artifact_fs._docs import render_into
from artifact_fs.errors import error_code_for
from artifact_fs.paths import TEMP_PREFIX, clean_artifact_path, local_destination

ACCEPTED = {
    None: "",
    "": "",
    "a": "a",
    "a/": "a",
    "./a": "a",
    "a//b": "a/b",
    "a/./b/": "a/b",
    "...": "...",
    "..a/b..": "..a/b..",
    "with space/ünïcode": "with space/ünïcode",
    "odd#name?x": "odd#name?x",
    "%41": "%41",
    "a%2fb": "a%2fb",  # carried literally: its decoded reading holds no '..'
    "d%2Fe/f%5Cg": "d%2Fe/f%5Cg",
}

REFUSED = [
    "..",
    "../x",
    "a/..",
    "a/../../b",
    "/",
    "/abs",
    "//x",
    "C:/x",
    "c:",
    "a\\b",
    "\\\\server\\share",
    "a\x00b",
    "a\nb",
    "a\tb",
    "\x7f",
    "%2e%2e",
    "a/%2E%2E/b",
    "%252e%252e",
    ".",
    "./",
    "./.",
    "%2e%2e%2fx",
    "a%2f..",
    f"{TEMP_PREFIX}x",
    f"d/{TEMP_PREFIX}y",
]


@pytest.mark.parametrize(("raw", "clean"), ACCEPTED.items())
def test_accepted_paths_are_normalised(raw, clean):
    assert clean_artifact_path(raw) == clean


@pytest.mark.parametrize("raw", REFUSED)
def test_refused_paths_name_the_culprit(raw):
    with pytest.raises(InvalidArtifactPathError) as info:
        clean_artifact_path(raw)
    assert repr(raw) in str(info.value)


def test_local_destination_refuses_symlink_escapes(tmp_path):
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "link").symlink_to(tmp_path)
    with pytest.raises(InvalidArtifactPathError, match="outside the download directory"):
        local_destination(str(dst), "link/escaped.txt")
    assert local_destination(str(dst), "a/b.txt") == str(dst / "a" / "b.txt")


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (FileNotFoundError("x"), "RESOURCE_DOES_NOT_EXIST"),
        (PermissionError("x"), "PERMISSION_DENIED"),
        (IsADirectoryError("x"), "INVALID_PARAMETER_VALUE"),
        (InvalidArtifactPathError("x"), "INVALID_PARAMETER_VALUE"),
        (TimeoutError("x"), "TEMPORARILY_UNAVAILABLE"),
        (ConnectionRefusedError("x"), "TEMPORARILY_UNAVAILABLE"),
        (OSError("x"), "INTERNAL_ERROR"),
        (RuntimeError("x"), "INTERNAL_ERROR"),
    ],
)
def test_error_codes_follow_the_most_specific_class(exc, code):
    assert error_code_for(exc) == code


def test_readme_tables_match_the_code():
    readme = pathlib.Path(__file__).resolve().parent.parent / "README.md"
    text = readme.read_text(encoding="utf-8")
    assert render_into(text) == text, "README is stale: run python -m artifact_fs._docs --write README.md"
    assert "<!-- schemes:start -->\n| scheme |" in text and "<!-- settings:start -->\n| variable |" in text
    engines = (readme.parent / "docs" / "engines.md").read_text(encoding="utf-8")
    assert render_into(engines) == engines, (
        "docs/engines.md is stale: run python -m artifact_fs._docs --write docs/engines.md"
    )
    assert "<!-- engine-settings:start -->\n| variable |" in engines


def test_readme_starts_with_the_two_commands():
    readme = pathlib.Path(__file__).resolve().parent.parent / "README.md"
    commands = [line.split("#")[0].strip() for line in readme.read_text().splitlines() if line.startswith("./scripts/")]
    assert commands[:2] == ["./scripts/demo.sh", "./scripts/test.sh"]
    ci = (readme.parent / ".ci" / "run").read_text()
    assert "scripts/test.sh" in ci
