"""The compatibility matrix: the unit tests and the contract suite (local, memory://,
SeaweedFS, moto) on every supported MLflow × Python, each in its own virtualenv under
``.matrix/``, then a Markdown pass/fail table with test counts.

Run it through ``scripts/matrix.sh`` (which provides uv). Environments are built once
and reused while ``pyproject.toml`` and the versions are unchanged; uv's cache lives in
``.matrix/cache``. Environments run one after another (never in parallel).

    scripts/matrix.sh                     # the whole matrix plus the minimum-versions environment
    scripts/matrix.sh --only py3.10-mlflow2.22.5
    scripts/matrix.sh --ref HEAD --write docs/compat-matrix.md
"""

from __future__ import annotations

import argparse
import datetime
import glob
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = pathlib.Path(__file__).resolve().parent.parent
MATRIX_DIR = REPO / ".matrix"

#: The supported range (artifact_fs/_compat.py SUPPORTED_MLFLOW): the 2.x line's latest,
#: the first 3.x line with the tracking_uri-only constructor, and the newest 3.x on PyPI.
MLFLOW_VERSIONS = ("2.22.5", "3.1.4", "3.17.2")
PYTHON_VERSIONS = ("3.10", "3.11", "3.12", "3.13")
#: What an MLflow release needs beside it for the tests' SQLite tracking store (MLflow's own
#: limits, which mlflow-skinny does not declare): MLflow 2.22 and 3.1 import a pool class
#: that SQLAlchemy 2.1 removed.
MLFLOW_COMPANIONS = {"2.22": ("sqlalchemy<2.1",), "3.1": ("sqlalchemy<2.1",)}
#: Unit tests plus the contract suite on local paths, file://, memory://, SeaweedFS and moto.
CONTRACT_TESTS = (
    "tests/test_compat.py",
    "tests/test_resolve_uris.py",
    "tests/test_resolve_settings.py",
    "tests/test_registry.py",
    "tests/test_paths_and_docs.py",
    "tests/test_backends.py",
    "tests/test_s3.py",
)
#: Extras whose declared minimums the minimum-versions environment pins with ``==``.
RUNTIME_EXTRAS = ("s3", "gcs", "azure", "sftp", "hdfs", "hdfs-pyarrow", "pandas", "polars", "upath", "cli")
SERVER_INSTALLS = ("sftp", "ftp", "gcs", "azure", "hdfs")
#: Known gaps at the declared minimums, deselected by name in the minimum-versions
#: environment (and listed in docs/compatibility.md): gcsfs before 2026.10 reads in its
#: own block size, so MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE has no effect there.
MINIMUM_KNOWN_GAPS = ("tests/test_backend_gcs.py::test_download_chunk_size_sets_the_ranged_reads",)
#: Requirements of the ``cluster`` extra the minimum-versions environment leaves out, each with
#: the reason its tests skip, given them in ``ARTIFACT_FS_TEST_WITHOUT_<NAME>``: ray[data] 2.60
#: needs packaging >= 24.2, pandas >= 2.2.3 and pyarrow >= 17, above the minimums pinned there.
MINIMUM_LEFT_OUT = {
    "ray": "ray[data] >= 2.60 needs packaging >= 24.2, pandas >= 2.2.3 and pyarrow >= 17: above the "
    "declared minimums the minimum-versions environment pins (scripts/matrix.py MINIMUM_LEFT_OUT)",
}


@dataclass
class Environment:
    """One cell of the matrix: a Python, what is installed beside the project, the tests."""

    name: str
    python: str
    mlflow: str
    pins: tuple[str, ...]  # requirements installed beside ``-e .[extras]``
    tests: tuple[str, ...] = CONTRACT_TESTS
    needs_servers: bool = False
    extras: str = "all,demo"
    refusal: bool = False  # an unsupported MLflow: the install and the repository must refuse it
    test_env: dict = field(default_factory=dict)  # variables the tests run with
    result: dict = field(default_factory=dict)


def minimum_pins(pyproject: dict) -> tuple[str, ...]:
    """``name==minimum`` for every ``name>=minimum`` among the core and runtime-extra requirements."""
    project = pyproject["project"]
    lines = list(project["dependencies"])
    for extra in RUNTIME_EXTRAS:
        lines += project["optional-dependencies"].get(extra, [])
    pins = {}
    for line in lines:
        requirement, _, marker = line.partition(";")
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*>=\s*([^,\s]+).*", requirement)
        if match and not match.group(1).startswith("artifact"):
            pin = f"{match.group(1)}=={match.group(2)}"
            pins[match.group(1).lower()] = f"{pin};{marker}" if marker.strip() else pin
    return tuple(sorted(pins.values()))


