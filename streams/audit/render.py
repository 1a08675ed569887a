"""The audit report as HTML, markdown, CSV or JSON: four forms of the same numbers.

- **html**: one self-contained file for a compliance officer to open offline. Charts are matplotlib
  figures inlined as SVG (no script, no font, no image and no address of any kind is fetched; a
  Content-Security-Policy of `default-src 'none'` makes the browser refuse anything that tried). The
  headline numbers carry `data-total="<name>"` so a test can read them back.
- **md**: the same sections as markdown tables.
- **csv**: one table, one row per number or listed share, with a `section` column (`csv.DictReader`
  reads it whole).
- **json**: the machine form, `AuditReport.to_json()`.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Callable, Sequence
from typing import Literal

import orjson

from streams.audit.charts import charts as chart_svgs
from streams.audit.report import AgencyCount, AuditReport, Share

Format = Literal["html", "md", "csv", "json"]
FORMATS: tuple[Format, ...] = ("html", "md", "csv", "json")

TOTAL_LABELS = {
    "reads": "reads processed",
    "hits": "hits",
    "dead_letters": "dead letters",
    "decisions": "share decisions",
    "alerts_sent": "alerts sent (allowed shares)",
    "denials": "shares denied",
    "recipients": "recipient agencies",
    "shared_outside_state": "shares outside the read's state",
    "shared_federal_or_private": "shares with federal or private recipients",
    "policy_versions": "policy versions in force",
}
NONE_OUTSIDE = "There were no shares outside the state where the read was taken in this period."
NONE_FEDERAL_PRIVATE = "There were no shares with federal or private recipients in this period."


def render(report: AuditReport, fmt: Format) -> str:
    renderers: dict[str, Callable[[AuditReport], str]] = {
        "html": render_html,
        "md": render_markdown,
        "csv": render_csv,
        "json": render_json,
    }
    return renderers[fmt](report)


def render_json(report: AuditReport) -> str:
    return orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n"


# -- markdown --------------------------------------------------------------------------------------


def _md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|")

    rule = "|" + "|".join("---:" if h.startswith("#") else "---" for h in header) + "|"
    out = ["| " + " | ".join(header) + " |", rule]
    out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return out


def _share_rows(shares: Sequence[Share]) -> list[list[object]]:
    return [
        [s.time, s.alert_id, f"{s.reading_agency} ({s.reading_state})", f"{s.recipient} {s.recipient_name}",
         s.recipient_state, s.recipient_level, s.recipient_kind, s.rule, s.policy_version]
        for s in shares
    ]  # fmt: skip


SHARE_COLUMNS = (
    "<colgroup>" + "".join(f'<col style="width: {w}%">' for w in (15, 21, 9, 16, 5, 7, 10, 10, 7)) + "</colgroup>"
)
SHARE_HEADER = ["time", "alert", "reading agency (state)", "recipient", "state", "level", "kind", "rule", "policy"]


def render_markdown(report: AuditReport) -> str:
    t = report.totals()
    scope = f"reads taken by {report.agency}" if report.agency else "every reading agency"
    out = [
        f"# ALPR sharing audit report, {report.period_start} to {report.period_end}",
        "",
        f"Scope: {scope}. Generated {report.generated_at}. Agencies' state, level and kind are those of the "
        "agency registry in force when the report was made.",
        "",
        "## Totals",
        "",
        *_md_table(["total", "#"], [[TOTAL_LABELS[k], v] for k, v in t.items()]),
        "",
        "## Reads processed, hits and dead letters per reading agency",
        "",
        *_md_table(
            ["reading agency", "name", "state", "# reads", "# hits", "# dead letters"],
            [[r.agency, r.name, r.state, r.reads, r.hits, r.dead_letters] for r in report.readers],
        ),
        "",
        "## Alerts sent per recipient agency",
        "",
        *_md_table(*_agency_table(report.alerts_by_recipient, "# alerts")),
        "",
        "## Alerts sent per recipient state",
        "",
        *_md_table(["state", "# alerts"], [[r.key, r.count] for r in report.alerts_by_state]),
        "",
        "## Denials by rule",
        "",
        *_md_table(["rule", "# denials"], [[r.key, r.count] for r in report.denials_by_rule]),
        "",
        "## Denials by would-be recipient",
        "",
        *_md_table(*_agency_table(report.denials_by_recipient, "# denials")),
        "",
        "## Shared outside the read's state",
        "",
    ]
    out += (
        _md_table(SHARE_HEADER, _share_rows(report.shared_outside_state))
        if report.shared_outside_state
        else [NONE_OUTSIDE]
    )
    out += ["", "## Shared with federal or private recipients", ""]
    out += (
        _md_table(SHARE_HEADER, _share_rows(report.shared_federal_or_private))
        if report.shared_federal_or_private
        else [NONE_FEDERAL_PRIVATE]
    )
    out += [
        "",
        "## Policy versions in force",
        "",
        *_md_table(
            ["policy version", "first decision", "last decision", "# decisions"],
            [[p.version, p.first, p.last, p.decisions] for p in report.policy_versions],
        ),
        "",
        f"## Decisions per {report.bucket}",
        "",
        *_md_table(
            [report.bucket, "# allowed", "# denied"],
            [[b.start, b.allowed, b.denied] for b in report.decisions_over_time],
        ),
        "",
    ]
    return "\n".join(out)


def _agency_table(rows: Sequence[AgencyCount], count_header: str) -> tuple[list[str], list[list[object]]]:
    return (
        ["agency", "name", "state", "level", "kind", count_header],
        [[r.agency, r.name, r.state, r.level, r.kind, r.count] for r in rows],
    )


# -- CSV -------------------------------------------------------------------------------------------

CSV_COLUMNS = [
    "section", "key", "count", "reads", "hits", "dead_letters", "allowed", "denied", "name", "state", "level", "kind",
    "time", "first", "last", "alert_id", "read_id", "reading_agency", "reading_state", "recipient", "rule",
    "profile", "policy_version",
]  # fmt: skip


def render_csv(report: AuditReport) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    row = writer.writerow
    row({"section": "period", "key": "from", "time": report.period_start})
    row({"section": "period", "key": "to", "time": report.period_end})
    row({"section": "period", "key": "agency", "name": report.agency})
    for key, value in report.totals().items():
        row({"section": "totals", "key": key, "count": value})
    for r in report.readers:
        row({"section": "reads_by_agency", "key": r.agency, "reads": r.reads, "hits": r.hits,
             "dead_letters": r.dead_letters, "name": r.name, "state": r.state})  # fmt: skip
    for section, agencies in (("alerts_by_recipient", report.alerts_by_recipient),
                              ("denials_by_recipient", report.denials_by_recipient)):  # fmt: skip
        for a in agencies:
            row({"section": section, "key": a.agency, "count": a.count, "name": a.name, "state": a.state,
                 "level": a.level, "kind": a.kind})  # fmt: skip
    for section, keyed in (("alerts_by_state", report.alerts_by_state), ("denials_by_rule", report.denials_by_rule)):
        for k in keyed:
            row({"section": section, "key": k.key, "count": k.count})
    for section, shares in (("shared_outside_state", report.shared_outside_state),
                            ("shared_federal_or_private", report.shared_federal_or_private)):  # fmt: skip
        for s in shares:
            row({"section": section, "key": s.alert_id, "count": 1, "time": s.time, "alert_id": s.alert_id,
                 "read_id": s.read_id, "reading_agency": s.reading_agency, "reading_state": s.reading_state,
                 "recipient": s.recipient, "name": s.recipient_name, "state": s.recipient_state,
                 "level": s.recipient_level, "kind": s.recipient_kind, "rule": s.rule, "profile": s.profile,
                 "policy_version": s.policy_version})  # fmt: skip
    for p in report.policy_versions:
        row({"section": "policy_versions", "key": p.version, "count": p.decisions, "first": p.first, "last": p.last,
             "policy_version": p.version})  # fmt: skip
    for b in report.decisions_over_time:
        row({"section": f"decisions_per_{report.bucket}", "key": b.start, "count": b.allowed + b.denied,
             "allowed": b.allowed, "denied": b.denied, "time": b.start})  # fmt: skip
    return buf.getvalue()


# -- HTML ------------------------------------------------------------------------------------------

ROWS_PER_BLOCK, ROW_PX = 500, 40  # listed shares: rows per lazily laid-out block, and a row's guessed height
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 64rem; color: #1b1b1b; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2.2rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .9rem; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.totals { display: grid; grid-template-columns: repeat(auto-fill, minmax(13rem, 1fr)); gap: .6rem; }
.totals div { border: 1px solid #ccc; border-radius: 4px; padding: .5rem .7rem; }
.totals span[data-total] { display: block; font-size: 1.4rem; font-weight: 600; }
.none { font-weight: 600; } .flag { color: #8a1c1c; }
.rows { content-visibility: auto; } table.shares { table-layout: fixed; width: 100%; font-size: .8rem; }
table.shares td { overflow-wrap: anywhere; }
figure.chart { margin: 1rem 0; } figure.chart svg { max-width: 100%; height: auto; }
""".strip()


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(n: int) -> str:
    return f"{n:,}"


