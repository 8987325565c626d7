"""Which engine serves a scheme that has several (``ARTIFACT_FS_ENGINE``): the one named, else
the row's preferred one where it is installed, with the row's own behind it for a setting the
preferred one cannot honour (:class:`~artifact_fs.errors.NotOnThisEngineError`)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from .profiles import Profile
from .rows import Scheme


def engines_for(
    base: Scheme, settings: Mapping[str, str], overrides: Mapping[str, Any], profile: Profile | None
) -> tuple[list[Scheme], str]:
    """The rows (engines) to resolve with, best first, and why the first serves. An engine
    named by ``variant_var`` serves alone; else the row's ``preferred`` one, where it is
    installed, with the row itself behind it for a setting it cannot honour. Storage
    options given as they are (keyword arguments, a profile's ``storage_options``) are the
    row's own client's: they keep it."""
    named = (settings.get(base.variant_var) or "").strip() if base.variant_var else ""
    row = base.pick(settings)
    if named or not base.preferred:
        return [row], f"{row.variant}, named by {base.variant_var}" if named else row.variant
    preferred = base.alternatives[base.preferred]
    if overrides or (profile is not None and profile.storage_options):
        return [base], f"{base.variant}, as the storage options given are its own ({base.variant_var} picks another)"
    if not installed(preferred.client.requires):
        return [base], f"{base.variant}, as {preferred.variant} is not installed ({preferred.client.install_hint})"
    return [preferred, base], f"{preferred.variant}, the default where it is installed"


@functools.cache
def installed(module: str | None) -> bool:
    """``module`` can be imported (None: nothing is needed)."""
    import importlib.util

    return module is None or importlib.util.find_spec(module) is not None


__all__ = ["engines_for", "installed"]