def test_tools(pyproject: dict) -> tuple[str, ...]:
    """The ``test`` extra's own requirements (pytest, servers, SDKs), without the extras it names."""
    test = pyproject["project"]["optional-dependencies"]["test"]
    return tuple(line for line in test if not line.replace("_", "-").startswith("artifact-fs"))


def cluster_requirements(pyproject: dict) -> tuple[str, ...]:
    """The ``cluster`` extra's requirements but those :data:`MINIMUM_LEFT_OUT` names."""
    lines = pyproject["project"]["optional-dependencies"].get("cluster", [])
    return tuple(line for line in lines if re.split(r"[\[<>=~!; ]", line, maxsplit=1)[0] not in MINIMUM_LEFT_OUT)


def companions(mlflow: str) -> tuple[str, ...]:
    """The requirements MLFLOW_COMPANIONS adds beside ``mlflow`` (matched by release line)."""
    return next((extra for line, extra in MLFLOW_COMPANIONS.items() if mlflow.startswith(line + ".")), ())


def environments(pyproject: dict) -> list[Environment]:
    """The default matrix, then the minimum-versions environment (oldest Python, whole suite).

    The cells install every runtime extra and the test tools, not the ``test`` extra itself:
    that one also pins the full MLflow the tracking-server tests run. The minimum-versions
    environment installs what the ``test`` extra does (so MLflow is the server extra's) but
    the ``cluster`` requirements :data:`MINIMUM_LEFT_OUT` names, and runs every test.
    """
    tools = test_tools(pyproject)
    envs = [
        Environment(f"py{py}-mlflow{mlflow}", py, mlflow, (f"mlflow-skinny=={mlflow}", *companions(mlflow), *tools))
        for mlflow in MLFLOW_VERSIONS
        for py in PYTHON_VERSIONS
    ]
    pins = tuple(pin for pin in minimum_pins(pyproject) if not pin.startswith("mlflow"))
    pins += tools + cluster_requirements(pyproject)
    gaps = tuple(f"--deselect={test}" for test in MINIMUM_KNOWN_GAPS)
    envs.append(
        Environment(
            "minimum-versions",
            PYTHON_VERSIONS[0],
            "server extra's",
            pins,
            ("tests", *gaps),
            needs_servers=True,
            extras="all,demo,server",
            test_env={f"ARTIFACT_FS_TEST_WITHOUT_{name.upper()}": why for name, why in MINIMUM_LEFT_OUT.items()},
        )
    )
    envs.append(
        Environment(
            f"unsupported-mlflow{UNSUPPORTED_MLFLOW}",
            PYTHON_VERSIONS[0],
            UNSUPPORTED_MLFLOW,
            (f"mlflow-skinny=={UNSUPPORTED_MLFLOW}",),
            (),
            refusal=True,
        )
    )
    return envs


UNSUPPORTED_MLFLOW = "2.21.3"  # the newest release below the supported range
REFUSAL_PROBE = (
    "from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository\n"
    "try:\n    get_artifact_repository('memory://refused/a')\n"
    "except ImportError as exc:\n    print(type(exc).__name__, exc)\n"
)