def _html_table(header: Sequence[str], rows: Sequence[Sequence[object]], numeric: set[int]) -> str:
    head = "".join(f"<th{' class=n' if i in numeric else ''}>{_esc(h)}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class=n>{_num(v)}</td>" if i in numeric and isinstance(v, int) else f"<td>{_esc(v)}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    if not rows:
        body = f'<tr><td colspan="{len(header)}">none in this period</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: AuditReport) -> str:
    t = report.totals()
    scope = f"reads taken by {report.agency}" if report.agency else "every reading agency"
    totals = "".join(
        f'<div>{_esc(label)}<span data-total="{key}">{_num(t[key])}</span></div>' for key, label in TOTAL_LABELS.items()
    )
    charts = chart_svgs(report)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>ALPR sharing audit report {_esc(report.period_start)} to {_esc(report.period_end)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>ALPR sharing audit report</h1><p>Period {_esc(report.period_start)} to {_esc(report.period_end)} "
        f"(UTC, end excluded). Scope: {_esc(scope)}. Generated {_esc(report.generated_at)}. Agencies' state, level "
        "and kind are those of the agency registry in force when the report was made.</p>",
        f'<h2 id="totals">Totals</h2><div class="totals">{totals}</div>',
        '<h2 id="reads">Reads processed, hits and dead letters per reading agency</h2>',
        charts["reads"],
        _html_table(
            ["reading agency", "name", "state", "reads", "hits", "dead letters"],
            [[r.agency, r.name, r.state, r.reads, r.hits, r.dead_letters] for r in report.readers],
            {3, 4, 5},
        ),
        '<h2 id="alerts-by-recipient">Alerts sent per recipient agency</h2>',
        charts["alerts_by_recipient"],
        _html_table(*_agency_table(report.alerts_by_recipient, "alerts"), {5}),
        '<h2 id="alerts-by-state">Alerts sent per recipient state</h2>',
        charts["alerts_by_state"],
        _html_table(["state", "alerts"], [[r.key, r.count] for r in report.alerts_by_state], {1}),
        '<h2 id="denials-by-rule">Denials by rule</h2>',
        charts["denials_by_rule"],
        _html_table(["rule", "denials"], [[r.key, r.count] for r in report.denials_by_rule], {1}),
        '<h2 id="denials-by-recipient">Denials by would-be recipient</h2>',
        _html_table(*_agency_table(report.denials_by_recipient, "denials"), {5}),
        '<h2 id="outside-state">Shared outside the read\'s state</h2>',
        _shares_html(report.shared_outside_state, NONE_OUTSIDE, "shared_outside_state"),
        '<h2 id="federal-private">Shared with federal or private recipients</h2>',
        _shares_html(report.shared_federal_or_private, NONE_FEDERAL_PRIVATE, "shared_federal_or_private"),
        '<h2 id="policy-versions">Policy versions in force</h2>',
        _html_table(
            ["policy version", "first decision", "last decision", "decisions", "first seen by the store"],
            [[p.version, p.first, p.last, p.decisions, p.first_seen] for p in report.policy_versions],
            {3},
        ),
        f'<h2 id="over-time">Decisions per {_esc(report.bucket)}</h2>',
        charts["over_time"],
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _shares_html(shares: Sequence[Share], none: str, section: str) -> str:
    if not shares:
        return f'<p class="none" data-none="{section}">{_esc(none)}</p>'
    note = (
        f'<p class="flag">{len(shares)} allowed share{"s" if len(shares) != 1 else ""}, each listed below. '
        "An agency the registry no longer lists shows as unknown.</p>"
    )
    # a month can list tens of thousands of shares: blocks of rows the browser lays out only when they
    # scroll into view (content-visibility), so the page opens in a second instead of half a minute
    rows = _share_rows(shares)
    blocks = (
        f'<div class="rows" style="contain-intrinsic-size: auto {ROW_PX * (len(block) + 1)}px">'
        + _html_table(SHARE_HEADER, block, set()).replace("<table>", f'<table class="shares">{SHARE_COLUMNS}', 1)
        + "</div>"
        for block in (rows[i : i + ROWS_PER_BLOCK] for i in range(0, len(rows), ROWS_PER_BLOCK))
    )
    return note + "".join(blocks)
