"""Azure client adjustments (adlfs / azure-storage-blob), the ``prepare`` of the rows in
:mod:`artifact_fs.backends.azure`: exact blob names, the SDK's transfer sizes, one-request
directory listings, no client retries."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..bounded_calls import BoundedCalls

#: The SDK's transfer sizes (adlfs passes no option for them; set on its client by
#: :func:`azure_client_setup`). One PUT only up to 16 MiB: the SDK's 64 MiB is read whole and
#: copied; larger blobs list no Content-MD5 and are verified by size. Downloads in 8 MiB GETs:
#: the SDK's first GET is 32 MiB held whole, then 4 MiB ranges. Measured: benchmarks/README.md,
#: "The concurrency budget".
AZURE_SDK_SIZES = {"max_single_put_size": 16 * 2**20, "max_single_get_size": 8 * 2**20, "max_chunk_get_size": 8 * 2**20}


def azure_client_setup(fs) -> None:
    """The Azure rows' ``prepare``: no azure-core retries, the SDK transfer sizes of
    :data:`AZURE_SDK_SIZES`, blob names carried exactly, and a directory listed in one request.
    The hooks go on the adlfs instance itself, also when the opener wrapped it (``BoundedCalls``,
    under a transfer timeout): adlfs calls its own methods, never the wrapper's."""
    fs = _adlfs_instance(fs)
    azure_without_client_retries(fs)
    azure_sdk_sizes(fs, AZURE_SDK_SIZES)
    azure_exact_names(fs)
    azure_directory_listing_in_one_request(fs)


def _adlfs_instance(fs):
    """The filesystem inside the opener's ``BoundedCalls`` wrapper, or ``fs`` itself."""
    return fs._fs if isinstance(fs, BoundedCalls) else fs


EXACT_NAME_LOOKUPS = 16  #: names an Azure ``rm`` looks up at once (a name with ``?``, ``*``, ``[``: blob or glob?)


