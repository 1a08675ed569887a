"""A chaos run as a table row and as a plot of committed alerts per second around the fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLUMNS = ("scenario", "guarantee", "alerts lost/dup/unexp", "audits lost/dup/unexp", "dead letters l/d/u",
           "longest gap s", "max read→alert s", "target s", "verdict")  # fmt: skip


def _triple(c: dict[str, int]) -> str:
    return f"{c['lost']}/{c['duplicated']}/{c['unexpected']} of {c['expected']}"


def row(r: dict[str, Any]) -> list[str]:
    c = r["counts"]
    return [
        r["scenario"], r["guarantee"], _triple(c["alerts"]), _triple(c["audits"]), _triple(c["dead_letters"]),
        f"{r['longest_gap_s']:.2f}", f"{r['max_read_to_alert_s']:.2f}",
        "-" if r["target_s"] is None else f"{r['target_s']:g}",
        "FAIL: " + "; ".join(r["failures"]) if r.get("failures") else "pass",
    ]  # fmt: skip


def table(results: list[dict[str, Any]], *, header: bool = True) -> str:
    lines = []
    if header:
        lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row(r)) + " |" for r in results]
    return "\n".join(lines)


def plot(r: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 (only when plotting)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    seconds = [s for s, _ in r["alerts_per_second"]]
    counts = [n for _, n in r["alerts_per_second"]]
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar(seconds, counts, width=1.0, align="edge", color="#3a6ea5")
    ax.axvline(0, color="#c0392b", linestyle="--", label="fault")
    ax.set_xlabel("seconds from the fault (broker append time of committed alerts)")
    ax.set_ylabel("alerts / s")
    ax.set_title(f"{r['scenario']} ({r['guarantee']}): {r['fault']}", fontsize=9)
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
