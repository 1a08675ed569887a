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
    ("pipeline / confluent-kafka batch peer", ("load", "ratios", "to_confluent_batch"), True),
    ("pipeline / Quix Streams peer", ("load", "ratios", "to_quix"), True),
    ("pipeline / raw aiokafka consume", ("load", "ratios", "to_raw_aiokafka"), True),
    ("exactly once / at least once", ("load", "exactly_once_over_at_least_once", "saturation_reads_per_s"), True),
    ("match / Python set lookup", ("micro", "batch_match", "ratio"), True),
    ("policy cached / uncached", ("micro", "policy_decision", "ratio"), True),
    ("decode / orjson only", ("micro", "read_decode", "ratio"), True),
    ("vectorised / scalar encode", ("micro", "encode_plates", "ratio"), True),
)
TOLERANCE = 0.85  # a same-run ratio more than 15% below the baseline is a regression

# issue-level targets: (what, where in the load result, the bound, at most?); judged on runs of 10M entries
TARGETS = (
    ("saturation at least the confluent-kafka batch peer's (ratio)", ("ratios", "to_confluent_batch"), 1.0, False),
    ("saturation at least 4x the Quix Streams peer's (ratio)", ("ratios", "to_quix"), 4.0, False),
    ("worker CPU-s per 100k reads, at least once", ("pipeline_saturation", "cpu_s_per_100k"), 0.35, True),
    ("exactly-once saturation / at-least-once (within 25%)",
     ("exactly_once_over_at_least_once", "saturation_reads_per_s"), 0.75, False),
    ("p99 read→alert ms at the fixed rate, at least once", ("fixed_rate", "latency_ms", "p99"), 15.0, True),
    ("p99 read→alert ms at the fixed rate, exactly once",
     ("exactly_once", "fixed_rate", "latency_ms", "p99"), 25.0, True),
    ("replica catch-up s", ("hotlist", "replica_catch_up_seconds"), 30.0, True),
    ("hotlist publication s", ("hotlist", "publish_seconds"), 30.0, True),
    ("worker RSS MB, at least once", ("worker_rss_mb",), 600.0, True),
    ("worker RSS MB, exactly once", ("exactly_once_rss_mb",), 600.0, True),
    ("worker peak RSS MB since its start (its index's load included), at least once (reported)",
     ("worker_peak_rss_mb",), None, True),
    ("exactly once over SASL_SSL / at least once, plaintext (within 25%)",
     ("sasl_ssl", "over_at_least_once"), 0.75, False),
    ("at least once over SASL_SSL / at least once, plaintext (reported)",
     ("sasl_ssl", "at_least_once_over_plaintext"), None, False),
    ("two exactly-once workers / one (reported)", ("two_workers", "over_one_worker"), None, False),
)  # fmt: skip
TARGET_ENTRIES = 10_000_000


