"""Aggregating measurements into medians and ratios, and rendering them as Markdown."""

from __future__ import annotations

import statistics
from collections import defaultdict

from .config import CONSTRUCTION, CONTENDERS, SCALES, WORKLOADS


def summarize(measurements: list[dict]) -> list[dict]:
    """One row per backend × workload × contender: median/min/max wall, median CPU, max RSS.

    Failed measurements (records with an ``error``) are counted, not aggregated.
    """
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for record in measurements:
        groups[(record["backend"], record["workload"], record["contender"])].append(record)
    rows = []
    for (backend, workload, contender), records in groups.items():
        good = [r for r in records if "error" not in r and "unavailable" not in r]
        unavailable = next((r["unavailable"] for r in records if "unavailable" in r), None)
        walls = [r["wall_s"] for r in good]
        rows.append({
            "backend": backend, "workload": workload, "contender": contender,
            "n": len(good), "errors": sum(1 for r in records if "error" in r), "unavailable": unavailable,
            "big_bytes": next((r.get("big_bytes") for r in records if r.get("big_bytes")), None),
            "constructions": next((r.get("constructions") for r in records if r.get("constructions")), None),
            "wall_median_s": statistics.median(walls) if walls else None,
            "wall_min_s": min(walls) if walls else None,
            "wall_max_s": max(walls) if walls else None,
            "cpu_median_s": statistics.median(r["cpu_s"] for r in good) if good else None,
            "peak_rss_max_mib": max(r["peak_rss_mib"] for r in good) if good else None,
            "peak_rss_growth_max_mib": max(growths)
            if (growths := [r["peak_rss_growth_mib"] for r in good if r.get("peak_rss_growth_mib") is not None])
            else None,
        })  # fmt: skip
    order = {name: i for i, name in enumerate(WORKLOADS)}
    rows.sort(key=lambda r: (r["backend"], order.get(r["workload"], 99), CONTENDERS.index(r["contender"])))
    return rows


def _ratio(a, b):
    return a / b if a is not None and b else None


def ratios(summary: list[dict]) -> list[dict]:
    """Per backend × workload: artifact_fs/mlflow and artifact_fs/raw of the median wall and CPU."""
    by_key = {(r["backend"], r["workload"], r["contender"]): r for r in summary}
    out = []
    for backend, workload in dict.fromkeys((r["backend"], r["workload"]) for r in summary):
        af = by_key.get((backend, workload, "artifact_fs"), {})
        ours = by_key.get((backend, workload, "af_obstore"), {})
        row = {"backend": backend, "workload": workload}
        for other in ("mlflow", "raw", "obstore"):
            ref = by_key.get((backend, workload, other), {})
            row[f"wall_af_over_{other}"] = _ratio(af.get("wall_median_s"), ref.get("wall_median_s"))
            row[f"cpu_af_over_{other}"] = _ratio(af.get("cpu_median_s"), ref.get("cpu_median_s"))
            row[f"wall_afo_over_{other}"] = _ratio(ours.get("wall_median_s"), ref.get("wall_median_s"))
        out.append(row)
    return out


W7 = {"W7a": "up 64 MiB", "W7b": "up largest", "W7c": "down 64 MiB", "W7d": "down largest"}


def rss_table(summary: list[dict]) -> list[str]:
    """W7: how much each transfer raised peak RSS (MiB), 64 MiB against the largest file."""
    rows = {(r["backend"], r["contender"]): {} for r in summary if r["workload"] in W7}
    for r in summary:
        if r["workload"] in W7 and r["peak_rss_max_mib"] is not None:
            growth = r["peak_rss_growth_max_mib"]
            rows[(r["backend"], r["contender"])][r["workload"]] = (
                f"+{growth:.0f}" if growth is not None else f"peak {r['peak_rss_max_mib']:.0f}",
                r.get("big_bytes"),
            )
    if not rows:
        return []
    lines = ["", "Peak RSS growth of one transfer (W7, MiB over the worker's post-import baseline; largest file in "
             "brackets; `peak N`: only the absolute peak is known, from a progress log):", "",
             "| backend | contender | " + " | ".join(W7.values()) + " |", "|---|---|" + "---:|" * len(W7)]  # fmt: skip
    for (backend, contender), cells in rows.items():
        shown = []
        for workload in W7:
            growth, size = cells.get(workload, (None, None))
            label = growth or "—"
            if growth is not None and workload in ("W7b", "W7d") and size:
                label += f" ({size // 2**20} MiB)"
            shown.append(label)
        lines.append(f"| {backend} | {contender} | " + " | ".join(shown) + " |")
    return lines


