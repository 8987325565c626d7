"""``artifact-fs``: list, copy, print, delete and measure artifacts; explain how a URI resolves.

Every command takes any MLflow artifact URI (``s3://…``, ``wasbs://…``, ``hdfs:/…``, a local
path, ``runs:/<run_id>/<path>``, ``models:/<name>@<alias>/<path>``…). Errors are one line on
stderr (``--debug`` shows the traceback); the exit code says what went wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import shutil
import sys
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_DENIED, EXIT_MISSING_BACKEND, EXIT_INTERRUPTED = (
    0,
    1,
    2,
    3,
    4,
    5,
    130,
)

EPILOG = """exit codes: 0 done; 1 the store or the transfer failed; 2 bad usage, URI, path or setting;
3 no such artifact, run or model; 4 permission denied; 5 the backend's package is not installed;
130 interrupted"""


def _options(args) -> dict[str, Any]:
    return {"tracking_uri": args.tracking_uri} if args.tracking_uri else {}


def _tracked(uri: str) -> bool:
    from .api import TRACKED_SCHEMES
    from .uri import uri_scheme

    return uri_scheme(uri) in TRACKED_SCHEMES


def _opts_for(uri: str, args) -> dict[str, Any]:
    return _options(args) if _tracked(uri) else {}


def _emit(args, data: Any, text: str) -> None:
    if args.json:
        print(json.dumps(data, indent=None if args.compact else 2, default=str))
    elif text:
        print(text)


def cmd_ls(args) -> int:
    """``ls URI``: children of a directory (``-l`` sizes, ``-R`` every file below)."""
    from .api import filesystem

    fs, path = filesystem(args.uri, **_opts_for(args.uri, args))
    info = fs.info(path)
    if info.get("type") != "directory":
        entries = [info]
    elif args.recursive:
        entries = list(fs.find(path, detail=True).values())
    else:
        entries = fs.ls(path, detail=True)
    base = fs._strip_protocol(path).rstrip("/")
    rows = []
    for entry in sorted(entries, key=lambda e: e["name"]):
        name = fs._strip_protocol(entry["name"]).rstrip("/")
        relative = name[len(base) + 1 :] if name.startswith(base + "/") else posixpath.basename(name)
        is_dir = entry.get("type") == "directory"
        rows.append({"path": relative, "is_dir": is_dir, "size": None if is_dir else int(entry.get("size") or 0)})
    lines = []
    for row in rows:
        shown = row["path"] + ("/" if row["is_dir"] else "")
        lines.append(f"{'-' if row['is_dir'] else row['size']:>12}  {shown}" if args.long else shown)
    _emit(args, rows, "\n".join(lines))
    return EXIT_OK


def cmd_cp(args) -> int:
    """``cp SRC DST``: upload, download or copy between stores (a directory copies its contents)."""
    from .api import cp

    progress = True if args.progress else (False if args.no_progress or args.json else None)
    result = cp(args.src, args.dst, progress=progress, **_options(args))
    data = {"files": result.files, "bytes": result.bytes, "destination": result.destination}
    _emit(args, data, f"copied {result.files} file(s), {result.bytes} bytes to {result.destination}")
    return EXIT_OK


def cmd_cat(args) -> int:
    """``cat URI``: write a file's bytes to stdout."""
    from .api import filesystem

    fs, path = filesystem(args.uri, **_opts_for(args.uri, args))
    with fs.open(path, "rb") as src:
        shutil.copyfileobj(src, sys.stdout.buffer, 1024 * 1024)
    sys.stdout.buffer.flush()
    return EXIT_OK


def cmd_rm(args) -> int:
    """``rm URI``: delete a file; a directory needs ``-r``."""
    from .api import rm

    rm(args.uri, recursive=args.recursive, **_opts_for(args.uri, args))  # FileNotFoundError → exit 3
    _emit(args, {"removed": args.uri}, "" if not args.verbose else f"removed {args.uri}")
    return EXIT_OK


def cmd_du(args) -> int:
    """``du URI``: total bytes and files below a path."""
    from .api import filesystem

    fs, path = filesystem(args.uri, **_opts_for(args.uri, args))
    info = fs.info(path)
    entries = [info] if info.get("type") != "directory" else list(fs.find(path, detail=True).values())
    files = [e for e in entries if e.get("type") != "directory"]
    total = sum(int(e.get("size") or 0) for e in files)
    shown = _human(total) if args.human else str(total)
    _emit(args, {"uri": args.uri, "bytes": total, "files": len(files)}, f"{shown}\t{len(files)} files\t{args.uri}")
    return EXIT_OK


