"""Merge runs into one table: ``python -m benchmarks.merge OUT_DIR RUN_DIR [RUN_DIR ...]``.

Each RUN_DIR holds a ``results.json`` of :mod:`benchmarks.run` (same scale and reps, other
backends, e.g. parts of the backend list run side by side). A run stopped before it wrote
its JSON may be given as its progress log (``*.log``, stderr of the run): its measurement
lines (wall, CPU, peak RSS; no RSS growth) are taken from there. Each backend × workload
comes from the first run, in argument order, that measured it (later runs fill gaps), so a
rerun of some backends goes first and an earlier merge (its ``latest.json`` copied to
``RUN_DIR/results.json``) fills in the rest, keeping its per-backend scales. Writes
``OUT_DIR/latest.json`` and ``OUT_DIR/latest.md`` — the committed record.
"""

from __future__ import annotations

import json
import pathlib
import re
import sys

from . import report

LINE = re.compile(r"^\[(\S+) (\S+) rep (\d+)/\d+\] (\S+)\s+([\d.]+) s wall, ([\d.]+) s CPU, ([\d.]+) MiB$")


def from_log(path: pathlib.Path, template: dict) -> dict:
    """A run payload rebuilt from a progress log (``template``: another run's metadata)."""
    measurements = []
    for line in path.read_text().splitlines():
        match = LINE.match(line.strip())
        if match:
            backend, workload, rep, contender, wall, cpu, rss = match.groups()
            measurements.append({"backend": backend, "workload": workload, "rep": int(rep) - 1,
                                 "contender": contender, "wall_s": float(wall), "cpu_s": float(cpu),
                                 "peak_rss_mib": float(rss),
                                 "peak_rss_growth_mib": None, "from_log": True})  # fmt: skip
    from .backends import BY_NAME

    backends = list(dict.fromkeys(m["backend"] for m in measurements))
    meta = {**template, "backends": backends, "started": f"(progress log {path.name})", "duration_s": None,
            "commit": "", "servers": {b: BY_NAME[b].notes for b in backends},
            "raw_clients": {b: BY_NAME[b].raw_doc for b in backends}}  # fmt: skip
    return {"meta": meta, "measurements": measurements}


def merge(run_dirs: list[str]) -> dict:
    """One payload from several ``results.json`` files (their measurements concatenated)."""
    loaded = {d: json.loads((pathlib.Path(d) / "results.json").read_text()) for d in run_dirs if not d.endswith(".log")}
    template = next(iter(loaded.values()))["meta"]
    runs = [loaded[d] if d in loaded else from_log(pathlib.Path(d), template) for d in run_dirs]
    meta = dict(runs[0]["meta"])
    for key in ("backends",):
        meta[key] = list(dict.fromkeys(b for run in runs for b in run["meta"][key]))
    for key in ("servers", "raw_clients"):
        meta[key] = {k: v for run in runs for k, v in run["meta"][key].items()}
    meta["scale"] = " + ".join(
        dict.fromkeys(part for run in runs for part in str(run["meta"].get("scale")).split(" + "))
    )
    meta["scale_by_backend"] = {b: run["meta"].get("scale_by_backend", {}).get(b, run["meta"]["scale"])
                                for run in reversed(runs) for b in run["meta"]["backends"]}  # fmt: skip
    meta["duration_s"] = max(run["meta"].get("duration_s") or 0 for run in runs)
    meta["runs"], measurements, taken = [], [], set()
    for run in runs:  # a backend × workload comes from the first run (in argument order) that measured it
        used = {(m["backend"], m["workload"]) for m in run["measurements"]} - taken
        measurements += [m for m in run["measurements"] if (m["backend"], m["workload"]) in used]
        taken |= used
        meta["runs"] += [part for part in _parts(run["meta"]) if _contributed(part, used)]
    summary = report.summarize(measurements)
    return {"meta": meta, "summary": summary, "ratios": report.ratios(summary), "measurements": measurements}


def _parts(meta: dict) -> list[dict]:
    """The runs behind one input: its own ``runs`` when it is an earlier merge (a committed
    ``latest.json`` copied to ``RUN_DIR/results.json``), else the run itself."""
    if meta.get("runs"):
        return list(meta["runs"])
    return [{"backends": meta["backends"], "workloads": meta.get("workloads"), "started": meta["started"],
             "commit": meta["commit"], "duration_s": meta.get("duration_s")}]  # fmt: skip


def _contributed(part: dict, used: set[tuple[str, str]]) -> bool:
    """Whether a run gave any of the figures ``used`` (an older part names no workloads:
    then any figure of its backends counts)."""
    workloads = part.get("workloads")
    return any(backend in part["backends"] and (not workloads or workload in workloads) for backend, workload in used)


def main(argv: list[str] | None = None) -> int:
    """Write ``latest.json`` and ``latest.md`` into the first argument's directory."""
    argv = sys.argv[1:] if argv is None else argv
    out, runs = pathlib.Path(argv[0]), argv[1:]
    payload = merge(runs)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(payload, indent=2) + "\n")
    text = report.markdown(payload["summary"], payload["ratios"], payload["meta"])
    (out / "latest.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
