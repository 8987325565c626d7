"""The structure the code promises: each backend family in one module, presigners that implement
what they claim, one list of secret names. Pure checks of the table, no server needed."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil

import pytest

import artifact_fs.backends as backends
from artifact_fs.capabilities import IMPLEMENTATIONS
from artifact_fs.presign import Presigner
from artifact_fs.rows import Scheme

ROWS = [alt for row in backends.SCHEMES for alt in (row, *row.alternatives.values())]
PRESIGNERS = {type(row.server.presigner): row.server.presigner for row in ROWS if row.server.presigner is not None}


def test_every_backend_module_is_a_family_in_the_index():
    names = {family.__name__.rsplit(".", 1)[-1] for family in backends.FAMILIES}
    modules = {info.name for info in pkgutil.iter_modules(backends.__path__)}
    # a family may keep its client and its helpers in <family>_<part> modules (s3_client, tracking_server_multipart)
    helpers = {name for name in modules - names if any(name.startswith(family + "_") for family in names)}
    assert modules - helpers == names
    for family in backends.FAMILIES:
        assert family.__doc__ and family.ROWS, family.__name__
        assert all(isinstance(row, Scheme) for row in family.ROWS)


def test_each_scheme_belongs_to_exactly_one_family():
    names = [row.name for family in backends.FAMILIES for row in family.ROWS]
    assert sorted(names) == sorted(set(names)) == sorted(row.name for row in backends.SCHEMES)


def test_the_presigner_interface_covers_exactly_the_mixins_the_repository_composes():
    assert set(Presigner.METHODS) == set(IMPLEMENTATIONS)


@pytest.mark.parametrize("presigner", list(PRESIGNERS.values()), ids=[cls.__name__ for cls in PRESIGNERS])
def test_every_presigner_implements_what_it_claims_and_says_why_it_lacks_the_rest(presigner):
    cls = type(presigner)
    assert isinstance(presigner, Presigner)
    assert cls.can_presign is not Presigner.can_presign
    assert set(presigner.mixins) <= set(Presigner.METHODS)
    for mixin in presigner.mixins:
        for method in Presigner.METHODS[mixin]:
            assert getattr(cls, method) is not getattr(Presigner, method), (
                f"{cls.__name__} claims {mixin} without {method}"
            )
    for mixin in set(Presigner.METHODS) - set(presigner.mixins):
        assert presigner.lacks.get(mixin), f"{cls.__name__} lacks {mixin} and does not say why"
        with pytest.raises(NotImplementedError, match=presigner.lacks[mixin][:20]):
            getattr(presigner, Presigner.METHODS[mixin][0])(None, "x", 1)


@pytest.mark.parametrize("part", ["uri", "client", "paths", "transfer", "server"])
def test_every_field_of_every_row_part_is_documented(part):
    """Each field carries a ``#:`` line above it (what a reader of the row needs)."""
    import inspect

    cls = type(getattr(backends.scheme_row("s3"), part))
    source = inspect.getsource(cls).splitlines()
    for field in dataclasses.fields(cls):
        line = next(i for i, text in enumerate(source) if text.strip().startswith(f"{field.name}:"))
        assert source[line - 1].strip().startswith("#:"), f"{cls.__name__}.{field.name} has no #: line"


def test_secret_names_are_defined_once():
    from artifact_fs import redaction

    for name in ("artifact_fs.errors", "artifact_fs.read_cache", "artifact_fs.resolver", "artifact_fs.profiles"):
        module = importlib.import_module(name)
        own = {key for key, value in vars(module).items() if "SECRET" in key and not key.startswith("__")}
        assert all(getattr(module, key) is getattr(redaction, key, None) for key in own), (name, own)
