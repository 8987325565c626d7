"""The tracking server's proxied artifacts (``mlflow-artifacts:``, ``http(s)://…/mlflow-artifacts/…``):
what happens when a client logs through ``mlflow server --serve-artifacts``.

* **URI.** ``mlflow-artifacts:/<path>`` goes to the tracking server (``MLFLOW_TRACKING_URI``,
  the tracking URI MLflow hands the repository, or ``mlflow.set_tracking_uri``'s), with its
  path prefix; ``mlflow-artifacts://host:port/<path>`` to that host with the tracking URI's
  scheme (MLflow's ``MlflowArtifactsRepository.resolve_uri``); ``http(s)://host[/prefix]/api/2.0/
  mlflow-artifacts/artifacts/<path>`` as written. Credentials in the URI are refused.
* **Settings.** The client is MLflow's own HTTP client, so the tracking server's
  ``MLFLOW_TRACKING_TOKEN``, ``MLFLOW_TRACKING_USERNAME``/``PASSWORD``,
  ``MLFLOW_TRACKING_INSECURE_TLS``, ``MLFLOW_TRACKING_SERVER_CERT_PATH`` and
  ``MLFLOW_TRACKING_CLIENT_CERT_PATH`` apply exactly as for MLflow's client, read at each
  request (never storage options: they never reach a repr, a recipe or a pickle).
  ``MLFLOW_HTTP_REQUEST_TIMEOUT`` (then ``MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT``) bounds
  each request.
* **Big files** (:mod:`.tracking_server_multipart`): in parts, ``ARTIFACT_FS_PARTS_IN_FLIGHT`` at
  once, when MLflow's client would (``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD`` or the server's
  ``/server-info``, ``MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE``, ``MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE``);
  downloaded by ranges of a URL the server signs, straight from the store, with
  ``MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD`` (else ``/server-info``).
* **Client** (:mod:`.tracking_server_client`): one ``PUT`` per file streamed from disk, one
  streamed ``GET`` per file, with the files-in-flight budget's threads sharing MLflow's pooled
  session (MLflow's own client sends one file after another). Transfers are retried by the
  one budget (``ARTIFACT_FS_RETRIES``); MLflow's per-request retries are off for them.
* **Paths**: object-store semantics (directories are prefixes); names holding ``#`` (the
  server answers "Invalid path") or ``%`` (it decodes ``%XX`` a second time) are refused
  before anything is sent.
* **Transfers**: every file checked by size against the server's listing (the API lists no
  digest).
"""

from __future__ import annotations

from ..converters import as_timeout
from ..rows import Client, PathTraits, Scheme, Setting, TransferTuning, UriGrammar
from ..settings import TIMEOUT, parts_in_flight

TRACKING_SERVER_SETTINGS = (
    Setting("MLFLOW_TRACKING_URI", "tracking_uri", doc="the tracking server an `mlflow-artifacts:` URI goes to"),
    Setting("MLFLOW_HTTP_REQUEST_TIMEOUT", "timeout", as_timeout, doc="seconds per request (MLflow's default 120)"),
    Setting(TIMEOUT, "timeout", as_timeout, doc="seconds per request, over `MLFLOW_HTTP_REQUEST_TIMEOUT`"),
    *parts_in_flight("parts_in_flight"),
)

_CLIENT = Client(
    protocol="mlflow-artifacts",
    impl="artifact_fs.backends.tracking_server_client.MlflowArtifactsFileSystem",
    settings=TRACKING_SERVER_SETTINGS,
    defaults={"timeout": 120},
)

#: 8 files in flight (MLflow's pooled session keeps 10 connections per host)
_TRANSFER = TransferTuning(sync_threads=8)

ROWS = tuple(
    Scheme(
        name,
        UriGrammar("tracking_server", form=form),
        _CLIENT,
        # MLflow's server refuses '#' ("Invalid path") and decodes '%XX' twice ('%41' lands as 'A')
        PathTraits(refuses="#%"),
        transfer=_TRANSFER,
        mlflow_builtin=builtin,
    )
    for name, form, builtin in (
        (
            "mlflow-artifacts",
            "`mlflow-artifacts:/<path>`, `mlflow-artifacts://host:port/<path>`",
            "mlflow.store.artifact.mlflow_artifacts_repo:MlflowArtifactsRepository",
        ),
        (
            "http",
            "`http://host[:port][/prefix]/api/2.0/mlflow-artifacts/artifacts/<path>`",
            "mlflow.store.artifact.http_artifact_repo:HttpArtifactRepository",
        ),
        (
            "https",
            "`https://host[:port][/prefix]/api/2.0/mlflow-artifacts/artifacts/<path>`",
            "mlflow.store.artifact.http_artifact_repo:HttpArtifactRepository",
        ),
    )
)