def check_refusal(env: Environment, src: pathlib.Path, uv: str, log) -> dict:
    """An unsupported MLflow: the resolver refuses ``artifact_fs`` beside it, and forced in
    (``--no-deps``), the repository refuses to run, naming the supported range."""
    venv = MATRIX_DIR / "envs" / env.name
    shutil.rmtree(venv, ignore_errors=True)
    uv_env = {**os.environ, "UV_CACHE_DIR": str(MATRIX_DIR / "cache")}
    python = str(venv / "bin" / "python")
    run([uv, "venv", "-q", "--python", find_python(env.python), str(venv)], log, src, uv_env)
    checks = {}
    log.write("\n# expected: the resolver refuses this MLflow\n")
    resolver = subprocess.run(
        [uv, "pip", "install", "--python", python, "-e", str(src), *env.pins],
        cwd=src,
        capture_output=True,
        text=True,
        env=uv_env,
    )
    log.write(resolver.stdout + resolver.stderr)
    checks["resolver refuses"] = resolver.returncode != 0 and "mlflow-skinny" in resolver.stderr
    run([uv, "pip", "install", "--python", python, *env.pins, "fsspec", "packaging"], log, src, uv_env)
    run([uv, "pip", "install", "--python", python, "--no-deps", "-e", str(src)], log, src, uv_env)
    probe = subprocess.run([python, "-c", REFUSAL_PROBE], cwd=src, capture_output=True, text=True)
    log.write(f"\n# expected: the repository refuses this MLflow\n{probe.stdout}{probe.stderr}")
    checks["repository refuses"] = probe.stdout.startswith("UnsupportedMlflowError") and ">=2.22,<4" in probe.stdout
    log.write(f"\n{checks}\n")
    passed = sum(checks.values())
    return {
        "status": "passed" if passed == len(checks) else "failed",
        "passed": passed,
        "failed": len(checks) - passed,
        "python_full": env.python,
        "mlflow_full": env.mlflow,
    }


def find_python(version: str) -> str:
    """An interpreter for ``version``: $MATRIX_PYTHON_3_10, ``python3.10`` on PATH, or pyenv's."""
    override = os.environ.get(f"MATRIX_PYTHON_{version.replace('.', '_')}")
    if override:
        return override
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = sorted(glob.glob(f"{pyenv}/versions/{version}.*/bin/python{version}"), reverse=True)
    found = shutil.which(f"python{version}")
    for candidate in [*candidates, found]:
        if candidate and subprocess.run([candidate, "-c", "pass"], capture_output=True).returncode == 0:
            return candidate
    raise RuntimeError(f"no Python {version} found (set MATRIX_PYTHON_{version.replace('.', '_')}=/path/to/python)")