def targets_table(ratio_rows: list[dict]) -> list[str]:
    """The issue's targets per backend × workload: af ≤ MLflow (ratio ≤ 1.00) and af ≤ 1.1 × raw
    (W6/W6d: within 2 × a bare repository construction), from the medians."""
    lines = ["",
             "Targets (from the medians): `met` = artifact_fs ≤ MLflow, and ≤ 1.1 × raw "
             "(W6/W6d: ≤ 2 × bare construction):",
             "",
             "| backend | workload | vs MLflow | vs raw |", "|---|---|---|---|"]  # fmt: skip
    for r in ratio_rows:
        if r["workload"] in W7:
            continue
        limit = 2.0 if r["workload"] in CONSTRUCTION else 1.1
        vs_mlflow = _verdict(r["wall_af_over_mlflow"], 1.0)
        vs_raw = _verdict(r["wall_af_over_raw"], limit)
        lines.append(f"| {r['backend']} | {r['workload']} | {vs_mlflow} | {vs_raw} |")
    return lines


def _verdict(ratio, limit: float) -> str:
    if ratio is None:
        return "n/a"
    return f"{'met' if ratio <= limit else 'missed'} ({ratio:.2f}×)"


def fmt_seconds(value) -> str:
    """Seconds with about three significant digits (``—`` for missing)."""
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def fmt_ratio(value) -> str:
    """A ratio as ``1.23×`` (``—`` when not applicable)."""
    return "—" if value is None else f"{value:.2f}×"


def markdown(summary: list[dict], ratio_rows: list[dict], meta: dict) -> str:
    """The results as Markdown: a header, the per-contender table and the ratio table."""
    scales = meta.get("scale_by_backend", {})  # merged runs may use several scales
    ratio_by_key = {(r["backend"], r["workload"]): r for r in ratio_rows}
    lines = [
        f"# artifact_fs benchmark — scale `{meta['scale']}`, {meta['reps']} reps",
        "",
        f"{meta['machine']}; {meta['versions']}. "
        "Wall and CPU (user+sys) in seconds, median over reps; peak RSS in MiB, max over reps, with "
        "(+ how much the measured operation raised it); ratios are artifact_fs ÷ other, of medians "
        "(< 1 = artifact_fs faster). Read medians and ratios, not single figures: the machine is shared and noisy.",
        "",
        "| backend | workload | size | contender | wall median | wall min–max | CPU median | peak RSS max "
        "| af/mlflow | af/raw |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary:
        is_af = row["contender"] == "artifact_fs"
        ratio = ratio_by_key.get((row["backend"], row["workload"]), {})
        span = f"{fmt_seconds(row['wall_min_s'])}–{fmt_seconds(row['wall_max_s'])}"
        rss = (
            "—"
            if row["peak_rss_max_mib"] is None
            else f"{row['peak_rss_max_mib']:.0f}"
            + (f" (+{row['peak_rss_growth_max_mib']:.0f})" if row["peak_rss_growth_max_mib"] is not None else "")
        )
        failed = f" ({row['errors']} failed)" if row["errors"] else ""
        if row["unavailable"]:
            failed = " (n/a: see below)"
        size = SCALES[scales.get(row["backend"], meta["scale"])].describe(
            row["workload"], row.get("big_bytes"), row.get("constructions")
        )
        lines.append(
            f"| {row['backend']} | {row['workload']} | {size} | {row['contender']}{failed} "
            f"| {fmt_seconds(row['wall_median_s'])} | {span} | {fmt_seconds(row['cpu_median_s'])} | {rss} "
            f"| {fmt_ratio(ratio.get('wall_af_over_mlflow')) if is_af else ''} "
            f"| {fmt_ratio(ratio.get('wall_af_over_raw')) if is_af else ''} |"
        )
    lines += [
        "",
        "Ratios (artifact_fs ÷ other, of medians):",
        "",
        "| backend | workload | wall af/mlflow | wall af/raw | CPU af/mlflow | CPU af/raw "
        "| wall af_obstore/mlflow | wall af_obstore/raw | wall af_obstore/obstore |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in ratio_rows:
        lines.append(
            f"| {r['backend']} | {r['workload']} "
            f"| {fmt_ratio(r['wall_af_over_mlflow'])} | {fmt_ratio(r['wall_af_over_raw'])} "
            f"| {fmt_ratio(r['cpu_af_over_mlflow'])} | {fmt_ratio(r['cpu_af_over_raw'])} "
            f"| {fmt_ratio(r['wall_afo_over_mlflow'])} | {fmt_ratio(r['wall_afo_over_raw'])} "
            f"| {fmt_ratio(r['wall_afo_over_obstore'])} |"
        )
    lines += rss_table(summary) + targets_table(ratio_rows)
    lines += ["", "Workloads: " + "; ".join(f"{k} {v}" for k, v in WORKLOADS.items()) + "."]
    lines += ["", "Servers and raw clients:", ""]
    for name in meta["backends"]:
        lines.append(f"* `{name}`: {meta['servers'].get(name) or 'local disk'}; raw: {meta['raw_clients'][name]}")
    for backend, contender, reason in sorted(
        {(r["backend"], r["contender"], r["unavailable"]) for r in summary if r.get("unavailable")}
    ):
        lines.append(f"* `{backend}` {contender}: not measured: {reason}")
    return "\n".join(lines) + "\n"
