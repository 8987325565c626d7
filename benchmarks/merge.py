"""Merge runs into one table: ``python -m benchmarks.merge OUT_DIR RUN_DIR [RUN_DIR ...]``.

Each RUN_DIR holds a ``results.json`` of :mod:`benchmarks.run` (same scale and reps, other
backends, e.g. two halves of the backend list run side by side). Writes
``OUT_DIR/latest.json`` and ``OUT_DIR/latest.md`` — the committed record.
"""

from __future__ import annotations

import json
import pathlib
import sys

from . import report


def merge(run_dirs: list[str]) -> dict:
    """One payload from several ``results.json`` files (their measurements concatenated)."""
    runs = [json.loads((pathlib.Path(d) / "results.json").read_text()) for d in run_dirs]
    meta = dict(runs[0]["meta"])
    for key in ("backends",):
        meta[key] = [b for run in runs for b in run["meta"][key]]
    for key in ("servers", "raw_clients"):
        meta[key] = {k: v for run in runs for k, v in run["meta"][key].items()}
    meta["duration_s"] = max(run["meta"].get("duration_s", 0) for run in runs)
    meta["runs"] = [{"backends": r["meta"]["backends"], "started": r["meta"]["started"], "commit": r["meta"]["commit"],
                     "duration_s": r["meta"].get("duration_s")} for r in runs]  # fmt: skip
    measurements = [m for run in runs for m in run["measurements"]]
    summary = report.summarize(measurements)
    return {"meta": meta, "summary": summary, "ratios": report.ratios(summary), "measurements": measurements}


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
