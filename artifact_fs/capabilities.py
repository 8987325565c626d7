"""Which of MLflow's optional repository mixins a repository honours, from the scheme table.

``mlflow server`` decides features with ``isinstance`` checks against the mixins of
``mlflow.store.artifact.artifact_repo`` (``/server-info`` advertises multipart transfers
only when its repository is a ``MultipartUploadMixin`` / ``MultipartDownloadMixin``).
So the registry's factory (:func:`artifact_fs.entrypoints.create_repository`) hands out
an instance of exactly the mixins the store can honour:

* ``StreamUploadMixin``: every store (it is part of :class:`FsspecArtifactRepository`);
* the mixins the row's presigner implements (``Scheme.server.presigner.mixins``, see
  :class:`artifact_fs.presign.Presigner`) when it can sign with the resolved credentials:
  ``MultipartUploadMixin``, ``MultipartDownloadMixin``, ``PresignedUploadMixin``.

The class is built with ``types.new_class`` from :class:`FsspecArtifactRepository`, the
implementations below and MLflow's mixins, once per combination (cached): no subclass
per backend. A mixin the installed MLflow does not define (older releases) is left out.
"""

from __future__ import annotations

import posixpath
import types
from functools import cache

from .errors import mlflow_errors
from .paths import clean_artifact_path, clean_file_name, join_artifact_path
from .presign import CannotSign

_MIXIN_MODULE = "mlflow.store.artifact.artifact_repo"
STREAM_MIXIN = "StreamUploadMixin"


def mlflow_mixin(name: str):
    """MLflow's mixin class called ``name``, or None when the installed MLflow has none."""
    import importlib

    return getattr(importlib.import_module(_MIXIN_MODULE), name, None)


def honoured_mixins(resolved) -> tuple[str, ...]:
    """Names of the mixins a repository for ``resolved`` honours (pure: no network I/O)."""
    presigner = resolved.row.server.presigner
    signed: tuple[str, ...] = ()
    if presigner is not None and presigner.mixins and presigner.can_presign(resolved) and _signer_installed(resolved):
        signed = presigner.mixins
    return (STREAM_MIXIN, *signed)


def _signer_installed(resolved) -> bool:
    """The client the presigner signs with is installed (another engine's, for the obstore rows)."""
    engine = resolved.row.server.signs_with
    if not engine or engine == resolved.row.variant:
        return True
    import importlib.util

    return importlib.util.find_spec(_engine_row(resolved.row, engine).client.impl.split(".")[0]) is not None


def _engine_row(row, engine: str):
    """``row``'s scheme on ``engine``: the default row carries the alternatives, each alternative is its own."""
    from .backends import scheme_row

    base = scheme_row(row.name) or row
    return base if engine == base.variant else base.alternatives[engine]


class _SigningView:
    """What a presigner reads of a repository (``fs``, ``row``, ``resolved``), on another engine."""

    def __init__(self, fs, row, resolved):
        self.fs, self.row, self.resolved = fs, row, resolved


def signing_view(repo):
    """``repo`` itself, or, for a row that signs with another engine's client, a view of the
    same location opened on that engine (built once per repository)."""
    engine = repo.row.server.signs_with
    if not engine or engine == repo.row.variant:
        return repo
    view = repo.__dict__.get("_signing_view")
    if view is None:
        import os

        from .opener import open_filesystem
        from .resolver import resolve

        resolved = resolve(repo.resolved.uri, {**os.environ, repo.row.variant_var or "": engine})
        view = repo.__dict__["_signing_view"] = _SigningView(open_filesystem(resolved), resolved.row, resolved)
    return view


def repository_class(resolved):
    """The repository class for ``resolved``: FsspecArtifactRepository plus the honoured mixins."""
    return composed_class(tuple(name for name in honoured_mixins(resolved) if name != STREAM_MIXIN))


@cache
def composed_class(mixins: tuple[str, ...]):
    """``FsspecArtifactRepository`` composed with the implementations and MLflow mixins named (cached)."""
    from .repository import FsspecArtifactRepository

    if not mixins:
        return FsspecArtifactRepository
    implementations = tuple(IMPLEMENTATIONS[name] for name in mixins)
    mlflow_classes = tuple(cls for cls in map(mlflow_mixin, mixins) if cls is not None)
    bases = (*implementations, FsspecArtifactRepository, *mlflow_classes)
    cls = types.new_class("FsspecArtifactRepository", bases, {})
    cls.__module__ = __name__  # pickled by reference: this module's __getattr__ builds it again
    cls.__qualname__ = f"{_COMPOSED}[{','.join(mixins)}]"
    cls.__doc__ = f"FsspecArtifactRepository honouring {', '.join(mixins)} (built by artifact_fs.capabilities)."
    return cls


