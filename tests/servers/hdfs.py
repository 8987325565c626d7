"""A real Hadoop 2.7.3 NameNode + DataNode on 127.0.0.1 (conftest: ``hdfs``).

:func:`hdfs_server` runs both daemons from the classpath ``scripts/install-hdfs.sh``
builds (``$ARTIFACT_FS_HADOOP27_HOME``, default ``.cache/hadoop27``: the jars of PyPI's
pyspark 2.4.8 sdist plus Debian's Jersey 1) on the machine's Java. Every port is a
free one, bound to 127.0.0.1 — including the DataNode's internal Jetty, whose address
Hadoop 2.7.3 hard-codes as ``http://localhost:0``: the class that holds that constant
is copied out of the jar with the constant rewritten and put first on the classpath
(the jar itself is untouched). The NameNode is formatted first; the server is ready
when the NameNode's JMX reports one live DataNode and safe mode off. Both process
groups are killed on exit.

A NameNode named by ``ARTIFACT_FS_TEST_HDFS_URL`` (``hdfs://127.0.0.1:PORT``) is reused
instead, unless ``reuse=False``: the test that pauses the NameNode starts its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import signal
import struct
import subprocess
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from .common import REPO_ROOT, _kill_group, _log_tail, free_ports

URL_ENV = "ARTIFACT_FS_TEST_HDFS_URL"
HOME_ENV = "ARTIFACT_FS_HADOOP27_HOME"
HDFS_JAR = "hadoop-hdfs-2.7.3.jar"
PATCHED_CLASS = "org/apache/hadoop/hdfs/server/datanode/web/DatanodeHttpServer.class"
HARDCODED = b"http://localhost:0"
NAMENODE = "org.apache.hadoop.hdfs.server.namenode.NameNode"
DATANODE = "org.apache.hadoop.hdfs.server.datanode.DataNode"
JVM_OPTIONS = ["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.net.preferIPv4Stack=true"]


@dataclass
class HDFSServer:
    """Where a NameNode listens and, if ours, its processes and logs."""

    rpc_port: int
    http_port: int | None = None
    workdir: pathlib.Path | None = None
    procs: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        """``hdfs://127.0.0.1:PORT`` — the NameNode's RPC address as an MLflow URI prefix."""
        return f"hdfs://127.0.0.1:{self.rpc_port}"

    def uri(self, path: str = "/") -> str:
        """``hdfs://127.0.0.1:PORT/<path>``."""
        return f"{self.url}/{path.lstrip('/')}"

    def fs(self):
        """A plain hdfs-native filesystem on this NameNode (private: not from fsspec's cache)."""
        from hdfs_native.fsspec import HdfsFileSystem

        return HdfsFileSystem(host="127.0.0.1", port=self.rpc_port, skip_instance_cache=True)

    def log(self, name: str = "namenode") -> str:
        """The last lines of a daemon's log (ours only)."""
        return _log_tail(self.workdir / f"{name}.log") if self.workdir else ""

    def state(self, name: str) -> str:
        """The kernel's state letter of one of our processes (``T``: stopped), for failure messages."""
        try:
            with open(f"/proc/{self.procs[name].pid}/stat") as stat:
                return f"process state {stat.read().rpartition(')')[2].split()[0]}"
        except OSError as exc:
            return f"process state unknown: {exc}"

    @contextlib.contextmanager
    def paused_namenode(self) -> Iterator[None]:
        """SIGSTOP the NameNode (it accepts connections but never answers), SIGCONT after."""
        proc = self.procs["namenode"]
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(proc.pid, signal.SIGCONT)


def hadoop_home() -> pathlib.Path:
    """The classpath that scripts/install-hdfs.sh built; RuntimeError (not a skip) if missing."""
    home = pathlib.Path(os.environ.get(HOME_ENV) or REPO_ROOT / ".cache" / "hadoop27")
    if not (home / "cp" / HDFS_JAR).is_file() or not (home / "res" / "webapps").is_dir():
        raise RuntimeError(f"no Hadoop 2.7.3 classpath in {home}: run scripts/install-hdfs.sh")
    return home


def java_binary() -> str:
    """``$JAVA_HOME/bin/java``, else ``java`` on PATH."""
    candidates = [pathlib.Path(os.environ["JAVA_HOME"]) / "bin" / "java"] if os.environ.get("JAVA_HOME") else []
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise RuntimeError("no java on PATH (scripts/install-hdfs.sh installs openjdk-17-jre-headless)")
    return found


def patch_datanode_http(jar: pathlib.Path, out_dir: pathlib.Path, port: int) -> None:
    """Copy DatanodeHttpServer.class out of ``jar`` with ``http://localhost:0`` → ``http://127.0.0.1:PORT``.

    The constant is one CONSTANT_Utf8 entry (tag 1, u2 length, bytes); entries are
    referenced by index, so a different length needs no other change.
    """
    data = zipfile.ZipFile(jar).read(PATCHED_CLASS)
    old = b"\x01" + struct.pack(">H", len(HARDCODED)) + HARDCODED
    if data.count(old) != 1:
        raise RuntimeError(f"{PATCHED_CLASS} in {jar} does not hold {HARDCODED!r} exactly once")
    replacement = f"http://127.0.0.1:{port}".encode()
    target = out_dir / PATCHED_CLASS
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data.replace(old, b"\x01" + struct.pack(">H", len(replacement)) + replacement))


def _site(properties: dict[str, object]) -> str:
    rows = "".join(f"  <property><name>{k}</name><value>{v}</value></property>\n" for k, v in properties.items())
    return f'<?xml version="1.0"?>\n<configuration>\n{rows}</configuration>\n'


