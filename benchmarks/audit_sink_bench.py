"""How many share-decision rows per second the audit sink stores into SQLite and into PostgreSQL.

The rows are the real pipeline's (`tests.harness.audit_records`: reads of three agencies against a
hotlist, decided by SB 34 and Virginia 2025), as share-audit records. Each run stores `--rows` new
decisions in batches of `--batch` (the sink's `audit_batch_rows`), one transaction per batch, through
`AuditStore.write`, the sink's own path: one Core `INSERT ... ON CONFLICT DO NOTHING` executemany per
batch. Every run adds new decisions to the same store (its tables and indexes grow from run to run),
then stores the same batches again (a replay: every row a duplicate). Three rates, each the median of
`--runs` runs:

- `insert`: rows already parsed, stored (the database's part);
- `sink`: the records parsed (`rows_of`) and stored: what the sink does per batch, Kafka aside;
- `replay`: the same records again, all duplicates (a restarted sink, a re-reading worker).

SQLite in a temporary folder in WAL mode with `synchronous=FULL` (as the sink opens it); PostgreSQL
from `--postgres-url` (or PLATEWATCH_TEST_POSTGRES_URL), else one started by deploy/postgres/pg.sh for
the run (fsync on, the Debian package's defaults), in a database of its own.

    python -m benchmarks.audit_sink_bench              # 5 runs of 50,000 rows → benchmarks/results/audit_sink.json
    python -m benchmarks.audit_sink_bench --smoke      # 1 run of 2,000 rows, result in a temporary folder
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from benchmarks.timing import machine
from streams.audit.records import rows_of
from streams.audit.store import AuditStore, migrate
from streams.pipeline.batch import SimulatedRecord
from streams.pipeline.topics import TopicNames
from tests.harness.audit_records import consumed, pipeline_outputs
from tests.harness.postgres import fresh_database, started_postgres

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "audit_sink.json"
TARGET_ROWS_PER_S = 20_000
NAMES = TopicNames()


def decision_records(rows: int) -> list[SimulatedRecord]:
    """At least `rows` share-audit records of the real pipeline, as consumed; the first `rows` of them."""
    reads = max(200, int(rows / 1.6))
    while True:
        records = consumed(pipeline_outputs(reads, batch=1000, seed=11).audits)
        if len(records) >= rows:
            return records[:rows]
        reads = int(reads * 1.3)


def renamed(records: Sequence[SimulatedRecord], run: int) -> list[SimulatedRecord]:
    """The same decisions with audit ids of their own for `run` (so every run stores new rows)."""
    out = []
    for r in records:
        assert r.value is not None
        doc = orjson.loads(r.value)
        doc["audit_id"] = f"r{run}-{doc['audit_id']}"
        out.append(r._replace(value=orjson.dumps(doc)))
    return out


def batches(records: Sequence[SimulatedRecord], size: int) -> list[Sequence[SimulatedRecord]]:
    return [records[i : i + size] for i in range(0, len(records), size)]


def measure(url: str, base: Sequence[SimulatedRecord], batch: int, runs: int) -> dict[str, Any]:
    store = AuditStore.open(url)
    try:
        migrate(store.engine)
        seconds: dict[str, list[float]] = {"insert": [], "sink": [], "replay": []}
        stored_total = 0
        for run in range(runs):
            for kind in ("insert", "sink"):
                parts = batches(renamed(base, 2 * run + (kind == "sink")), batch)
                parsed = [rows_of(p, NAMES) for p in parts] if kind == "insert" else None
                t0 = time.perf_counter()
                for n, part in enumerate(parts):
                    written = store.write(parsed[n] if parsed is not None else rows_of(part, NAMES))
                    stored_total += written.stored.get("share_decisions", 0)
                seconds[kind].append(time.perf_counter() - t0)
            # the last batches again: all duplicates
            t0 = time.perf_counter()
            for part in parts:
                written = store.write(rows_of(part, NAMES))
                assert written.stored.get("share_decisions", 0) == 0
            seconds["replay"].append(time.perf_counter() - t0)
        assert stored_total == 2 * runs * len(base), "every new decision stored once"
        return {
            "dialect": store.engine.dialect.name,
            **{f"{k}_rows_per_s": round(len(base) / statistics.median(v)) for k, v in seconds.items()},
            "runs_s": {k: [round(s, 4) for s in v] for k, v in seconds.items()},
            "rows_in_store_at_end": stored_total,
        }
    finally:
        store.close()


@contextlib.contextmanager
def postgres(url: str | None) -> Iterator[str]:
    """A fresh database on the given server, or on one started for the run."""
    given = url or os.environ.get("PLATEWATCH_TEST_POSTGRES_URL")
    with contextlib.ExitStack() as stack:
        server = given or stack.enter_context(started_postgres())
        yield stack.enter_context(fresh_database(server, prefix="bench"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000, help="new decisions stored per run")
    parser.add_argument("--batch", type=int, default=5_000, help="rows per transaction (the sink's audit_batch_rows)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres-url", help="a PostgreSQL server as its superuser (default: start one)")
    parser.add_argument("--smoke", action="store_true", help="1 run of 2,000 rows, result in a temporary folder")
    parser.add_argument("--output", type=Path, help=f"result file (default {RESULT.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    rows, runs, batch = (2_000, 1, 500) if args.smoke else (args.rows, args.runs, args.batch)
    base = decision_records(rows)
    with tempfile.TemporaryDirectory(prefix="audit-sink-bench-") as work:
        results = {"sqlite": measure(f"sqlite:///{work}/audit.db", base, batch, runs)}
        with postgres(args.postgres_url) as url:
            results["postgresql"] = measure(url, base, batch, runs)
        output = args.output or (Path(work) / "audit_sink.json" if args.smoke else RESULT)
        doc = {
            "command": "python -m benchmarks.audit_sink_bench" + (" --smoke" if args.smoke else ""),
            "rows_per_run": rows,
            "batch_rows": batch,
            "runs": runs,
            "row": "share_decisions (one share-audit record of the real pipeline)",
            "target_rows_per_s": TARGET_ROWS_PER_S,
            "meets_target": all(r["sink_rows_per_s"] >= TARGET_ROWS_PER_S for r in results.values()),
            "results": results,
            "machine": machine(),
        }
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        for name, r in results.items():
            print(
                f"{name:<11} insert {r['insert_rows_per_s']:>9,} rows/s   sink (parse + insert) "
                f"{r['sink_rows_per_s']:>9,} rows/s   replay {r['replay_rows_per_s']:>9,} rows/s"
            )
        print(f"target {TARGET_ROWS_PER_S:,} rows/s into both: {'met' if doc['meets_target'] else 'MISSED'} → {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
