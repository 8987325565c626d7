"""Listing a repository: MLflow's ``list_artifacts`` and the plan of a tree download, over
one fsspec listing each, with every name the store lists checked to be under the root."""

from __future__ import annotations

import posixpath

from mlflow.entities import FileInfo

from .errors import InvalidArtifactPathError, mlflow_errors
from .paths import TEMP_PREFIX, clean_artifact_path, local_destination


class ArtifactListings:
    """``list_artifacts`` and the tree planning of :class:`~artifact_fs.FsspecArtifactRepository`
    (which provides ``fs``, ``row``, ``resolved``, ``_remote`` and ``_carried``)."""

    def _relative(self, fs, name: str, base_relative: str) -> str | None:
        """Root-relative artifact path of a name ``fs`` listed, or None if it is not under the root.
        (``fs`` is passed in: looking ``self.fs`` up probes the connection, once per listing is enough.)"""
        name = fs._strip_protocol(self._carried(name)).rstrip("/")
        root = self.resolved.root.rstrip("/")
        if root and not name.startswith(root + "/"):
            return None
        relative = name[len(root) + 1 :] if root else name.lstrip("/")
        if base_relative and not (relative == base_relative or relative.startswith(base_relative + "/")):
            return None
        return relative

    @mlflow_errors("Failed to list artifacts in {self.redacted_uri} at {arg!r}")
    def list_artifacts(self, path=None):
        """Immediate children of ``path``, root-relative and sorted; ``[]`` for a file or a missing path,
        FileNotFoundError (RESOURCE_DOES_NOT_EXIST) naming it when the root's bucket or container is missing."""
        relative = clean_artifact_path(path)
        target = self._remote(relative)
        fs = self.fs
        try:
            if self.row.paths.ls_file_as_child and fs.info(target).get("type") != "directory":
                return []  # info, not isdir: isdir turns a timeout into "not a directory"
            entries = fs.ls(target, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            entries = []
        if not entries:  # only an empty answer costs a request more: is the bucket itself there?
            from .uri import root_bucket

            word, bucket = root_bucket(self.resolved.root, self.row) or (None, None)
            try:
                if bucket:
                    fs.info(bucket)
            except FileNotFoundError:
                raise FileNotFoundError(f"The {word} {bucket!r} does not exist") from None
            except Exception:  # noqa: BLE001 - denied (a container-scoped SAS may not read the container), unreachable: the listing answered, keep its answer
                pass
            return []
        infos = {}
        for entry in entries:
            child = self._relative(fs, entry["name"], relative)
            if child is None or child == relative:
                continue  # the path itself (a file, or a zero-byte directory marker)
            name = child[len(relative) + 1 :] if relative else child
            if "/" in name or name in ("", ".", "..") or name.startswith(TEMP_PREFIX):
                continue
            is_dir = entry.get("type") == "directory"
            infos[child] = FileInfo(child, is_dir, None if is_dir else int(entry.get("size") or 0))
        return sorted(infos.values(), key=lambda info: info.path)

    def _is_directory(self, artifact_path):
        return self.fs.isdir(self._remote(clean_artifact_path(artifact_path)))

    def _plan_tree(self, target, relative, dst):
        from .paths import listed_key_error

        fs = self.fs
        found = fs.find(target, withdirs=True, detail=True)
        pairs, dirs, expected = [], [local_destination(dst, relative)], {}

        def files_first(
            item,
        ):  # a hostile key is then named whole ('a/../../x'), not as the directory it implies ('a/..')
            return item[1].get("type") == "directory", item[0]

        for name, entry in sorted(found.items(), key=files_first):
            child = self._relative(fs, name, relative)
            if child is None or child == relative or posixpath.basename(child).startswith(TEMP_PREFIX):
                continue
            try:
                local = local_destination(dst, clean_artifact_path(child))
            except InvalidArtifactPathError as refused:  # a hostile store: name the key as it listed it
                raise listed_key_error(name, self.resolved.root, refused) from None
            if entry.get("type") == "directory" or name.endswith("/"):
                dirs.append(local)
            else:
                stripped = fs._strip_protocol(name)
                pairs.append((stripped, local))
                expected[stripped.rstrip("/")] = entry
        return pairs, dirs, expected