def core_site(directory: pathlib.Path, properties: dict[str, object]) -> pathlib.Path:
    """``directory`` holding a core-site.xml with ``properties`` (a client's $HADOOP_CONF_DIR)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "core-site.xml").write_text(_site(properties))
    return directory


def write_config(conf: pathlib.Path, work: pathlib.Path, ports: dict[str, int]) -> None:
    """core-site.xml, hdfs-site.xml and log4j.properties for one NameNode + one DataNode."""
    conf.mkdir(parents=True, exist_ok=True)
    loopback = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    (conf / "core-site.xml").write_text(_site({
        "fs.defaultFS": f"hdfs://{loopback['rpc']}",
        "hadoop.tmp.dir": work / "tmp",
        "ipc.client.connect.retry.interval": 100,  # the DataNode finds the NameNode sooner
        "ipc.client.connect.max.retries": 300,
    }))  # fmt: skip
    (conf / "hdfs-site.xml").write_text(_site({
        "dfs.namenode.name.dir": f"file://{work / 'name'}",
        "dfs.datanode.data.dir": f"file://{work / 'data'}",
        "dfs.replication": 1,
        "dfs.blocksize": 1048576,  # 1 MiB (the smallest allowed): big test files span several blocks
        "dfs.permissions.enabled": "false",
        "dfs.namenode.rpc-address": loopback["rpc"],
        "dfs.namenode.http-address": loopback["http"],
        "dfs.namenode.https-address": loopback["https"],
        "dfs.namenode.secondary.http-address": loopback["secondary_http"],
        "dfs.namenode.secondary.https-address": loopback["secondary_https"],
        "dfs.datanode.address": loopback["dn_data"],
        "dfs.datanode.http.address": loopback["dn_http"],
        "dfs.datanode.ipc.address": loopback["dn_ipc"],
        "dfs.datanode.https.address": loopback["dn_https"],
        "dfs.datanode.hostname": "127.0.0.1",
        "dfs.client.use.datanode.hostname": "true",
        "dfs.namenode.datanode.registration.ip-hostname-check": "false",
        "dfs.namenode.safemode.threshold-pct": 0,
        "dfs.namenode.safemode.extension": 0,
        "dfs.heartbeat.interval": 1,
        "dfs.webhdfs.enabled": "true",
    }))  # fmt: skip
    (conf / "log4j.properties").write_text(
        "log4j.rootLogger=INFO,console\n"
        "log4j.appender.console=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.console.target=System.err\n"
        "log4j.appender.console.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n\n"
    )


def _jmx(http_port: int, bean: str) -> dict:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{http_port}/jmx?qry=Hadoop:service=NameNode,name={bean}", timeout=2) as r:
        beans = json.load(r).get("beans") or [{}]
    return beans[0]


def _ready(http_port: int) -> bool:
    """One live DataNode registered and safe mode off, per the NameNode's JMX."""
    try:
        live = _jmx(http_port, "FSNamesystemState").get("NumLiveDataNodes")
        return live == 1 and _jmx(http_port, "NameNodeInfo").get("Safemode") == ""
    except (OSError, ValueError):
        return False


def _java_env() -> dict[str, str]:
    """This process's environment without client-side Hadoop/Kerberos variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HADOOP_") and k != "KRB5CCNAME"}


@contextlib.contextmanager
def hdfs_server(workdir: pathlib.Path, *, timeout: float = 90.0, reuse: bool = True) -> Iterator[HDFSServer]:
    """Yield a running NameNode + DataNode; kill both process groups on exit."""
    url = os.environ.get(URL_ENV, "").rstrip("/")
    if url and reuse:
        yield HDFSServer(rpc_port=int(url.rpartition(":")[2]))
        return
    home, java = hadoop_home(), java_binary()
    work = pathlib.Path(workdir)
    names = [
        "rpc",
        "http",
        "https",
        "secondary_http",
        "secondary_https",
        "dn_data",
        "dn_http",
        "dn_ipc",
        "dn_https",
        "dn_jetty",
    ]
    ports = dict(zip(names, free_ports(len(names))))
    write_config(work / "conf", work, ports)
    patch_datanode_http(home / "cp" / HDFS_JAR, work / "patch", ports["dn_jetty"])
    classpath = os.pathsep.join([str(work / "patch"), str(work / "conf"), str(home / "res"), str(home / "cp" / "*")])
    base = [java, *JVM_OPTIONS, f"-Dhadoop.log.dir={work / 'logs'}", "-cp", classpath]
    server = HDFSServer(rpc_port=ports["rpc"], http_port=ports["http"], workdir=work)
    with open(work / "format.log", "wb") as log:
        formatted = subprocess.run(
            [*base, NAMENODE, "-format", "-force", "-nonInteractive"], cwd=work, env=_java_env(),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False,
        )  # fmt: skip
    if formatted.returncode != 0:
        raise RuntimeError(f"NameNode -format exited with {formatted.returncode}:\n{server.log('format')}")
    try:
        for name, main in (("namenode", NAMENODE), ("datanode", DATANODE)):
            with open(work / f"{name}.log", "wb") as log:
                server.procs[name] = subprocess.Popen(
                    [*base, main], cwd=work, env=_java_env(), stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not _ready(ports["http"]):
            exited = [f"{n} exited with {p.returncode}" for n, p in server.procs.items() if p.poll() is not None]
            if exited or time.monotonic() > deadline:
                problem = "; ".join(exited) or f"no live DataNode after {timeout:.0f} s"
                raise RuntimeError(
                    f"HDFS did not start: {problem}\nnamenode log:\n{server.log('namenode')}\n"
                    f"datanode log:\n{server.log('datanode')}"
                )
            time.sleep(0.1)
        yield server
    finally:
        for proc in server.procs.values():
            _kill_group(proc, 0)  # throwaway data: SIGKILL at once (also ends a SIGSTOPped JVM)
