"""Audit store rows made by the real pipeline, for the report and verify tests and the benchmark.

Reads from several agencies (California, Arizona, Virginia and one the registry does not know) go
through `streams.pipeline.batch.Pipeline` with a real sharing policy; its share-audit records become
`share_decisions` rows, its alerts `alert_deliveries` rows (offsets per topic, as the sink would store
them), and each batch's reads, hits and dead letters per reading agency `batch_counts` rows. What the
sink does with the records of the broker, done here without one.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import Engine, create_engine, insert, text

from streams.audit import schema
from streams.audit.store import engine_for, migrate
from streams.hotlists.index import HotlistIndex
from streams.hotlists.model import HotlistEntry, HotlistInfo
from streams.pipeline.batch import Pipeline, SimulatedRecord
from streams.pipeline.topics import TopicNames
from streams.policy.jurisdiction_filter import SharingPolicy
from streams.policy.store import DEFAULT_REGISTRY, load_policy

LAPD, SDPD, MARICOPA, VSP, FAIRFAX, UNKNOWN_READER = (
    "CA0194200", "CA0373700", "AZ0070000", "VAVSP0000", "VA0290100", "ZZ0000000",
)  # fmt: skip
READERS = (LAPD, SDPD, MARICOPA, VSP, FAIRFAX, UNKNOWN_READER)
READER_WEIGHTS = (40, 25, 12, 10, 10, 3)
PLATE_STATE = {LAPD: "CA", SDPD: "CA", MARICOPA: "AZ", VSP: "VA", FAIRFAX: "VA", UNKNOWN_READER: "CA"}
ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def policy_file(tmp: Path, *, arizona: str | None = "permissive", version: str = "test-1") -> Path:
    """A sharing policy: California SB 34, Virginia 2025, and Arizona under `arizona` (None: no profile)."""
    lines = [f'version: "{version}"', "jurisdictions:", "  CA: us-ca-sb34", "  VA: us-va-2025"]
    if arizona:
        lines.append(f"  AZ: {arizona}")
    path = tmp / f"policy-{version}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load(policy: Path) -> SharingPolicy:
    return load_policy(policy, DEFAULT_REGISTRY)


T = TypeVar("T")


def empty_store(backend: str, folder: Path, server_url: str = "") -> tuple[Engine, Callable[[], None]]:
    """A new audit store, migrated to the newest schema, and the function that removes it.

    SQLite: a file in `folder`. PostgreSQL (`server_url`, the `postgres_url` fixture): a schema of its
    own in the test database (search_path), so tests never see each other's rows.
    """
    if backend == "sqlite":
        engine = engine_for(f"sqlite:///{folder / f'audit-{uuid.uuid4().hex[:8]}.db'}")
        migrate(engine)
        return engine, engine.dispose
    name = f"audit_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {name}"))
    engine = create_engine(server_url, connect_args={"options": f"-c search_path={name}"})
    migrate(engine)

    def drop() -> None:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
        admin.dispose()

    return engine, drop


@dataclass
class AuditRows:
    decisions: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    batch_counts: list[dict[str, Any]] = field(default_factory=list)
    policy_versions: dict[str, int] = field(default_factory=dict)  # version → first seen (ms)
    hits_by_reader: Counter[str] = field(default_factory=Counter)  # from the pipeline's own result

    def insert_into(self, engine: Engine) -> None:
        with engine.begin() as conn:
            for table, rows in (
                (schema.decisions, self.decisions),
                (schema.deliveries, self.deliveries),
                (schema.batch_counts, self.batch_counts),
                (schema.policy_versions, [{"policy_version": v, "first_seen_ms": t}
                                          for v, t in self.policy_versions.items()]),
            ):  # fmt: skip
                if rows:
                    conn.execute(insert(table), rows)


def hotlist() -> HotlistIndex:
    index = HotlistIndex()
    index.define_list(HotlistInfo("ncic", "NCIC stolen vehicles", priority=20))
    index.define_list(HotlistInfo("amber", "AMBER alerts", priority=0))
    index.define_list(HotlistInfo("sd-bolo", "San Diego BOLO", owner_ori=SDPD))
    for plate, state, list_id in wanted_plates():
        index.upsert(HotlistEntry(list_id, plate, state, owner_ori=VSP if state == "VA" else ""))
    return index


def wanted_plates() -> list[tuple[str, str, str]]:
    rng = random.Random(11)
    out = []
    for i in range(300):
        state = ("CA", "AZ", "VA")[i % 3]
        list_id = ("ncic", "ncic", "sd-bolo", "amber")[i % 4]
        out.append(("".join(rng.choice(ALPHABET) for _ in range(7)), state, list_id))
    return out


def read_record(rng: random.Random, n: int, reader: str, time_ms: int, wanted: Sequence[tuple[str, str, str]]) -> bytes:
    if rng.random() < 0.3:
        plate, state, _ = rng.choice(wanted)
        state = state if rng.random() < 0.9 else PLATE_STATE[reader]
    else:
        plate, state = "".join(rng.choice(ALPHABET) for _ in range(7)), PLATE_STATE[reader]
    if rng.random() < 0.02:
        return b'{"read_id": "broken'  # a dead letter
    when = dt.datetime.fromtimestamp(time_ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")
    return orjson.dumps(
        {"read_id": f"{reader}-{n}", "time": when, "camera_id": f"cam-{n % 17}", "agency_ori": reader,
         "plate": plate, "state": state}
    )  # fmt: skip


def simulate(
    policies: Sequence[tuple[int, SharingPolicy]],
    *,
    batches: int,
    reads_per_batch: int,
    start_ms: int,
    step_ms: int,
    seed: int = 7,
) -> AuditRows:
    """`batches` batches of reads `step_ms` apart from `start_ms`; `policies` are (first batch, policy)."""
    rows = AuditRows()
    for batch in simulate_batches(
        policies, batches=batches, reads_per_batch=reads_per_batch, start_ms=start_ms, step_ms=step_ms, seed=seed
    ):
        rows.decisions += batch.decisions
        rows.deliveries += batch.deliveries
        rows.batch_counts += batch.batch_counts
        rows.hits_by_reader.update(batch.hits_by_reader)
        for version, first in batch.policy_versions.items():
            rows.policy_versions.setdefault(version, first)
    return rows


def simulate_batches(
    policies: Sequence[tuple[int, SharingPolicy]],
    *,
    batches: int,
    reads_per_batch: int,
    start_ms: int,
    step_ms: int,
    seed: int = 7,
) -> Iterator[AuditRows]:
    """The rows of each batch in turn (so a million decisions need not be held at once)."""
    rng = random.Random(seed)
    index, names, wanted = hotlist(), TopicNames(), wanted_plates()
    offsets: Counter[str] = Counter()
    schedule = sorted(policies, key=lambda p: p[0])
    n = 0
    for b in range(batches):
        rows = AuditRows()
        now_ms = start_ms + b * step_ms
        policy = next(p for first, p in reversed(schedule) if first <= b)
        pipeline = Pipeline(
            index, functools.partial(_same, policy), names, clock=functools.partial(_same, now_ms / 1000)
        )
        records = []
        for _ in range(reads_per_batch):
            reader = rng.choices(READERS, READER_WEIGHTS)[0]
            topic = names.reads_for(reader)
            records.append(SimulatedRecord(read_record(rng, n, reader, now_ms, wanted), None, topic, 0, n, now_ms))
            n += 1
        result = pipeline.process_isolating(records)
        rows.policy_versions[policy.version] = now_ms
        reads = Counter(names.reading_agency_of(r.topic) or "" for r in records)
        hits = Counter(read.agency_ori for read, _ in result.hits)
        dead = Counter(
            names.reading_agency_of(dict(o.headers)["platewatch.source.topic"].decode()) or ""
            for o in result.dead_letters
        )
        rows.hits_by_reader.update(hits)
        for reader, count in sorted(reads.items()):
            rows.batch_counts.append(
                {"source": f"batch-counts/0/{b}/{reader}", "time_ms": now_ms, "reading_agency": reader,
                 "reads": count, "hits": hits[reader], "dead_letters": dead[reader]}
            )  # fmt: skip
        rows.decisions.extend(decision_row(orjson.loads(o.value)) for o in result.audits)
        for o in result.alerts:
            doc = orjson.loads(o.value)
            rows.deliveries.append(
                {"topic": o.topic, "partition": 0, "offset": offsets[o.topic], "alert_id": doc["alert_id"],
                 "recipient": o.topic.removeprefix("alerts."), "recipient_in_alert": doc["recipient_ori"],
                 "policy_version": doc.get("policy_version", ""), "time_ms": now_ms}
            )  # fmt: skip
            offsets[o.topic] += 1
        yield rows


def _same(value: T) -> T:
    return value


def decision_row(doc: dict[str, Any]) -> dict[str, Any]:
    """A share-audit record as a `share_decisions` row."""
    when = dt.datetime.fromisoformat(doc["time"])
    return {
        "audit_id": doc["audit_id"],
        "time": when,
        "time_ms": int(when.timestamp() * 1000),
        **{k: doc[k] for k in ("read_id", "alert_id", "plate", "reading_agency", "recipient", "user", "organization",
                               "decision", "rule", "reason", "purpose", "profile", "policy_version")},
    }  # fmt: skip
