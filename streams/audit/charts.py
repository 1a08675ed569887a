"""The audit report's charts: matplotlib figures inlined as SVG, with nothing that points outside the file."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from typing import Any

from streams.audit.report import AgencyCount, AuditReport, KeyCount

MAX_BARS = 25  # a chart shows the largest 24 and sums the rest as "others"
GREEN, RED = "#2e7d32", "#c62828"  # allowed, denied


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def charts(report: AuditReport) -> dict[str, str]:
    # matplotlib takes 0.4 s to import: only the HTML form pays for it
    import matplotlib  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    def bars(name: str, title: str, items: Sequence[tuple[str, int]], color: str, xlabel: str) -> str:
        items = list(items)
        if len(items) > MAX_BARS:
            rest = sum(n for _, n in items[MAX_BARS - 1 :])
            items = [*items[: MAX_BARS - 1], (f"others ({len(items) - MAX_BARS + 1})", rest)]
        height = 1.2 + 0.28 * max(len(items), 1)
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
            fig = Figure(figsize=(7.5, height), layout="constrained")
            ax = fig.add_subplot()
            if items:
                labels = [k for k, _ in items][::-1]
                values = [n for _, n in items][::-1]
                drawn = ax.barh(labels, values, color=color)
                ax.bar_label(drawn, labels=[f"{v:,}" for v in values], padding=3, fontsize=8)
                ax.margins(x=0.12)
            else:
                ax.text(0.5, 0.5, "none in this period", ha="center", va="center", transform=ax.transAxes)
                ax.set_yticks([])
            ax.set_title(title, fontsize=10, loc="left")
            ax.set_xlabel(xlabel)
            ax.spines[["top", "right"]].set_visible(False)
            return _figure_html(name, title, fig)

    def over_time() -> str:
        buckets = report.decisions_over_time
        title = f"Share decisions per {report.bucket} (UTC)"
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "over_time"}):
            fig = Figure(figsize=(7.5, 2.8), layout="constrained")
            ax = fig.add_subplot()
            x = list(range(len(buckets)))
            allowed = [b.allowed for b in buckets]
            ax.bar(x, allowed, color=GREEN, label="allowed", width=0.9)
            ax.bar(x, [b.denied for b in buckets], bottom=allowed, color=RED, label="denied", width=0.9)
            step = max(1, len(buckets) // 8)
            cut = 16 if report.bucket == "hour" else 10
            ax.set_xticks(x[::step], [b.start[:cut].replace("T", " ") for b in buckets[::step]], fontsize=7)
            ax.set_title(title, fontsize=10, loc="left")
            ax.legend(fontsize=8, frameon=False)
            ax.spines[["top", "right"]].set_visible(False)
            return _figure_html("over_time", title, fig)

    readers = [(r.agency or "(none)", r.reads) for r in report.readers]
    return {
        "reads": bars("reads", "Reads processed per reading agency", readers, "#1565c0", "reads"),
        "alerts_by_recipient": bars(
            "alerts_by_recipient",
            "Alerts sent per recipient agency",
            _pairs(report.alerts_by_recipient),
            GREEN,
            "alerts",
        ),
        "alerts_by_state": bars(
            "alerts_by_state", "Alerts sent per recipient state", _keyed(report.alerts_by_state), GREEN, "alerts"
        ),
        "denials_by_rule": bars("denials_by_rule", "Denials by rule", _keyed(report.denials_by_rule), RED, "denials"),
        "over_time": over_time(),
    }


def _pairs(rows: Sequence[AgencyCount]) -> list[tuple[str, int]]:
    return [(r.agency, r.count) for r in rows]


def _keyed(rows: Sequence[KeyCount]) -> list[tuple[str, int]]:
    return [(r.key, r.count) for r in rows]


_XML_PROLOGUE = re.compile(r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_NAMESPACES = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')
_IDS = re.compile(r'(\bid="|href="#|url\(#)([^")]+)')


def _figure_html(name: str, title: str, fig: Any) -> str:
    """The figure as an inline <svg>: no XML prologue, no namespace URIs, ids prefixed per chart."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = _METADATA.sub("", _XML_PROLOGUE.sub("", buf.getvalue()))
    svg = _NAMESPACES.sub("", svg).replace("xlink:href=", "href=")
    svg = _IDS.sub(lambda m: f"{m.group(1)}{name}-{m.group(2)}", svg)
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{_esc(title)}" ', 1)
    return f'<figure class="chart" data-chart="{name}">{svg.strip()}</figure>'
