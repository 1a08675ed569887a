"""Benchmark outputs: a markdown summary, two PNG plots, and the comparison with a baseline result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# (name, where in the result, higher is better): ratios measured within one run, so they travel
# between machines; a figure that falls below TOLERANCE times the baseline's is a regression
COMPARED = (
    ("pipeline / raw consume", ("load", "ratio_to_raw"), True),
    ("pipeline / naive faust", ("load", "ratio_to_naive_faust"), True),
    ("exactly once / at least once", ("load", "exactly_once_over_at_least_once", "saturation_reads_per_s"), True),
    ("match / Python set lookup", ("micro", "batch_match", "ratio"), True),
    ("policy cached / uncached", ("micro", "policy_decision", "ratio"), True),
    ("decode / orjson only", ("micro", "read_decode", "ratio"), True),
    ("vectorised / scalar encode", ("micro", "encode_plates", "ratio"), True),
)
TOLERANCE = 0.85  # a same-run ratio more than 15% below the baseline is a regression


def _get(doc: dict[str, Any], path: tuple[str, ...]) -> float | None:
    node: Any = doc
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, int | float) else None


def compare(result: dict[str, Any], baseline: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, path, higher_better in COMPARED:
        new, old = _get(result, path), _get(baseline, path)
        if new is None or old is None or old == 0:
            continue
        change = new / old if higher_better else old / new
        rows.append({"figure": name, "baseline": old, "now": new, "change": change, "regression": change < TOLERANCE})
    return rows


def plot_latency(load: dict[str, Any], path: Path) -> None:
    points = load["fixed_rate"]["latency_ms_percentiles"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([str(q) for q, _ in points], [v for _, v in points], marker="o")
    ax.set_xlabel("percentile")
    ax.set_ylabel("read → alert latency (ms)")
    ax.set_yscale("log")
    rate = load["fixed_rate"]["offered_per_s"]
    ax.set_title(f"Read-to-alert latency at {rate:,.0f} reads/s offered")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_throughput(load: dict[str, Any], path: Path) -> None:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=False)
    for name, timeline in (
        ("saturation", load["timeline_saturation"]),
        ("fixed rate", load["timeline_fixed_rate"]),
    ):
        if len(timeline) < 2:
            continue
        t = [p["t"] for p in timeline]
        reads = [p["reads"] for p in timeline]
        rate = [0.0] + [(reads[i] - reads[i - 1]) / max(t[i] - t[i - 1], 1e-6) for i in range(1, len(t))]
        top.plot(t, rate, label=name)
        bottom.plot(t, [p["lag"] for p in timeline], label=name)
    top.set_ylabel("reads/s consumed")
    top.legend()
    top.grid(True, alpha=0.3)
    bottom.set_ylabel("consumer lag (messages)")
    bottom.set_xlabel("seconds")
    bottom.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(result: dict[str, Any], comparison: list[dict[str, Any]]) -> str:
    lines = ["# Platewatch benchmark", "", f"machine: `{result['machine']['platform']}`, "
             f"{result['machine']['cpus']} CPUs, Python {result['machine']['python']}", ""]  # fmt: skip
    micro = result.get("micro", {})
    if micro:
        lines += [
            "## Core (same-run baselines)",
            "",
            "| figure | rate/s | baseline rate/s | ratio | IQR |",
            "|---|---|---|---|---|",
        ]
        for key in ("encode_plates", "batch_match", "policy_decision", "read_decode"):
            m = micro[key]
            lines.append(
                f"| {key} | {m['subject']['rate_per_s']:,.0f} | {m['baseline']['rate_per_s']:,.0f} | "
                f"{m['ratio']:.2f} | ±{m['subject']['iqr_pct']:.0f}% |"
            )
        lines.append("")
    load = result.get("load")
    if load:
        lat = load["fixed_rate"]["latency_ms"]
        lines += [
            "## On the broker",
            "",
            f"- hotlist: {load['hotlist']['entries']:,} entries, replica caught up in "
            f"{load['hotlist']['replica_catch_up_seconds']:.1f}s "
            f"(worker ready {load['hotlist']['worker_ready_seconds']:.1f}s)",
            f"- raw aiokafka consume: {load['baseline_raw_consume']['reads_per_s']:,.0f} reads/s",
            f"- naive faust agent: {load['baseline_naive_faust']['reads_per_s']:,.0f} reads/s",
            f"- Platewatch worker at saturation: {load['pipeline_saturation']['reads_per_s']:,.0f} reads/s "
            f"= {load['ratio_to_raw']:.2f}x raw, {load['ratio_to_naive_faust']:.1f}x naive faust",
            f"- at {load['fixed_rate']['offered_per_s']:,.0f} reads/s offered: "
            f"read→alert latency p50 {lat['p50']:.1f} ms, "
            f"p95 {lat['p95']:.1f}, p99 {lat['p99']:.1f}, p99.9 {lat['p99.9']:.1f}, max {lat['max']:.1f} "
            f"({load['fixed_rate']['alerts_received']:,} alerts)",
            f"- the worker's own view (read time, and broker append time, to acknowledged alert): "
            f"{load['fixed_rate'].get('worker_side', {})}",
        ]
        eos = load.get("exactly_once")
        if eos:
            elat, cost = eos["fixed_rate"]["latency_ms"], load["exactly_once_over_at_least_once"]
            cpu = cost.get("cpu_s_per_100k")
            lines.append(
                f"- exactly once (the default; the lines above are at least once): "
                f"{eos['pipeline_saturation']['reads_per_s']:,.0f} reads/s at saturation "
                f"({cost['saturation_reads_per_s']:.2f}x at least once"
                + (f", {cpu:.2f}x its CPU per read" if cpu else "")
                + f"); read→alert p50 {elat['p50']:.1f} ms, p95 {elat['p95']:.1f}, p99 {elat['p99']:.1f}, "
                f"p99.9 {elat['p99.9']:.1f}, max {elat['max']:.1f} ({eos['fixed_rate']['alerts_received']:,} alerts)"
            )
        lines += [
            "",
            "![latency](latency.png)",
            "![throughput](throughput.png)",
            "",
        ]
    if comparison:
        lines += [
            "## Against the committed baseline",
            "",
            "| figure | baseline | now | change | |",
            "|---|---|---|---|---|",
        ]
        for row in comparison:
            flag = "REGRESSION" if row["regression"] else ""
            lines.append(
                f"| {row['figure']} | {row['baseline']:.2f} | {row['now']:.2f} | {row['change']:.2f}x | {flag} |"
            )
        lines.append("")
    if result.get("profile"):
        lines += [
            "## Where a batch's time goes (cProfile, in-process pipeline)",
            "",
            "```",
            result["profile"],
            "```",
        ]
    return "\n".join(lines) + "\n"
