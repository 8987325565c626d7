"""Local paths and NFS (plain paths, ``file://``) and fsspec's in-process ``memory://``.

* **URIs.** ``/abs/path``, ``rel/path``, ``C:\\path`` (Windows), ``file:///abs/path``,
  ``file:rel/path`` (``file://`` takes only ``localhost`` as host); ``memory://<path>``.
* **Client**: fsspec's ``LocalFileSystem`` (parents made on write); ``MemoryFileSystem``.
* **Paths**: real directories; local uploads go to a temporary name, then one rename
  publishes them; downloads of a local root without a destination are returned in place.
* **Transfers**: one thread for many files (copying a small file costs less than handing it
  to a thread); checked by size (a disk lists no digest).
"""

from __future__ import annotations

from ..rows import Client, PathTraits, Scheme, TransferTuning, UriGrammar

_BUILTIN = "mlflow.store.artifact.local_artifact_repo:LocalArtifactRepository"
_LOCAL_CLIENT = Client(
    protocol="file", impl="fsspec.implementations.local.LocalFileSystem", defaults={"auto_mkdir": True}
)
_LOCAL_PATHS = PathTraits(local=True, real_directories=True, atomic_rename=True)
_ONE_THREAD = TransferTuning(sync_threads=1)

ROWS = (
    Scheme(
        "",
        UriGrammar("local", form="`/abs/path`, `rel/path`, `C:\\path` (Windows)"),
        _LOCAL_CLIENT,
        _LOCAL_PATHS,
        _ONE_THREAD,
        mlflow_builtin=_BUILTIN,
    ),
    Scheme(
        "file",
        UriGrammar("local", form="`file:///abs/path`, `file:rel/path`"),
        _LOCAL_CLIENT,
        _LOCAL_PATHS,
        _ONE_THREAD,
        mlflow_builtin=_BUILTIN,
    ),
    Scheme(
        "memory",
        UriGrammar("fsspec", form="`memory://<path>` (fsspec's in-process store; not an MLflow scheme)"),
        Client(protocol="memory", impl="fsspec.implementations.memory.MemoryFileSystem"),
        PathTraits(real_directories=True),
    ),
)