def targets(load: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with the run's figure and whether it is met (None: not measured in this run)."""
    load = {
        **load,
        "worker_rss_mb": (load.get("worker_rss_bytes") or 0) / 1e6 or None,
        "exactly_once_rss_mb": (load.get("exactly_once", {}).get("worker_rss_bytes") or 0) / 1e6 or None,
        "worker_peak_rss_mb": (load.get("worker_peak_rss_bytes") or 0) / 1e6 or None,
    }
    rows = []
    for what, path, bound, at_most in TARGETS:
        value = _get(load, path)
        met = None if value is None or bound is None else (value <= bound if at_most else value >= bound)
        rows.append({"target": what, "part": path[0], "bound": bound, "at_most": at_most, "value": value, "met": met})
    return rows


def _peak(load: dict[str, Any]) -> str:
    peak = load.get("worker_peak_rss_bytes")
    return f" (at most {peak / 1e6:,.0f} MB since it started, its index's load included)" if peak else ""


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


def plot_systems(load: dict[str, Any], path: Path) -> None:
    """Reads/s of the worker under each guarantee and of every peer (median, with the min–max range)."""
    rows = _system_rows(load)
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.5))
    names = [r["system"] for r in rows][::-1]
    medians = [r["reads_per_s"] for r in rows][::-1]
    low = [r["reads_per_s"] - r["min"] for r in rows][::-1]
    high = [r["max"] - r["reads_per_s"] for r in rows][::-1]
    colours = ["tab:blue" if n.startswith("Platewatch") else "tab:grey" for n in names]
    ax.barh(names, medians, xerr=[low, high], color=colours)
    ax.set_xlabel("reads/s, first batch to last read processed (same topic, same reads)")
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _system_rows(load: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    worker_rows = (
        ("Platewatch, at least once", load),
        ("Platewatch, exactly once", load.get("exactly_once")),
        ("Platewatch, exactly once, two workers", load.get("two_workers")),
        ("Platewatch, at least once, SASL_SSL", load.get("sasl_ssl", {}).get("at_least_once")),
        ("Platewatch, exactly once, SASL_SSL", load.get("sasl_ssl", {}).get("exactly_once")),
    )
    for label, part in worker_rows:
        if part and "pipeline_saturation" in part:
            sat = part["pipeline_saturation"]
            rows.append({"system": label, "reads_per_s": sat["reads_per_s"], "min": sat["reads_per_s"],
                         "max": sat["reads_per_s"], "cpu": sat.get("cpu_s_per_100k"), "delivered": None,
                         "work": "OCR match, policy, alerts per recipient, audit"})  # fmt: skip
    for peer, figures in load.get("peers", {}).get("summary", {}).items():
        r = figures.get("reads_per_s")
        if r:
            cpu, delivered = figures.get("cpu_s_per_100k"), figures.get("reads_per_s_delivered")
            rows.append({"system": peer, "reads_per_s": r["median"], "min": r["min"], "max": r["max"],
                         "cpu": cpu["median"] if cpu else None, "delivered": delivered["median"] if delivered else None,
                         "work": PEER_WORK.get(peer, "")})  # fmt: skip
    return rows


PEER_WORK = {
    "confluent-batch": "parse, exact set lookup, alerts",
    "quix": "parse, exact set lookup, alerts",
    "faust-take": "parse, exact set lookup, alerts",
    "raw-aiokafka": "consume only",
    "raw-librdkafka": "consume only",
    "jvm-consumer-perf": "consume only",
}


def _from_read_time(fixed_rate: dict[str, Any]) -> str:
    """The same latency from each read's own time, set by the load generator before it sent the read
    (results from before the broker append clock have none)."""
    lat = fixed_rate.get("from_read_time", {}).get("latency_ms")
    return f" (from the read's own time: p50 {lat['p50']:.1f}, p99 {lat['p99']:.1f} ms)" if lat else ""


def plot_latency(load: dict[str, Any], path: Path) -> None:
    points = load["fixed_rate"]["latency_ms_percentiles"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([str(q) for q, _ in points], [v for _, v in points], marker="o")
    ax.set_xlabel("percentile")
    ax.set_ylabel("read → alert latency (ms)")
    ax.set_yscale("log")
    rate = load["fixed_rate"]["offered_per_s"]
    ax.set_title(f"Read-to-alert latency (from broker append) at {rate:,.0f} reads/s offered")
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


def _targets_md(load: dict[str, Any]) -> list[str]:
    entries = load["hotlist"]["entries"]
    judged = entries >= TARGET_ENTRIES
    lines = [
        "## Targets" + ("" if judged else f" (at {entries:,} entries: not a target run, shown only)"),
        "",
        "| target | bound | this run | |",
        "|---|---|---|---|",
    ]
    for row in targets(load):
        value = "–" if row["value"] is None else f"{row['value']:,.2f}"
        if row["value"] is None:
            verdict = "not measured" + _why_not(load, row["part"])
        elif row["bound"] is None:
            verdict = "reported"
        else:
            verdict = "met" if row["met"] else "MISSED"
        bound = "" if row["bound"] is None else f"{'≤' if row['at_most'] else '≥'} {row['bound']:g}"
        lines.append(f"| {row['target']} | {bound} | {value} | {verdict} |")
    return [*lines, ""]


def _why_not(load: dict[str, Any], part: str) -> str:
    """Why a target's part of the result (`part`, its first key) has no figure."""
    node = load.get(part)
    error = node.get("error") if isinstance(node, dict) else None
    if error:
        return f": {error}"
    return " (no --secure-broker or --secure-env: `make bench` gives it)" if part == "sasl_ssl" else ""


def _systems_md(load: dict[str, Any]) -> list[str]:
    peers = load.get("peers", {})
    lines = [
        f"## Side by side: the same {load['parameters']['reads']:,} reads on one topic",
        "",
        "median (min–max) over rounds; a window runs from the first batch in hand to the last read processed",
        "",
        "| system | work | reads/s | reads/s to last alert delivered | CPU-s per 100k reads |",
        "|---|---|---|---|---|",
    ]
    for r in _system_rows(load):
        spread = "" if r["min"] == r["max"] else f" ({r['min']:,.0f}–{r['max']:,.0f})"
        delivered = "–" if r["delivered"] is None else f"{r['delivered']:,.0f}"
        cpu = "–" if r["cpu"] is None else f"{r['cpu']:.3f}"
        lines.append(f"| {r['system']} | {r['work']} | {r['reads_per_s']:,.0f}{spread} | {delivered} | {cpu} |")
    for peer, reason in peers.get("left_out", {}).items():
        lines.append(f"| {peer} | left out: {reason} | | | |")
    lines += [
        "",
        "outputs verified (every system's alerts, or reads, checked)"
        if load.get("outputs_verified")
        else "OUTPUTS WRONG:\n- " + "\n- ".join(load.get("problems", [])),
        "",
    ]
    return lines


def markdown(result: dict[str, Any], comparison: list[dict[str, Any]]) -> str:
    lines = ["# Platewatch benchmark", "", f"machine: `{result['machine']['platform']}`, "
             f"{result['machine']['cpus']} CPUs, Python {result['machine']['python']}", ""]  # fmt: skip
    load = result.get("load")
    if load:
        lines += _targets_md(load) + _systems_md(load)
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
            f"- hotlist published in {load['hotlist']['publish_seconds']:.1f}s; worker RSS "
            f"{(load.get('worker_rss_bytes') or 0) / 1e6:,.0f} MB{_peak(load)}",
            f"- Platewatch worker at saturation: {load['pipeline_saturation']['reads_per_s']:,.0f} reads/s",
            f"- at {load['fixed_rate']['offered_per_s']:,.0f} reads/s offered: "
            f"read→alert latency p50 {lat['p50']:.1f} ms, "
            f"p95 {lat['p95']:.1f}, p99 {lat['p99']:.1f}, p99.9 {lat['p99.9']:.1f}, max {lat['max']:.1f} "
            f"({load['fixed_rate']['alerts_received']:,} alerts), from each read's broker append time to "
            f"the alert's receipt by a dispatch consumer{_from_read_time(load['fixed_rate'])}",
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
                + _from_read_time(eos["fixed_rate"])
            )
        lines += [
            "",
            "![systems](systems.png)",
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
