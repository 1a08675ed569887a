"""The audit report: every section's numbers against expectations computed from the stored rows.

The store is filled with what the real pipeline decided (tests/harness/audit_rows.py): three days of
reads from California, Arizona, Virginia and an unknown agency, under a policy that lets Arizona share
with anyone (federal and private recipients included) for the first day and a half, then one without
an Arizona profile. Expectations are counted here in plain Python from the rows and the registry, and
cross-checked with the pipeline's own outputs (its hits, its delivered alerts). SQLite always;
PostgreSQL too (the `postgres_url` fixture: CI starts
it, elsewhere a server is started for the session).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select

from benchmarks import audit_report_bench
from streams.audit import schema
from streams.audit.period import Period, parse_period, parse_time
from streams.audit.render import NONE_FEDERAL_PRIVATE, NONE_OUTSIDE, TOTAL_LABELS, render
from streams.audit.report import Accessor, AuditReport, build_report, run_report
from streams.audit.store import engine_for
from streams.errors import ConfigurationError
from streams.policy.agencies import AgencyRegistry
from tests.harness.audit_rows import (
    LAPD,
    MARICOPA,
    AuditRows,
    empty_store,
    load,
    policy_file,
    simulate,
)

HOUR = 3_600_000
START = parse_time("2026-11-01")
BATCHES, SWITCH = 72, 36  # one batch an hour for three days; the policy changes after a day and a half
FIXED_NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
ALICE = Accessor("alice", "quarterly SB 34 compliance review", "CA DOJ")


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    folder = tmp_path_factory.mktemp("policies")
    return load(policy_file(folder, version="t-1")), load(policy_file(folder, version="t-2", arizona=None))


@pytest.fixture(scope="module")
def rows(policies: tuple[Any, Any]) -> AuditRows:
    return simulate(
        [(0, policies[0]), (SWITCH, policies[1])],
        batches=BATCHES, reads_per_batch=200, start_ms=START + HOUR // 2, step_ms=HOUR,
    )  # fmt: skip


@pytest.fixture(scope="module")
def registry(policies: tuple[Any, Any]) -> AgencyRegistry:
    registry: AgencyRegistry = policies[0].registry
    return registry


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(
    request: pytest.FixtureRequest, rows: AuditRows, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    server = request.getfixturevalue("postgres_url") if request.param == "postgresql" else ""
    engine, drop = empty_store(request.param, tmp_path_factory.mktemp("store"), server)
    rows.insert_into(engine)
    try:
        yield engine
    finally:
        drop()


def report_of(store: Engine, registry: AgencyRegistry, period: Period, agency: str = "") -> AuditReport:
    return run_report(store, period, registry, ALICE, agency=agency, now=lambda: FIXED_NOW)


# -- what the report should say, counted from the rows --------------------------------------------


def expected(rows: AuditRows, registry: AgencyRegistry, period: Period, agency: str = "") -> dict[str, Any]:
    def state(ori: str) -> str:
        a = registry.get(ori)
        return a.state if a else "unknown"

    decisions = [
        d for d in rows.decisions
        if period.start_ms <= d["time_ms"] < period.end_ms and (not agency or d["reading_agency"] == agency)
    ]  # fmt: skip
    counts = [
        c for c in rows.batch_counts
        if period.start_ms <= c["time_ms"] < period.end_ms and (not agency or c["reading_agency"] == agency)
    ]  # fmt: skip
    readers: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for c in counts:
        for i, key in enumerate(("reads", "hits", "dead_letters")):
            readers[c["reading_agency"]][i] += c[key]
    allowed = [d for d in decisions if d["decision"] == "allow"]
    denied = [d for d in decisions if d["decision"] == "deny"]
    outside = {(d["alert_id"], d["recipient"]) for d in allowed if state(d["reading_agency"]) != state(d["recipient"])}
    federal_private = set()
    for d in allowed:
        a = registry.get(d["recipient"])
        if a is None or a.level == "federal" or a.kind == "private":
            federal_private.add((d["alert_id"], d["recipient"]))
    versions: dict[str, list[int]] = {}
    for d in decisions:
        span = versions.setdefault(d["policy_version"], [d["time_ms"], d["time_ms"], 0])
        span[0], span[1], span[2] = min(span[0], d["time_ms"]), max(span[1], d["time_ms"]), span[2] + 1
    return {
        "readers": {k: tuple(v) for k, v in readers.items()},
        "alerts_by_recipient": Counter(d["recipient"] for d in allowed),
        "alerts_by_state": Counter(state(d["recipient"]) for d in allowed),
        "denials_by_rule": Counter(d["rule"] for d in denied),
        "denials_by_recipient": Counter(d["recipient"] for d in denied),
        "outside": outside,
        "federal_private": federal_private,
        "versions": {v: (iso(s[0]), iso(s[1]), s[2]) for v, s in versions.items()},
        "allowed": len(allowed),
        "denied": len(denied),
    }


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def assert_matches(report: AuditReport, want: dict[str, Any]) -> None:
    got_readers = {r.agency: (r.reads, r.hits, r.dead_letters) for r in report.readers}
    assert got_readers == want["readers"]
    assert {r.agency: r.count for r in report.alerts_by_recipient} == want["alerts_by_recipient"]
    assert {r.key: r.count for r in report.alerts_by_state} == want["alerts_by_state"]
    assert {r.key: r.count for r in report.denials_by_rule} == want["denials_by_rule"]
    assert {r.agency: r.count for r in report.denials_by_recipient} == want["denials_by_recipient"]
    outside = [(s.alert_id, s.recipient) for s in report.shared_outside_state]
    assert len(outside) == len(set(outside)) and set(outside) == want["outside"]
    federal_private = [(s.alert_id, s.recipient) for s in report.shared_federal_or_private]
    assert len(federal_private) == len(set(federal_private)) and set(federal_private) == want["federal_private"]
    assert {p.version: (p.first, p.last, p.decisions) for p in report.policy_versions} == want["versions"]
    assert sum(b.allowed for b in report.decisions_over_time) == want["allowed"]
    assert sum(b.denied for b in report.decisions_over_time) == want["denied"]
    totals = report.totals()
    assert (totals["alerts_sent"], totals["denials"]) == (want["allowed"], want["denied"])
    assert totals["decisions"] == want["allowed"] + want["denied"]
    assert totals["reads"] == sum(r[0] for r in want["readers"].values())


# -- the sections ----------------------------------------------------------------------------------


def test_every_section_over_the_whole_period_matches_the_rows(
    store: Engine, rows: AuditRows, registry: AgencyRegistry
) -> None:
    period = parse_period("2026-11-01", "2026-11-03")
    report = report_of(store, registry, period)
    want = expected(rows, registry, period)
    assert_matches(report, want)
    # and the pipeline's own outputs agree: its hits, and the alerts it put on each recipient's topic
    assert {r.agency: r.hits for r in report.readers if r.hits} == +rows.hits_by_reader
    assert {r.agency: r.count for r in report.alerts_by_recipient} == Counter(d["recipient"] for d in rows.deliveries)
    # the data is what the test means it to be: every section has something in it
    assert want["outside"] and want["federal_private"] and len(want["versions"]) == 2
    assert {"sb34.federal", "sb34.private", "sb34.out-of-state", "unknown_reading_agency"} <= set(
        want["denials_by_rule"]
    )
    assert report.bucket == "hour" and len(report.decisions_over_time) == 72
    # an Arizona read shared with the FBI under the permissive profile is listed, with its facts
    fbi = next(s for s in report.shared_federal_or_private if s.recipient == "DCFBIWA00")
    assert (fbi.reading_agency, fbi.reading_state, fbi.recipient_state, fbi.recipient_level, fbi.rule) == (
        MARICOPA, "AZ", "DC", "federal", "permissive.any-registered",
    )  # fmt: skip


def test_a_period_counts_its_start_and_not_its_end(store: Engine, rows: AuditRows, registry: AgencyRegistry) -> None:
    period = parse_period("2026-11-01T05:30:00Z", "2026-11-01T07:30:00Z")  # batches at 05:30 and 06:30 only
    report = report_of(store, registry, period)
    assert_matches(report, expected(rows, registry, period))
    batch_times = {c["time_ms"] for c in rows.batch_counts if period.start_ms <= c["time_ms"] < period.end_ms}
    assert batch_times == {START + 5 * HOUR + HOUR // 2, START + 6 * HOUR + HOUR // 2}
    hours = [(b.start[11:16], b.allowed + b.denied > 0) for b in report.decisions_over_time]
    assert hours == [("05:00", True), ("06:00", True), ("07:00", False)]  # 07:00-07:30 is in, and empty


@pytest.mark.parametrize("agency", [LAPD, MARICOPA])
def test_agency_keeps_the_reads_of_that_agency(
    store: Engine, rows: AuditRows, registry: AgencyRegistry, agency: str
) -> None:
    period = parse_period("2026-11-01", "2026-11-03")
    report = report_of(store, registry, period, agency)
    assert_matches(report, expected(rows, registry, period, agency))
    assert {r.agency for r in report.readers} == {agency}
    if agency == LAPD:  # SB 34 keeps every Los Angeles alert in California public agencies
        assert report.shared_outside_state == [] and report.shared_federal_or_private == []
    else:
        assert report.shared_outside_state and {s.reading_agency for s in report.shared_outside_state} == {agency}


def test_without_such_shares_the_sections_say_there_were_none(
    store: Engine, rows: AuditRows, registry: AgencyRegistry
) -> None:
    period = parse_period("2026-11-02T12:00:00Z", "2026-11-03")  # after the permissive Arizona profile went
    report = report_of(store, registry, period)
    assert_matches(report, expected(rows, registry, period))
    assert report.shared_outside_state == [] and report.shared_federal_or_private == []
    assert report.totals()["alerts_sent"] > 0 and [p.decisions > 0 for p in report.policy_versions] == [True]
    for fmt in ("md", "html"):
        page = render(report, "md" if fmt == "md" else "html")
        assert NONE_OUTSIDE in page and NONE_FEDERAL_PRIVATE in page


def test_policy_versions_in_force_with_their_first_and_last_decision(
    store: Engine, rows: AuditRows, registry: AgencyRegistry, policies: tuple[Any, Any]
) -> None:
    report = report_of(store, registry, parse_period("2026-11-01", "2026-11-03"))
    first, second = report.policy_versions
    assert (first.version, second.version) == (policies[0].version, policies[1].version)
    assert first.first == "2026-11-01T00:30:00.000Z" and second.last == "2026-11-03T23:30:00.000Z"
    assert first.last < second.first == "2026-11-02T12:30:00.000Z"
    assert first.first_seen == first.first and second.first_seen == second.first  # from policy_versions


# -- the forms -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(store: Engine, registry: AgencyRegistry) -> AuditReport:
    return report_of(store, registry, parse_period("2026-11-01", "2026-11-03"))


def test_json_is_the_report(sample: AuditReport) -> None:
    doc = orjson.loads(render(sample, "json"))
    assert doc["totals"] == sample.totals()
    assert len(doc["shared_outside_state"]) == sample.totals()["shared_outside_state"]
    assert doc["period_start"] == "2026-11-01T00:00:00.000Z" and doc["period_end"] == "2026-11-04T00:00:00.000Z"


def test_csv_carries_the_same_numbers(sample: AuditReport) -> None:
    doc = orjson.loads(render(sample, "json"))
    table = list(csv.DictReader(io.StringIO(render(sample, "csv"))))
    section: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in table:
        section[row["section"]].append(row)
    assert {r["key"]: int(r["count"]) for r in section["totals"]} == doc["totals"]
    assert {
        r["key"]: (int(r["reads"]), int(r["hits"]), int(r["dead_letters"])) for r in section["reads_by_agency"]
    } == {r["agency"]: (r["reads"], r["hits"], r["dead_letters"]) for r in doc["readers"]}
    for name, key in (("alerts_by_recipient", "agency"), ("denials_by_recipient", "agency"),
                      ("alerts_by_state", "key"), ("denials_by_rule", "key")):  # fmt: skip
        assert {r["key"]: int(r["count"]) for r in section[name]} == {r[key]: r["count"] for r in doc[name]}
    for name in ("shared_outside_state", "shared_federal_or_private"):
        assert [(r["alert_id"], r["recipient"], r["time"]) for r in section[name]] == [
            (s["alert_id"], s["recipient"], s["time"]) for s in doc[name]
        ]
    assert {r["key"]: (r["first"], r["last"], int(r["count"])) for r in section["policy_versions"]} == {
        p["version"]: (p["first"], p["last"], p["decisions"]) for p in doc["policy_versions"]
    }
    assert [(int(r["allowed"]), int(r["denied"])) for r in section["decisions_per_hour"]] == [
        (b["allowed"], b["denied"]) for b in doc["decisions_over_time"]
    ]


def test_markdown_carries_the_same_numbers(sample: AuditReport) -> None:
    page = render(sample, "md")
    for section in ("Totals", "Reads processed, hits and dead letters per reading agency", "Alerts sent per recipient "
                    "agency", "Alerts sent per recipient state", "Denials by rule", "Denials by would-be recipient",
                    "Shared outside the read's state", "Shared with federal or private recipients",
                    "Policy versions in force", "Decisions per hour"):  # fmt: skip
        assert f"\n## {section}\n" in page
    cells = {tuple(c.strip() for c in line.strip("|").split("|")) for line in page.splitlines() if line.startswith("|")}
    for name, value in sample.totals().items():
        assert (TOTAL_LABELS[name], str(value)) in cells
    for r in sample.readers:
        assert (r.agency, r.name, r.state, str(r.reads), str(r.hits), str(r.dead_letters)) in cells
    for a in sample.alerts_by_recipient:
        assert (a.agency, a.name, a.state, a.level, a.kind, str(a.count)) in cells
    for k in sample.denials_by_rule:
        assert (k.key, str(k.count)) in cells
    for s in sample.shared_federal_or_private:
        assert any(c[0] == s.time and c[1] == s.alert_id and c[3].startswith(s.recipient) for c in cells)


def test_html_is_one_self_contained_file_with_the_totals_marked(sample: AuditReport) -> None:
    page = render(sample, "html")
    assert "://" not in page and "<script" not in page.lower() and "<link" not in page.lower()
    assert not re.search(r"\b(src|href)=\"(?!#)", page)  # no source or link but fragment references
    assert not re.search(r"url\((?!#)", page) and "@import" not in page and "@font-face" not in page
    assert page.count('<figure class="chart"') == 5 and page.count("<svg") == 5
    marked = dict(re.findall(r'data-total="(\w+)">([\d,]+)<', page))
    assert {k: int(v.replace(",", "")) for k, v in marked.items()} == sample.totals()
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # charts' element ids are unique across the page
    assert "Content-Security-Policy" in page


# -- the access record -----------------------------------------------------------------------------


def test_each_report_is_recorded_as_an_access(store: Engine, registry: AgencyRegistry) -> None:
    period = parse_period("2026-11-02", "2026-11-02")
    before = _access_rows(store)
    report = report_of(store, registry, period, MARICOPA)
    [row] = [r for r in _access_rows(store) if r not in before]
    assert (row["user"], row["purpose"], row["organization"], row["command"]) == (
        ALICE.user, ALICE.purpose, ALICE.organization, "audit report",
    )  # fmt: skip
    assert row["records"] == report.totals()["decisions"] > 0
    assert period.start in row["accessed"] and period.end in row["accessed"] and MARICOPA in row["accessed"]
    assert row["time_ms"] == int(FIXED_NOW.timestamp() * 1000)


def _access_rows(store: Engine) -> list[dict[str, Any]]:
    with store.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(schema.access_log))]


@pytest.mark.parametrize(("user", "purpose", "missing"), [("", "audit", "--user"), ("bob", " ", "--purpose")])
def test_no_report_without_who_and_why(user: str, purpose: str, missing: str) -> None:
    with pytest.raises(ConfigurationError, match=missing):
        Accessor(user, purpose)


# -- the period ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "end", "iso_time"),
    [
        ("2026-11-27", False, "2026-11-27T00:00:00+00:00"),
        ("2026-11-27", True, "2026-11-28T00:00:00+00:00"),  # a date as the end: the whole day
        ("2026-11-27T10:00:00Z", True, "2026-11-27T10:00:00+00:00"),
        ("2026-11-27T10:00:00", False, "2026-11-27T10:00:00+00:00"),  # no offset: UTC
        ("2026-11-27T10:00:00-08:00", False, "2026-11-27T18:00:00+00:00"),
        ("2026-11-27T10:00:00.250Z", False, "2026-11-27T10:00:00.250000+00:00"),
    ],
)
def test_times_are_dates_or_iso_times_in_utc(text: str, end: bool, iso_time: str) -> None:
    assert parse_time(text, end=end) == int(dt.datetime.fromisoformat(iso_time).timestamp() * 1000)


@pytest.mark.parametrize(("start", "end"), [("yesterday", "2026-11-27"), ("2026-11-27T10:00Z", "2026-11-27T09:00Z")])
def test_a_bad_or_empty_period_is_a_usage_error(start: str, end: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_period(start, end)


# -- the benchmark runs at a small size ------------------------------------------------------------


def test_benchmark_smoke_writes_a_result(tmp_path: Path) -> None:
    out = tmp_path / "audit_report.json"
    assert audit_report_bench.main(["--smoke", "--output", str(out)]) == 0
    result = orjson.loads(out.read_bytes())
    assert result["fill"]["rows"]["decisions"] == result["totals"]["decisions"] == 10_000
    assert result["verify"]["mismatches"] == 0 and result["verify"]["deliveries"] == result["totals"]["alerts_sent"]
    for key in ("report_month", "report_day", "report_month_one_agency", "verify_month"):
        assert 0 < result[key]["median_s"] < 30
    assert any("ix_decisions_time" in step for step in result["decisions_query_plan"])


# -- the command -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store_file(rows: AuditRows, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SQLite store file with the rows (the command takes a URL)."""
    engine, drop = empty_store("sqlite", tmp_path_factory.mktemp("cli-store"))
    rows.insert_into(engine)
    url = engine.url.render_as_string(hide_password=False)
    drop()
    yield url


