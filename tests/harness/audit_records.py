"""Records of the audited topics made by the real pipeline: share-audit decisions, alerts and batch counts,
for the audit store and sink tests and the sink benchmark.

Reads of three agencies (two Californian, one Virginian) go through `streams.pipeline.batch.Pipeline`
with the default sharing policy against a small hotlist that about a third of them hit; what comes out
is exactly what a worker sends. `consumed` numbers them per topic as a broker would, so they can be fed
to the store without one; `produce_outputs` sends them to a broker.
"""

from __future__ import annotations

import random
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import orjson

from streams.hotlists.index import HotlistIndex
from streams.hotlists.model import HotlistEntry, HotlistInfo
from streams.pipeline.batch import Pipeline, SimulatedRecord
from streams.pipeline.counts import InputRange, batch_counts
from streams.pipeline.outputs import Outbound
from streams.pipeline.topics import TopicNames
from streams.policy.jurisdiction_filter import SharingPolicy
from streams.policy.store import PolicyStore

LAPD, SDPD, FAIRFAX = "CA0194200", "CA0373700", "VA0290100"
READERS = (LAPD, SDPD, FAIRFAX)
ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
START_MS = 1_800_000_000_000


@dataclass
class Outputs:
    """What a worker sent for some batches, by kind."""

    audits: list[Outbound] = field(default_factory=list)
    alerts: list[Outbound] = field(default_factory=list)
    counts: list[Outbound] = field(default_factory=list)

    def all(self) -> list[Outbound]:
        return [*self.audits, *self.alerts, *self.counts]

    @property
    def audit_ids(self) -> set[str]:
        return {orjson.loads(o.value)["audit_id"] for o in self.audits}


def hotlist(rng: random.Random, size: int = 400) -> tuple[HotlistIndex, list[str]]:
    index = HotlistIndex()
    index.define_list(HotlistInfo("ncic", "NCIC stolen vehicles", category="stolen_vehicle"))
    index.define_list(HotlistInfo("sd-bolo", "San Diego BOLO", owner_ori=SDPD))
    plates = ["".join(rng.choice(ALPHABET) for _ in range(7)) for _ in range(size)]
    for n, plate in enumerate(plates):
        index.upsert(HotlistEntry("sd-bolo" if n % 3 == 0 else "ncic", plate, "CA"))
    return index, plates


def pipeline_outputs(
    reads: int,
    *,
    names: TopicNames | None = None,
    seed: int = 1,
    batch: int = 500,
    hit_rate: float = 0.35,
    start_ms: int = START_MS,
) -> Outputs:
    """The outputs of `reads` reads in batches of `batch`, about `hit_rate` of them hits."""
    names = names or TopicNames()
    rng = random.Random(seed)
    index, wanted = hotlist(rng)
    policy = PolicyStore().current
    assert isinstance(policy, SharingPolicy)
    out = Outputs()
    offsets: Counter[str] = Counter()
    for first in range(0, reads, batch):
        now_ms = start_ms + first * 10
        pipeline = Pipeline(index, lambda: policy, names, clock=lambda now_ms=now_ms: now_ms / 1000)  # type: ignore[misc]
        records = []
        for n in range(first, min(first + batch, reads)):
            agency = READERS[n % len(READERS)]
            topic = names.reads_for(agency)
            plate = rng.choice(wanted) if rng.random() < hit_rate else "".join(rng.choice(ALPHABET) for _ in range(7))
            value = orjson.dumps(
                {"read_id": f"{agency}-{seed}-{n}", "time": "2027-01-15T08:00:00Z", "camera_id": f"cam-{n % 13}",
                 "agency_ori": agency, "plate": plate, "state": "CA"}
            )  # fmt: skip
            records.append(SimulatedRecord(value, None, topic, 0, offsets[topic], now_ms))
            offsets[topic] += 1
        result = pipeline.process(records)
        out.audits += result.audits
        out.alerts += result.alerts
        inputs = [
            InputRange(t, 0, min(r.offset for r in records if r.topic == t),
                       max(r.offset for r in records if r.topic == t), sum(r.topic == t for r in records))
            for t in sorted({r.topic for r in records})
        ]  # fmt: skip
        out.counts += [
            Outbound(names.batch_counts, c.reading_agency.encode(), orjson.dumps(c.to_json()))
            for c in batch_counts(result, inputs, names, now_ms)
        ]
    return out


def consumed(outbound: Iterable[Outbound], partitions: int = 3, time_ms: int = START_MS) -> list[SimulatedRecord]:
    """The records as a consumer would get them: a partition by key, offsets counted per partition."""
    offsets: Counter[tuple[str, int]] = Counter()
    out = []
    for o in outbound:
        partition = zlib.crc32(o.key) % partitions if o.key else 0
        out.append(SimulatedRecord(o.value, o.key, o.topic, partition, offsets[(o.topic, partition)], time_ms))
        offsets[(o.topic, partition)] += 1
    return out


def with_duplicates(records: Sequence[Outbound], share: float, seed: int = 3) -> list[Outbound]:
    """`records`, with `share` of them sent again later (as a worker re-reading a batch would)."""
    rng = random.Random(seed)
    again = rng.sample(list(records), int(len(records) * share))
    return [*records, *again]