def cmd_resolve(args) -> int:
    """``resolve URI``: the fsspec URL and options (secrets redacted); ``--explain`` says where each came from;
    ``--format spark``: the Hadoop settings for Spark (secrets as ``${env.NAME}`` unless ``--show-secrets``)."""
    if args.format == "spark":
        from .spark import spark_conf

        if args.explain:
            raise ValueError("--explain describes the fsspec resolution: it does not combine with --format spark")
        settings = spark_conf(args.uri, secrets=args.show_secrets, **_opts_for(args.uri, args))
        _emit(args, settings.as_dict(), settings.text())
        return EXIT_OK
    if args.show_secrets:
        raise ValueError("--show-secrets applies to --format spark only (fsspec options always show secrets as ***)")
    from .explain import explain

    data = explain(args.uri, **_opts_for(args.uri, args))
    text = (
        data["text"] if args.explain else f"{data['url']}\n{json.dumps(data['storage_options'], indent=2, default=str)}"
    )
    _emit(args, {k: v for k, v in data.items() if k != "text"}, text)
    return EXIT_OK


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


def parser() -> argparse.ArgumentParser:
    """The argument parser (also used to render ``--help``)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
    common.add_argument("--compact", action="store_true", help=argparse.SUPPRESS)
    common.add_argument(
        "--tracking-uri", help="tracking server for runs:/ and models:/ URIs (default: MLFLOW_TRACKING_URI)"
    )
    common.add_argument("--debug", action="store_true", help="show tracebacks")
    top = argparse.ArgumentParser(
        prog="artifact-fs",
        description=__doc__.split("\n\n")[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler, help_text: str):
        sub = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[common],
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(handler=handler)
        return sub

    ls = add("ls", cmd_ls, "list a directory")
    ls.add_argument("uri")
    ls.add_argument("-l", "--long", action="store_true", help="show sizes")
    ls.add_argument("-R", "--recursive", action="store_true", help="every file below, not just the children")
    cp = add("cp", cmd_cp, "copy a file or directory: upload, download, or store to store")
    cp.add_argument("src")
    cp.add_argument("dst")
    bar = cp.add_mutually_exclusive_group()
    bar.add_argument("--progress", action="store_true", help="always show a progress bar (default: on a terminal)")
    bar.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    cat = add("cat", cmd_cat, "write a file to stdout")
    cat.add_argument("uri")
    rm = add("rm", cmd_rm, "delete a file, or a directory with -r")
    rm.add_argument("uri")
    rm.add_argument("-r", "--recursive", action="store_true")
    rm.add_argument("-v", "--verbose", action="store_true")
    du = add("du", cmd_du, "bytes and files below a path")
    du.add_argument("uri")
    du.add_argument("-H", "--human", action="store_true", help="sizes in KiB/MiB/GiB")
    resolve = add("resolve", cmd_resolve, "show the fsspec URL and options a URI resolves to, or Spark's settings")
    resolve.add_argument("uri")
    resolve.add_argument("--explain", action="store_true", help="which setting was read from where, and what it became")
    resolve.add_argument(
        "--format",
        choices=("fsspec", "spark"),
        default="fsspec",
        help="fsspec: the fsspec URL and storage options; spark: the native URL and the spark-submit --conf "
        "settings that make Spark read the same location (--json: {url, conf, notes})",
    )
    resolve.add_argument(
        "--show-secrets", action="store_true", help="with --format spark: write secret values, not ${env.NAME}"
    )
    return top


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an error (see ``EPILOG``)."""
    from mlflow.exceptions import MlflowException

    from .errors import BackendNotInstalledError

    if isinstance(exc, MlflowException):
        return {
            "RESOURCE_DOES_NOT_EXIST": EXIT_NOT_FOUND,
            "PERMISSION_DENIED": EXIT_DENIED,
            "INVALID_PARAMETER_VALUE": EXIT_USAGE,
        }.get(exc.error_code, EXIT_FAILED)
    for cls, code in (
        (BackendNotInstalledError, EXIT_MISSING_BACKEND),
        (FileNotFoundError, EXIT_NOT_FOUND),
        (PermissionError, EXIT_DENIED),
        (IsADirectoryError, EXIT_USAGE),
        (NotADirectoryError, EXIT_USAGE),
        (ValueError, EXIT_USAGE),
    ):
        if isinstance(exc, cls):
            return code
    return EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (``artifact-fs`` exits with it)."""
    args = parser().parse_args(argv)
    try:
        code = args.handler(args)
    except KeyboardInterrupt:
        print("artifact-fs: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # `| head` closed the pipe
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - every error becomes one line and an exit code
        if args.debug:
            raise
        message = (getattr(exc, "message", None) or str(exc) or type(exc).__name__).strip().splitlines()[0]
        print(f"artifact-fs: {args.command}: {type(exc).__name__}: {message}", file=sys.stderr)
        return exit_code_for(exc)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