def source_tree(ref: str | None) -> pathlib.Path:
    """The tree under test: the working tree, or ``git archive <ref>`` under .matrix/src/."""
    if not ref:
        return REPO
    sha = subprocess.run(["git", "rev-parse", ref], cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()
    target = MATRIX_DIR / "src" / sha[:12]
    if not target.exists():
        partial = target.with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", sha], cwd=REPO, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(partial)], input=archive, check=True)
        partial.rename(target)
    cache = target / ".cache"  # the test servers scripts/install-*.sh put under the checkout
    if not cache.exists():
        (REPO / ".cache").mkdir(exist_ok=True)
        cache.symlink_to(REPO / ".cache")
    return target


def run(cmd: list[str], log, cwd: pathlib.Path, env: dict | None = None) -> int:
    """Run ``cmd`` with its output appended to ``log``; its exit code."""
    log.write(f"\n$ {' '.join(cmd)}\n")
    log.flush()
    return subprocess.run(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env).returncode


def install(env: Environment, src: pathlib.Path, uv: str, log) -> pathlib.Path | None:
    """Create (or reuse) the environment's virtualenv with ``.[test]`` and its pins; None on failure."""
    venv = MATRIX_DIR / "envs" / env.name
    key = hashlib.sha256(f"{src}\n{(src / 'pyproject.toml').read_text()}\n{env.pins}{env.extras}".encode()).hexdigest()[
        :16
    ]
    stamp = venv / f".installed-{key}"
    if stamp.exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    uv_env = {**os.environ, "UV_CACHE_DIR": str(MATRIX_DIR / "cache")}
    if run([uv, "venv", "-q", "--python", find_python(env.python), str(venv)], log, src, uv_env):
        return None
    command = [uv, "pip", "install", "--python", str(venv / "bin" / "python"), "-e", f"{src}[{env.extras}]", *env.pins]
    if run(command, log, src, uv_env):
        return None
    run([uv, "pip", "freeze", "--python", str(venv / "bin" / "python")], log, src, uv_env)
    stamp.touch()
    return venv


def test(env: Environment, venv: pathlib.Path, src: pathlib.Path, log, extra_args: list[str]) -> dict:
    """Run the environment's tests; the counts from pytest's JUnit report."""
    if env.needs_servers:
        for server in SERVER_INSTALLS:
            if run(["bash", f"scripts/install-{server}.sh"], log, src):
                return {"status": f"install-{server}.sh failed"}
    report = venv / "junit.xml"
    report.unlink(missing_ok=True)
    basetemp = venv / "pytest-tmp"
    shutil.rmtree(basetemp, ignore_errors=True)
    python = str(venv / "bin" / "python")
    path = f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"
    child_env = {**os.environ, **env.test_env, "VIRTUAL_ENV": str(venv), "PATH": path}
    code = run(
        [python, "-m", "pytest", "-q", f"--basetemp={basetemp}", f"--junitxml={report}", *env.tests, *extra_args],
        log,
        src,
        child_env,
    )
    counts = junit_counts(report) if report.exists() else {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    versions = subprocess.run(
        [python, "-c", "import sys, mlflow.version; print(sys.version.split()[0], mlflow.version.VERSION)"],
        capture_output=True,
        text=True,
    ).stdout.split()
    status = "passed" if code == 0 and counts["passed"] else "failed"
    return {
        "status": status,
        "exit": code,
        **counts,
        "python_full": versions[0] if versions else "?",
        "mlflow_full": versions[1] if len(versions) > 1 else "?",
    }


def junit_counts(report: pathlib.Path) -> dict:
    """passed/failed/errors/skipped from a pytest JUnit report."""
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    for suite in ET.parse(report).getroot().iter("testsuite"):
        tests, failures, errors, skipped = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
        counts["failed"] += failures
        counts["errors"] += errors
        counts["skipped"] += skipped
        counts["passed"] += tests - failures - errors - skipped
    return counts


def from_junit(env: Environment) -> dict:
    """A result rebuilt from an environment's last JUnit report (a run that was stopped early
    or predates the per-environment result files); {} when there is none."""
    report = MATRIX_DIR / "envs" / env.name / "junit.xml"
    if not report.exists():
        return {}
    counts = junit_counts(report)
    when = datetime.datetime.fromtimestamp(report.stat().st_mtime, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    ok = counts["passed"] and not counts["failed"] and not counts["errors"]
    return {"status": "passed" if ok else "failed", **counts, "when": when}


def markdown(envs: list[Environment], header: str | None, timings: bool = True) -> str:
    """The MLflow × Python table, then one line per environment. Without ``header`` and
    ``timings`` (what ``--write`` puts in the docs): results only, no run log."""
    lines = [
        *([header, ""] if header else []),
        "| MLflow \\ Python | " + " | ".join(PYTHON_VERSIONS) + " |",
        "|---" * (len(PYTHON_VERSIONS) + 1) + "|",
    ]
    by_cell = {(e.mlflow, e.python): e for e in envs if e.name.startswith("py")}
    for mlflow in MLFLOW_VERSIONS:
        cells = []
        for py in PYTHON_VERSIONS:
            e = by_cell.get((mlflow, py))
            cells.append(_cell(e.result) if e and e.result else "not run")
        lines.append(f"| {mlflow} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| environment | Python | MLflow | result | passed | failed | errors | skipped |"
        + (" minutes |" if timings else ""),
        "|---" * (9 if timings else 8) + "|",
    ]
    for e in envs:
        r = e.result
        if not r:
            continue
        lines.append(
            f"| {e.name} | {r.get('python_full', e.python)} | {r.get('mlflow_full', e.mlflow)} | {r['status']} | "
            f"{r.get('passed', 0)} | {r.get('failed', 0)} | {r.get('errors', 0)} | {r.get('skipped', 0)} |"
            + ((f" {r['seconds'] / 60:.1f} |" if "seconds" in r else " ? |") if timings else "")
        )
    return "\n".join(lines) + "\n"


START, END = "<!-- matrix table: scripts/matrix.sh --write -->", "<!-- end of matrix table -->"


def write_table(path: pathlib.Path, table: str) -> None:
    """Put ``table`` between the markers of ``path`` when it has them, else make it the whole file."""
    text = path.read_text() if path.exists() else ""
    if START in text and END in text:
        before, _, rest = text.partition(START)
        path.write_text(f"{before}{START}\n{table}{END}{rest.partition(END)[2]}")
    else:
        path.write_text(table)


def _cell(result: dict) -> str:
    if result["status"] != "passed":
        return (
            f"**{result['status']}** ({result.get('passed', 0)} passed, "
            f"{result.get('failed', 0) + result.get('errors', 0)} failed)"
        )
    return f"passed ({result['passed']} tests)"


def main(argv: list[str] | None = None) -> int:
    """Build and test the selected environments; print the table; non-zero if any failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated environment names (default: all)")
    parser.add_argument("--list", action="store_true", help="print the environment names and exit")
    parser.add_argument(
        "--report", action="store_true", help="run nothing: the table of the last result of each environment"
    )
    parser.add_argument("--tests", help="space-separated test paths instead of each environment's own")
    parser.add_argument("--ref", help="test this git commit (exported under .matrix/src) instead of the working tree")
    parser.add_argument(
        "--write",
        action="append",
        help="also write the table to this Markdown file "
        "(between the matrix markers when it has them, as docs/compatibility.md does); repeatable",
    )
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    uv = os.environ.get("UV") or shutil.which("uv")
    if not uv:
        parser.error("uv not found: run this through scripts/matrix.sh")
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    envs = environments(pyproject)
    if args.list:
        print("\n".join(f"{e.name}: Python {e.python}, {' '.join(e.pins)}; tests: {' '.join(e.tests)}" for e in envs))
        return 0
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {e.name for e in envs}
        if unknown:
            parser.error(f"unknown environments: {', '.join(sorted(unknown))} (see --list)")
        envs = [e for e in envs if e.name in wanted]
    for env in envs:
        if args.tests and not env.refusal:
            env.tests = tuple(args.tests.split())
    results_dir = MATRIX_DIR / "results"
    if args.report:
        last_run = MATRIX_DIR / "results.json"
        combined = json.loads(last_run.read_text()) if last_run.exists() else {}
        for env in envs:
            saved = results_dir / f"{env.name}.json"
            env.result = json.loads(saved.read_text()) if saved.exists() else combined.get(env.name) or from_junit(env)
        envs = [env for env in envs if env.result]
    src = source_tree(args.ref)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", args.ref or "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    (MATRIX_DIR / "logs").mkdir(parents=True, exist_ok=True)
    for env in [] if args.report else envs:
        started = time.monotonic()
        log_path = MATRIX_DIR / "logs" / f"{env.name}.log"
        with open(log_path, "w") as log:
            if env.refusal:
                env.result = check_refusal(env, src, uv, log)
            else:
                venv = install(env, src, uv, log)
                env.result = test(env, venv, src, log, args.pytest_args) if venv else {"status": "install failed"}
        env.result["seconds"] = time.monotonic() - started
        env.result["when"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        env.result["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", args.ref or "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        results_dir.mkdir(parents=True, exist_ok=True)
        (results_dir / f"{env.name}.json").write_text(json.dumps(env.result, indent=2))
        r = env.result
        print(
            f"{env.name:<24} {r['status']:<16} passed={r.get('passed', 0)} failed={r.get('failed', 0)} "
            f"errors={r.get('errors', 0)} ({r['seconds']:.0f} s, log {log_path.relative_to(REPO)})",
            flush=True,
        )
        if r["status"] != "passed":  # what went wrong, without opening the log
            print("".join(log_path.read_text(errors="replace").splitlines(keepends=True)[-30:]), flush=True)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if args.report:
        times = sorted(e.result["when"] for e in envs if e.result.get("when")) or ["?"]
        commits = ", ".join(sorted({e.result["commit"] for e in envs if e.result.get("commit")})) or "?"
        header = (
            f"Last run of each environment ({times[0]} to {times[-1]}; commits {commits}):"
            if envs
            else "No results yet."
        )
    else:
        header = f"Matrix run of {commit}{' (working tree)' if not args.ref else ''}, {when}:"
    table = markdown(envs, header)
    print("\n" + table)
    passed = sum(e.result.get("passed", 0) for e in envs)
    failed = sum(e.result.get("failed", 0) + e.result.get("errors", 0) for e in envs)
    failed += sum(
        1
        for e in envs
        if e.result.get("status") != "passed" and not e.result.get("failed") and not e.result.get("errors")
    )
    print(f"matrix: {passed} passed, {failed} failed")
    (MATRIX_DIR / "results.json").write_text(json.dumps({e.name: e.result for e in envs}, indent=2))
    for path in args.write or []:
        write_table(pathlib.Path(path), markdown(envs, None, timings=False))
    return 0 if all(e.result.get("status") == "passed" for e in envs) else 1


if __name__ == "__main__":
    sys.exit(main())