def audit_cli(*argv: str) -> int:
    from streams.cli.main import main  # noqa: PLC0415 (the command's parser, as `platewatch` builds it)

    return main(["audit", *argv])


@pytest.mark.parametrize("fmt", ["html", "md", "csv", "json"])
def test_report_command_writes_each_form_and_records_the_access(
    store_file: str, registry: AgencyRegistry, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from streams.audit.render import FORMATS  # noqa: PLC0415
    from streams.cli.audit import REPORT_FORMATS  # noqa: PLC0415

    assert REPORT_FORMATS == FORMATS
    out = tmp_path / f"report.{fmt}"
    args = ["--from", "2026-11-01", "--to", "2026-11-03", "--format", fmt, "--output", str(out), "--user", "alice",
            "--purpose", "SB 34 review", "--organization", "CA DOJ", "--audit-db-url", store_file]  # fmt: skip
    assert audit_cli("report", *args) == 0
    assert str(out) in capsys.readouterr().out
    engine = engine_for(store_file)
    try:
        with engine.connect() as conn:
            want = build_report(conn, parse_period("2026-11-01", "2026-11-03"), registry).totals()
        access = _access_rows(engine)[-1]
    finally:
        engine.dispose()
    text = out.read_text(encoding="utf-8")
    if fmt == "json":
        assert orjson.loads(text)["totals"] == want
    elif fmt == "csv":
        assert {
            r["key"]: int(r["count"]) for r in csv.DictReader(io.StringIO(text)) if r["section"] == "totals"
        } == want
    elif fmt == "html":
        assert {k: int(v.replace(",", "")) for k, v in re.findall(r'data-total="(\w+)">([\d,]+)<', text)} == want
    else:
        assert f"| {TOTAL_LABELS['decisions']} | {want['decisions']} |" in text
    assert (access["user"], access["purpose"], access["organization"], access["command"], access["records"]) == (
        "alice", "SB 34 review", "CA DOJ", "audit report", want["decisions"],
    )  # fmt: skip


def test_report_command_to_standard_output_for_one_agency_with_the_user_from_the_environment(
    store_file: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PLATEWATCH_ACCESS_USER", "bob")
    monkeypatch.setenv("PLATEWATCH_ACCESS_PURPOSE", "case 26-1234")
    args = ["--from", "2026-11-01", "--to", "2026-11-01T12:00:00Z", "--agency", MARICOPA, "--format", "json"]
    assert audit_cli("report", *args, "--audit-db-url", store_file) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["agency"] == MARICOPA and [r["agency"] for r in doc["readers"]] == [MARICOPA]
    engine = engine_for(store_file)
    try:
        access = _access_rows(engine)[-1]
    finally:
        engine.dispose()
    assert (access["user"], access["purpose"]) == ("bob", "case 26-1234") and MARICOPA in access["accessed"]


PERIOD_ARGS = ["--from", "2026-11-01", "--to", "2026-11-03"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([*PERIOD_ARGS, "--purpose", "review"], "--user"),  # who reads it is required ...
        ([*PERIOD_ARGS, "--user", "alice"], "--purpose"),  # ... and why
        ([*PERIOD_ARGS, "--user", "alice", "--purpose", "x", "--agency", "lapd"], "not an ORI"),
        (["--from", "2026-11-03", "--to", "2026-11-01", "--user", "alice", "--purpose", "x"], "period is empty"),
    ],
)
def test_report_command_refuses_without_who_and_why_and_records_nothing(
    store_file: str, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    engine = engine_for(store_file)
    before = len(_access_rows(engine))
    assert audit_cli("report", *argv, "--audit-db-url", store_file) == 2
    assert says in capsys.readouterr().err
    assert len(_access_rows(engine)) == before
    engine.dispose()


def test_report_command_on_a_store_that_is_not_there(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'nothing.db'}"
    argv = ["--from", "2026-11-01", "--to", "2026-11-03", "--user", "a", "--purpose", "b", "--audit-db-url", url]
    assert audit_cli("report", *argv) == 2
    assert "no audit store" in capsys.readouterr().err and not (tmp_path / "nothing.db").exists()


def test_reads_that_proved_no_agency_are_counted_apart(registry: AgencyRegistry, tmp_path: Path) -> None:
    engine, drop = empty_store("sqlite", tmp_path)
    try:
        with engine.begin() as conn:
            conn.execute(
                schema.batch_counts.insert(),
                [{"source": "batch-counts/0/1", "time_ms": START + HOUR, "reading_agency": "", "reads": 40,
                  "hits": 0, "dead_letters": 3}],
            )  # fmt: skip
        report = report_of(engine, registry, parse_period("2026-11-01", "2026-11-01"))
    finally:
        drop()
    [reader] = report.readers
    assert (reader.agency, reader.state, reader.reads, reader.dead_letters) == ("", "unknown", 40, 3)
    assert "no agency" in reader.name and "(none)" in render(report, "html")
    assert report.totals()["decisions"] == 0 and report.policy_versions == []