_COMPOSED = "FsspecArtifactRepository"


def __getattr__(name: str):
    """``FsspecArtifactRepository[<mixin>,…]``: the composed class of that name, so a pickle
    of a repository names its class by reference and a fresh process builds it again."""
    head, bracket, rest = name.partition("[")
    if head == _COMPOSED and bracket and rest.endswith("]"):
        mixins = tuple(filter(None, rest[:-1].split(",")))
        if mixins and all(mixin in IMPLEMENTATIONS for mixin in mixins):
            return composed_class(mixins)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _destination(repo, local_file: str, artifact_path: str | None) -> str:
    """``<root>/<artifact_path>/<basename(local_file)>``: ``local_file`` is the *client's*
    path (never opened here), Windows back-slashes included."""
    name = clean_file_name(posixpath.basename(str(local_file).replace("\\", "/")))
    return repo._remote(join_artifact_path(clean_artifact_path(artifact_path), name))


class MultipartUploads:
    """``MultipartUploadMixin``: clients upload parts straight to the store with signed URLs."""

    @mlflow_errors("Failed to start a multipart upload of {arg!r} to {self.redacted_uri}")
    def create_multipart_upload(self, local_file, num_parts=1, artifact_path=None):
        """Start the upload of ``basename(local_file)`` under ``artifact_path``: an upload id and one URL per part."""
        num_parts = int(num_parts)
        if not 1 <= num_parts <= 10_000:
            raise ValueError(f"num_parts must be between 1 and 10000, got {num_parts}")
        destination = _destination(self, local_file, artifact_path)
        try:
            return self.row.server.presigner.create_multipart(signing_view(self), destination, num_parts)
        except CannotSign as exc:  # MLflow's clients fall back to a plain upload on exactly this error
            raise unsupported_multipart_upload() from exc

    @mlflow_errors("Failed to complete the multipart upload of {arg!r} to {self.redacted_uri}")
    def complete_multipart_upload(self, local_file, upload_id, parts=None, artifact_path=None):
        """Assemble the parts the client uploaded; the artifact appears only now."""
        destination = _destination(self, local_file, artifact_path)
        self.row.server.presigner.complete_multipart(
            signing_view(self), destination, upload_id or None, list(parts or [])
        )

    @mlflow_errors("Failed to abort the multipart upload of {arg!r} to {self.redacted_uri}")
    def abort_multipart_upload(self, local_file, upload_id, artifact_path=None):
        """Abandon the upload; nothing appears under the artifact's name."""
        destination = _destination(self, local_file, artifact_path)
        self.row.server.presigner.abort_multipart(signing_view(self), destination, upload_id or None)


def unsupported_multipart_upload():
    """MLflow's "Multipart upload is not supported ..." error, which its clients match by message."""
    from mlflow import exceptions

    unsupported = getattr(exceptions, "_UnsupportedMultipartUploadException", None)
    if unsupported is not None:
        return unsupported()
    message = "Multipart upload is not supported for the current artifact repository"
    return exceptions.MlflowException(message, error_code="NOT_IMPLEMENTED")


class PresignedDownloads:
    """``MultipartDownloadMixin``: a presigned GET with the file size (clients fetch ranges in parallel)."""

    @mlflow_errors("Failed to presign a download of {arg!r} from {self.redacted_uri}")
    def get_download_presigned_url(self, artifact_path, expiration=300):
        """A URL the client can GET (with ``Range``) for ``expiration`` seconds, and the file's size."""
        path = self._remote(clean_artifact_path(artifact_path))
        return self.row.server.presigner.download_url(signing_view(self), path, int(expiration))


class PresignedUploads:
    """``PresignedUploadMixin``: a presigned PUT and the headers the client must send with it."""

    @mlflow_errors("Failed to presign an upload of {arg!r} to {self.redacted_uri}")
    def create_presigned_upload_url(self, artifact_path, expiration=900):
        """A URL the client can PUT ``artifact_path`` to for ``expiration`` seconds."""
        from mlflow.entities.presigned_upload import CreatePresignedUploadResponse

        relative = clean_artifact_path(artifact_path)
        if not relative:
            raise ValueError("artifact_path must name a file")
        url, headers = self.row.server.presigner.upload_url(signing_view(self), self._remote(relative), int(expiration))
        return CreatePresignedUploadResponse(presigned_url=url, headers=headers)


#: mixin name → the class implementing its methods for FsspecArtifactRepository
IMPLEMENTATIONS = {
    "MultipartUploadMixin": MultipartUploads,
    "MultipartDownloadMixin": PresignedDownloads,
    "PresignedUploadMixin": PresignedUploads,
}

__all__ = ["IMPLEMENTATIONS", "composed_class", "honoured_mixins", "mlflow_mixin", "repository_class"]
