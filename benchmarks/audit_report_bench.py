"""How long the audit report takes on a month of a million share decisions in SQLite.

Fills a fresh SQLite audit store (migrated, WAL mode with full fsync, as the sink keeps it) with the
decisions the real pipeline makes (`tests.harness.audit_rows`: reads of California, Arizona, Virginia
and unknown agencies against hotlists, decided by SB 34, Virginia 2025 and a permissive Arizona
profile that a policy change removes half way), inserted with executemany in chunks; then times the
report over the whole month, over one day and for one reading agency (each a new engine: the first
run cold, then the median of the others), the HTML rendering, and `audit verify` over the month.

    python -m benchmarks.audit_report_bench                 # 1,000,000 decisions → benchmarks/results/audit_report.json
    python -m benchmarks.audit_report_bench --smoke         # 10,000 decisions, result in a temporary folder
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import insert, text

from benchmarks.timing import machine
from streams.audit import schema
from streams.audit.period import Period, parse_period
from streams.audit.render import render_html
from streams.audit.report import Accessor, build_report, run_report
from streams.audit.store import engine_for, migrate
from streams.audit.verify import verify
from tests.harness.audit_rows import LAPD, load, policy_file, simulate_batches

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "audit_report.json"
MONTH = ("2026-11-01", "2026-11-30")
READS_PER_BATCH = 500
DECISIONS_PER_READ = 1.3  # measured on the harness's mix; only sizes the number of batches
CHUNK = 20_000


def fill(db: Path, decisions: int, policies_dir: Path) -> dict[str, Any]:
    """A store of exactly `decisions` decisions (with their deliveries and batch counts) over the month."""
    engine = engine_for(f"sqlite:///{db}")  # WAL, synchronous=FULL: the store as the sink runs it
    migrate(engine)
    period = parse_period(*MONTH)
    batches = int(decisions / DECISIONS_PER_READ / READS_PER_BATCH) + 2
    step = (period.end_ms - period.start_ms) // batches
    policies = [(0, load(policy_file(policies_dir, version="bench-1"))),
                (batches // 2, load(policy_file(policies_dir, version="bench-2", arizona=None)))]  # fmt: skip
    pending: dict[str, list[dict[str, Any]]] = {"decisions": [], "deliveries": [], "counts": []}
    versions: dict[str, int] = {}
    made = 0
    insert_s = 0.0
    counts = {"decisions": 0, "deliveries": 0, "batch_counts": 0}

    def flush() -> None:
        nonlocal insert_s
        t0 = time.perf_counter()
        with engine.begin() as conn:
            for table, key in ((schema.decisions, "decisions"), (schema.deliveries, "deliveries"),
                               (schema.batch_counts, "counts")):  # fmt: skip
                if pending[key]:
                    conn.execute(insert(table), pending[key])
                    pending[key] = []
        insert_s += time.perf_counter() - t0

    t0 = time.perf_counter()
    for rows in simulate_batches(
        policies, batches=batches, reads_per_batch=READS_PER_BATCH, start_ms=period.start_ms, step_ms=step, seed=3
    ):
        room = decisions - made
        if room <= 0:
            break
        kept = rows.decisions[:room]
        kept_ids = {(d["alert_id"], d["recipient"]) for d in kept if d["decision"] == "allow"}
        pending["decisions"] += kept
        pending["deliveries"] += [d for d in rows.deliveries if (d["alert_id"], d["recipient"]) in kept_ids]
        pending["counts"] += rows.batch_counts
        counts["decisions"] += len(kept)
        counts["deliveries"] += len([d for d in rows.deliveries if (d["alert_id"], d["recipient"]) in kept_ids])
        counts["batch_counts"] += len(rows.batch_counts)
        for version, first in rows.policy_versions.items():
            versions.setdefault(version, first)
        made += len(kept)
        if len(pending["decisions"]) >= CHUNK:
            flush()
    flush()
    with engine.begin() as conn:
        conn.execute(insert(schema.policy_versions), [{"policy_version": v, "first_seen_ms": t}
                                                      for v, t in versions.items()])  # fmt: skip
    generate_s = time.perf_counter() - t0 - insert_s
    engine.dispose()
    return {
        "rows": counts,
        "generate_s": round(generate_s, 2),
        "insert_s": round(insert_s, 2),
        "insert_rows_per_s": round(sum(counts.values()) / insert_s) if insert_s else 0,
        "db_bytes": db.stat().st_size,
    }


def timed(fn: Callable[[], object], runs: int) -> dict[str, float]:
    """The first run (cold: a fresh engine, the page cache aside) and the median of the others."""
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    rest = samples[1:] or samples
    return {"first_s": round(samples[0], 4), "median_s": round(statistics.median(rest), 4), "runs": runs}


def measure(db: Path, runs: int) -> dict[str, Any]:
    url = f"sqlite:///{db}"
    registry = load(policy_file(Path(tempfile.mkdtemp(prefix="pw-bench-")), version="registry")).registry
    accessor = Accessor("benchmark", "timing the report", "platewatch")
    month = parse_period(*MONTH)
    day = parse_period("2026-11-15", "2026-11-15")

    def report(period: Period, agency: str = "") -> Callable[[], object]:
        def go() -> object:
            engine = engine_for(url)
            try:
                return run_report(engine, period, registry, accessor, agency=agency)
            finally:
                engine.dispose()

        return go

    def verify_month() -> object:
        engine = engine_for(url)
        try:
            with engine.connect() as conn:
                return verify(conn, month)
        finally:
            engine.dispose()

    engine = engine_for(url)
    with engine.connect() as conn:
        sample = build_report(conn, month, registry)
        checked = verify(conn, month)
        plan = [
            str(row[-1])
            for row in conn.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT reading_agency, recipient, decision, rule, count(*) "
                    "FROM share_decisions WHERE time_ms >= :a AND time_ms < :b "
                    "GROUP BY reading_agency, recipient, decision, rule"
                ),
                {"a": month.start_ms, "b": month.end_ms},
            )
        ]
    engine.dispose()
    html_started = time.perf_counter()
    page = render_html(sample)
    html_s = time.perf_counter() - html_started
    return {
        "report_month": timed(report(month), runs),
        "report_day": timed(report(day), runs),
        "report_month_one_agency": timed(report(month, LAPD), runs),
        "render_html_s": round(html_s, 3),
        "html_bytes": len(page.encode()),
        "verify_month": timed(verify_month, max(2, runs // 2)),
        "totals": sample.totals(),
        "verify": {"deliveries": checked.deliveries, "mismatches": len(checked.mismatches)},
        "decisions_query_plan": plan,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--smoke", action="store_true", help="10,000 decisions, results in a temporary folder")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", type=Path, help=f"result file (default {RESULT.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    decisions = 10_000 if args.smoke else args.decisions
    work = Path(tempfile.mkdtemp(prefix="pw-audit-bench-"))
    output = args.output or (work / "audit_report.json" if args.smoke else RESULT)
    db = work / "audit.db"
    try:
        filled = fill(db, decisions, work)
        print(f"filled {filled['rows']} in {filled['generate_s']} s generating + {filled['insert_s']} s inserting")
        timings = measure(db, 3 if args.smoke else args.runs)
    finally:
        for leftover in work.glob("audit.db*"):
            leftover.unlink()
    result = {
        "question": "how long does `platewatch audit report` take on a month of a million decisions in SQLite?",
        "command": "python -m benchmarks.audit_report_bench" + (" --smoke" if args.smoke else ""),
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "sqlite": __import__("sqlite3").sqlite_version,
        "parameters": {"decisions": decisions, "period": MONTH, "reads_per_batch": READS_PER_BATCH},
        "fill": filled,
        **timings,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    month = timings["report_month"]
    print(
        f"report over the month: first {month['first_s']} s, median {month['median_s']} s; "
        f"one day {timings['report_day']['median_s']} s; one agency {timings['report_month_one_agency']['median_s']} s;"
        f" html {timings['render_html_s']} s; verify {timings['verify_month']['median_s']} s → {output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