def azure_exact_names(fs) -> None:
    """Blob names may hold ``?``, ``#``, ``*``, ``[`` and trailing spaces; adlfs mangles them in
    three places:

    * every path goes through fsspec's ``infer_storage_options`` (``urlsplit``): ``r/a?b=c#d/f``
      becomes ``r/a#d/f?b=c``, and a name ending in ``?`` or ``#`` loses it (``r/?`` is ``r/``);
      ``split_path`` then cuts the name at ``?versionid=``, version-aware or not;
    * its listings keep the entries under the target with spaces stripped from both
      (``adlfs.utils.filter_blobs``): ``ls("r/a ")`` looks under ``r/a/`` and finds nothing;
    * ``rm`` reads a name holding ``?``, ``*`` or ``[`` as a glob: deleting ``r/?/f`` also
      deletes ``r/x/f``.

    On this instance only the scheme and the container (the URL's authority, read as adlfs
    reads it) are taken off a path, the rest is the blob name as given (``?versionid=``
    still names a version when the filesystem is version-aware); listings keep the entries
    under the exact target; and ``rm`` deletes a name that exists as that blob (or that
    directory), globbing only names that match nothing as they are."""
    if getattr(fs._strip_protocol, "exact_names", False):
        return  # an instance prepared already
    import asyncio
    from glob import has_magic  # what adlfs's _expand_path asks

    from adlfs.utils import match_blob_version
    from fsspec.asyn import sync_wrapper

    adlfs_strip_protocol, adlfs_details, adlfs_rm = fs._strip_protocol, fs._details, fs._rm
    schemes = tuple(f"{protocol}://" for protocol in ((fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol))

    def strip_protocol(path):
        if isinstance(path, list):
            return [strip_protocol(p) for p in path]
        rest = next((path[len(scheme) :] for scheme in schemes if path.startswith(scheme)), None)
        authority, slash, name = (path.lstrip("/") if rest is None else rest).partition("/")
        if "?" in authority or "#" in authority:  # no container name holds them: adlfs's own reading
            return adlfs_strip_protocol(path)
        return (adlfs_strip_protocol(schemes[0] + authority) + slash + name).lstrip("/")

    def split_path(path, delimiter="/", return_container=False, **_kwargs):
        if path in ("", delimiter):
            return "", "", None
        path = strip_protocol(path).lstrip(delimiter)
        if "/" not in path:
            return path, "", None
        container, name = path.split(delimiter, 1)
        version_id = None
        if fs.version_aware:
            name, _, version_id = name.partition("?versionid=")
        return container, name, version_id or None

    def parent(path):
        path = strip_protocol(path)
        if "/" not in path:
            return fs.root_marker
        return fs.root_marker + path.rsplit("/", 1)[0].lstrip(fs.root_marker)

    async def details(
        contents, delimiter="/", return_glob=False, target_path="", version_id=None, versions=False, **kwargs
    ):
        entries = await adlfs_details(contents, delimiter=delimiter, return_glob=return_glob, target_path="",
                                      version_id=version_id, versions=versions, **kwargs)  # fmt: skip
        if not target_path:
            return entries
        wanted = [e for e in entries if versions or match_blob_version(e, version_id)]
        exact = [e for e in wanted if e["name"] == target_path and e.get("type") == "file"]
        if exact:  # the target is a file: itself only (as filter_blobs)
            return exact
        prefix = target_path.strip(delimiter) + delimiter
        return [e for e in wanted if e["name"].strip(delimiter).startswith(prefix)]

    async def rm(path, recursive=False, maxdepth=None, delimiter="/", expand_path=True, **kwargs):
        paths = [path] if isinstance(path, str) else list(path)
        magic = [p for p in paths if has_magic(p)] if expand_path else []
        lookups = asyncio.Semaphore(EXACT_NAME_LOOKUPS)

        async def exists(p):
            async with lookups:
                return await fs._exists(p)

        existing = await asyncio.gather(*map(exists, magic))
        names = [p for p, found in zip(magic, existing) if found]
        if not names:
            return await adlfs_rm(path, recursive, maxdepth, delimiter, expand_path, **kwargs)
        patterns = [p for p in paths if p not in names]
        if recursive:  # what adlfs's _expand_path adds for a directory, without globbing
            for p in list(names):
                names += await fs._find(p, withdirs=True)
        await adlfs_rm(sorted(set(names)), delimiter=delimiter, expand_path=False, **kwargs)
        if patterns:
            await adlfs_rm(patterns, recursive, maxdepth, delimiter, expand_path, **kwargs)

    strip_protocol.exact_names = True
    fs._strip_protocol, fs.split_path, fs._parent, fs._details = strip_protocol, split_path, parent, details
    fs._rm, fs.rm = rm, sync_wrapper(rm, obj=fs)


def azure_sdk_sizes(fs, sizes: Mapping[str, int]) -> None:
    """Set the SDK's transfer sizes (``max_single_put_size``, ``max_chunk_get_size``...),
    which adlfs passes no option for, on its client's config object: every container and
    blob client adlfs derives from the service client shares it."""
    config = fs.service_client._config
    for name, value in sizes.items():
        setattr(config, name, value)


def azure_directory_listing_in_one_request(fs) -> None:
    """adlfs lists ``dir`` by asking for the names under the prefix ``dir`` (which returns the
    prefix ``dir/``) and then for the names under ``dir/``: two round trips per listing,
    twice MLflow's one (measured in benchmarks/README.md, "Other measurements"). This asks for ``dir/`` at once
    and hands the items to adlfs's own ``_details``, so entries are shaped exactly as adlfs
    shapes them. Anything else (a file, a missing path, an empty directory, a container
    root, versions, globs) finds nothing under ``dir/`` or is not a plain listing, and goes
    to adlfs's own ``_ls_blobs``."""
    if getattr(fs._ls_blobs, "one_request", False):
        return  # fsspec's cache handed back an instance prepared already
    import errno

    from azure.core.exceptions import ResourceNotFoundError

    adlfs_ls_blobs = fs._ls_blobs

    async def ls_blobs(
        target_path, container, path, delimiter="/", return_glob=False, version_id=None, versions=False, **kwargs
    ):
        prefix = path.strip("/")
        if not prefix or return_glob or version_id or versions or delimiter != "/" or fs.version_aware:
            return await adlfs_ls_blobs(
                target_path, container, path, delimiter, return_glob, version_id, versions, **kwargs
            )
        async with fs.service_client.get_container_client(container=container) as client:
            try:
                children = [
                    item async for item in client.walk_blobs(include=["metadata"], name_starts_with=prefix + "/")
                ]
            except ResourceNotFoundError:
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), target_path) from None
        if not children:
            return await adlfs_ls_blobs(
                target_path, container, path, delimiter, return_glob, version_id, versions, **kwargs
            )
        return await fs._details(children, target_path=target_path)

    ls_blobs.one_request = True
    fs._ls_blobs = ls_blobs


def azure_without_client_retries(fs) -> None:
    """Switch azure-core's own retries off (adlfs passes no option for it to downloads and
    listings): artifact_fs's budget (ARTIFACT_FS_RETRIES) is the one retry layer, and a
    hung server fails a download after one read timeout, not after four."""
    policy = fs.service_client._config.retry_policy  # the object in the client's pipeline
    policy.total_retries = policy.connect_retries = policy.read_retries = policy.status_retries = 0
