"""``resolve`` remembered for the repository factory, per URI and per *store*.

``mlflow server`` and MLflow's client build a repository for every request or call
(``get_artifact_repository(uri)``), most of them for a URI never seen before (each run has
its own ``s3://b/exp/<i>/<run>/artifacts``), and ``resolve`` reads ~50 variables,
fsspec's config and the profiles file each time. :func:`resolve_for_repository` answers:

1. from a per-URI memo when the URI and everything ``resolve`` reads (:class:`Inputs`: the
   whole environment and fsspec's config; the profiles file's stat) are what they were:
   the very same result;
2. else from a per-*store* memo: all but the per-URI fields depends only on the store key
   (scheme, inputs, profiles stat, the profile that matches *this* URI) and the options the
   URI itself encodes (endpoint, account, host, port, user...). The URI is parsed by its
   row's grammar (so a bad one fails as in ``resolve``) and the store's result is moved to
   its root, authority and recipe (:meth:`~artifact_fs.resolver.Resolved.for_location`);
3. else ``resolve(uri)``, whose result then seeds both memos.

The profile is matched for every new URI (a profile may select a path prefix: URIs under it
and beside it are different stores). A profile that reads a ``file:`` reference (a secret
file that may be rotated in place) is never remembered; a relative local path is parsed
again each time (its root follows the working directory); a protocol outside the scheme
table (``memory://``) is remembered per URI only. The public :func:`artifact_fs.resolve`
stays uncached: its result is the caller's to change. Repositories only read theirs.
"""

from __future__ import annotations

import os

from .backends import scheme_row
from .portable import recipe
from .profiles import best_profile, load_profiles, profiles_path, stat_stamp
from .resolver import Resolved, resolve
from .uri import parse, uri_scheme

# Plain dicts (one lookup, no lock: each operation is atomic), bounded by starting again
# when full: a miss costs one store lookup, and a process's stores are few.
_BY_URI: dict = {}  # (uri, inputs, profiles stamp) -> Resolved
_ROWS: dict = {}  # store key -> the row picked for it (the variant the settings name)
_STORES: dict = {}  # (store key, the URI's own options) -> a Resolved of that store
_MAX_ENTRIES = 256
_NO_OVERRIDES: dict = {}


def resolve_for_repository(uri: str) -> Resolved:
    """``resolve(uri)`` against ``os.environ``, from the memos when nothing it reads changed."""
    inputs = current_inputs()
    stamp = profiles_stamp(inputs.profiles_path)
    key = (uri, inputs.key, stamp)
    hit = _BY_URI.get(key)
    if hit is not None:
        return hit
    resolved, kept = _through_store(uri, inputs, stamp)
    if kept:
        _remember(_BY_URI, key, resolved)
    return resolved


def clear() -> None:
    """Forget every remembered result (tests; a process that changed the world behind our back)."""
    for memo in (_BY_URI, _ROWS, _STORES):
        memo.clear()


def _store_key(uri: str, scheme: str, inputs: Inputs, stamp: tuple | None) -> tuple | None:
    """The key of ``uri``'s store: scheme, inputs, profiles stamp and the ``match`` of the profile
    that matches ``uri`` itself (a profile may select a path prefix); ``None`` for a profile that
    reads a ``file:`` reference (never remembered). The URI's own options join it once parsed."""
    profile = best_profile(uri, load_profiles(inputs.profiles_path)) if stamp else None
    if profile is not None and profile.reads_files:
        return None
    return scheme, inputs.key, stamp, profile.match if profile is not None else None


def _through_store(uri: str, inputs: Inputs, stamp: tuple | None) -> tuple[Resolved, bool]:
    """``(result, whether the per-URI memo may keep it)``: derived from the store's result when
    there is one, else resolved whole (and then the store's result)."""
    scheme = uri_scheme(uri) if isinstance(uri, str) else None
    if scheme is None or scheme_row(scheme) is None:  # outside the table: resolved whole, as before
        resolved = resolve(uri)
        return resolved, resolved.profile is None or not resolved.profile.reads_files
    try:
        key = _store_key(uri, scheme, inputs, stamp)
    except Exception:  # noqa: BLE001 - a broken profiles file: resolve raises it, as it always does
        return resolve(uri), False
    if key is None:
        return resolve(uri), False
    kept = not _cwd_relative(uri, scheme)  # its root moves with the working directory: parsed each time
    row = _ROWS.get(key)
    if row is None:  # the store's first URI: resolved whole, and remembered as the store's
        return _seed(uri, key), kept
    parsed = parse(uri, row)  # a bad URI fails here as in resolve: the rest succeeded for this store
    store = _STORES.get((key, repr(parsed.options)))
    if store is None:  # another bucket, host, account, user... of the same scheme and settings
        return _seed(uri, key), kept
    how = recipe(uri, row, os.environ, _NO_OVERRIDES)
    return store.for_location(uri, parsed.root, parsed.authority, how), kept


def _seed(uri: str, key: tuple) -> Resolved:
    resolved = resolve(uri)
    row = resolved.row
    _remember(_ROWS, key, row)
    _remember(_STORES, (key, repr(parse(uri, row).options)), resolved)
    return resolved


def _cwd_relative(uri: str, scheme: str) -> bool:
    """A relative local path (``mlruns``, ``file:mlruns``): made absolute against the cwd."""
    if scheme == "":
        return not os.path.isabs(uri)
    return scheme == "file" and not uri[5:].startswith("/")


def _remember(memo: dict, key, value) -> None:
    if len(memo) >= _MAX_ENTRIES:
        memo.clear()
    memo[key] = value


# --- what resolve reads, fingerprinted ---------------------------------------------------


class Inputs:
    """One state of what ``resolve`` reads besides the URI and the profiles file: the whole
    process environment and fsspec's configuration; ``key`` stands for both in memo keys,
    ``profiles_path`` is the profiles file this environment names."""

    __slots__ = ("environ", "conf", "key", "profiles_path")

    def __init__(self, environ, conf: str):
        self.environ = dict(environ)  # the same key and value objects: comparing is cheap
        self.conf = conf
        self.key = (frozenset(self.environ.items()), conf)
        self.profiles_path = profiles_path(os.environ)


_CURRENT: Inputs | None = None
_FSSPEC_CONFIG = None  # the fsspec.config module, imported on first use


def current_inputs() -> Inputs:
    """The :class:`Inputs` of now: the last one when the environment and fsspec's config are
    unchanged (one dict comparison, C speed, value objects compared by identity first), else a
    new one. Read when called, never at import."""
    global _CURRENT, _FSSPEC_CONFIG
    if _FSSPEC_CONFIG is None:
        import fsspec.config

        _FSSPEC_CONFIG = fsspec.config
    raw = getattr(os.environ, "_data", None)  # CPython: the undecoded bytes, no per-key decode
    environ = raw if isinstance(raw, dict) else dict(os.environ)
    conf = repr(_FSSPEC_CONFIG.conf)
    seen = _CURRENT
    if seen is not None and seen.conf == conf and seen.environ == environ:
        return seen
    _CURRENT = seen = Inputs(environ, conf)
    return seen


def profiles_stamp(path: str | None) -> tuple | None:
    """What tells this version of the profiles file from others: ``None`` (no profiles),
    ``()`` (no such file), its stat stamp, or the error a stat met (then reading it fails too)."""
    if not path:
        return None
    try:
        return stat_stamp(os.stat(path))
    except FileNotFoundError:
        return ()
    except OSError as exc:
        return ("unreadable", exc.errno)
