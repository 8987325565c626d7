"""HDFS and viewfs (``hdfs://``, ``viewfs://``): what happens for HDFS.

* **URIs.** ``hdfs:/<path>`` and ``hdfs:///<path>`` use ``fs.defaultFS`` (from
  ``HADOOP_CONF_DIR`` or ``MLFLOW_PYARROW_EXTRA_CONF``); ``hdfs://<namenode>[:port]/<path>``;
  ``viewfs://<cluster>/<path>`` through the mount tables.
* **Client**: hdfs-native (a Rust RPC client: no JVM, no libhdfs) by default; pyarrow's
  ``HadoopFileSystem`` (libhdfs and a Hadoop install) with ``ARTIFACT_FS_HDFS_CLIENT=pyarrow``.
  hdfs-native takes Hadoop configuration keys as keyword arguments (dotted names) and its
  user and Kerberos ticket cache only from the process environment, so
  ``MLFLOW_KERBEROS_USER``/``MLFLOW_KERBEROS_TICKET_CACHE`` are exported as
  ``HADOOP_USER_NAME``/``KRB5CCNAME`` when the filesystem is opened. It has no RPC timeout:
  NameNode calls are abandoned after the transfer timeout. A new client per repository (it
  reads ``HADOOP_CONF_DIR`` and the user when built, which fsspec's cache cannot see).
* **Paths**: real directories; uploads renamed into place with OVERWRITE (atomic); ``#``,
  ``?`` and ``;`` refused (hdfs-native parses paths as URLs and would cut them short).
* **Transfers**: 8 threads for many files; checked by size (HDFS lists no MD5 of content).
"""

from __future__ import annotations

import dataclasses

from ..converters import as_key_value_pairs, as_millis_text, as_timeout
from ..rows import Client, PathTraits, Scheme, Setting, UriGrammar
from ..settings import TIMEOUT

# HDFS: hdfs-native (Rust RPC client, no JVM, no libhdfs.so) by default; pyarrow's
# HadoopFileSystem (libhdfs + a Hadoop install) with ARTIFACT_FS_HDFS_CLIENT=pyarrow.
# hdfs-native takes Hadoop configuration keys as keyword arguments (the "config" option,
# passed as dotted names) and reads its user and Kerberos ticket cache only from the
# process environment. MLFLOW_PYARROW_EXTRA_CONF comes first: a whole "config" dict set
# after the timeout row would replace its key.
HDFS_SETTINGS = (
    Setting(
        "MLFLOW_PYARROW_EXTRA_CONF",
        "config",
        as_key_value_pairs,
        doc="`k=v,k2=v2`: Hadoop configuration keys (`fs.defaultFS=hdfs://nn:8020`)",
    ),
    Setting(
        "MLFLOW_KERBEROS_TICKET_CACHE",
        "env:KRB5CCNAME",
        doc="where hdfs-native's Kerberos (GSSAPI) finds the ticket cache",
    ),
    Setting(
        "MLFLOW_KERBEROS_USER",
        "env:HADOOP_USER_NAME",
        doc="the user HDFS sees (simple authentication; with Kerberos, the ticket's)",
    ),
    Setting(TIMEOUT, "config.dfs.client.socket-timeout", as_millis_text, doc="DataNode connections, reads and writes"),
    Setting(
        TIMEOUT,
        "attr:call_timeout",
        as_timeout,
        doc="NameNode calls (list, mkdir, rename, delete) give up after it: hdfs-native has no RPC timeout",
    ),
)
PYARROW_HDFS_SETTINGS = (
    Setting("MLFLOW_KERBEROS_TICKET_CACHE", "kerb_ticket"),
    Setting("MLFLOW_KERBEROS_USER", "user"),
    Setting("MLFLOW_PYARROW_EXTRA_CONF", "extra_conf", as_key_value_pairs, doc="`k=v,k2=v2`"),
)

#: Profile keys → the variables they stand for.
PROFILE_KEYS = {
    "kerberos_ticket_cache": "MLFLOW_KERBEROS_TICKET_CACHE",
    "kerberos_user": "MLFLOW_KERBEROS_USER",
    "hadoop_conf": "MLFLOW_PYARROW_EXTRA_CONF",
    "hdfs_client": "ARTIFACT_FS_HDFS_CLIENT",
}

_BUILTIN = "mlflow.store.artifact.hdfs_artifact_repo:HdfsArtifactRepository"
_PATHS = PathTraits(real_directories=True, atomic_rename=True)
_HDFS_FORM = "`hdfs:/<path>`, `hdfs:///<path>`, `hdfs://<namenode>[:port]/<path>`"
_VIEWFS_FORM = "`viewfs://<cluster>/<path>`"

_NATIVE_CLIENT = Client(
    protocol="hdfs",
    impl="hdfs_native.fsspec.HdfsFileSystem",
    extra="hdfs",
    settings=HDFS_SETTINGS,
    conf_option="config",
    defaults={"skip_instance_cache": True},
    bounded_calls=("info", "exists", "isdir", "isfile", "ls", "find", "mkdir", "makedirs", "mv", "rm", "rm_file"),
)
_PYARROW_CLIENT = Client(
    protocol="hdfs",
    impl="fsspec.implementations.arrow.HadoopFileSystem",
    extra="hdfs-pyarrow",
    settings=PYARROW_HDFS_SETTINGS,
)


def _row(name: str, protocol: str, impl: str, form: str) -> Scheme:
    """The hdfs-native row for ``name``, with pyarrow's as its alternative."""
    pyarrow = Scheme(
        name, UriGrammar("namenode", form=form), _PYARROW_CLIENT, _PATHS, mlflow_builtin=_BUILTIN, variant="pyarrow"
    )
    return Scheme(
        name,
        UriGrammar("namenode_url", form=form),
        dataclasses.replace(_NATIVE_CLIENT, protocol=protocol, impl=impl),
        # HDFS rename with OVERWRITE: an existing artifact is replaced atomically
        dataclasses.replace(_PATHS, rename_options={"overwrite": True}, refuses="#?;"),
        mlflow_builtin=_BUILTIN,
        variant="hdfs-native",
        variant_var="ARTIFACT_FS_HDFS_CLIENT",
        alternatives={"pyarrow": pyarrow},
    )


ROWS = (
    _row("hdfs", "hdfs", "hdfs_native.fsspec.HdfsFileSystem", _HDFS_FORM),
    _row("viewfs", "viewfs", "hdfs_native.fsspec.ViewfsFileSystem", _VIEWFS_FORM),
)
