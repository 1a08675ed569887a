"""Counts per reading agency and batch (streams/pipeline/counts.py): what the audit report counts beside
the decisions, from a batch the real pipeline processed."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import jsonschema
import orjson

from streams.hotlists.index import HotlistIndex
from streams.hotlists.model import HotlistEntry, HotlistInfo
from streams.pipeline.batch import Pipeline, SimulatedRecord
from streams.pipeline.counts import AgencyCount, InputRange, batch_counts
from streams.pipeline.topics import TopicNames
from streams.policy.jurisdiction_filter import SharingPolicy
from streams.policy.store import PolicyStore

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "schemas" / "batch-counts.schema.json").read_text())
LAPD, SDPD, FAIRFAX = "CA0194200", "CA0373700", "VA0290100"
NOW_MS = 1_800_000_000_000
NAMES = TopicNames()


def read(read_id: str, plate: str, agency: str) -> bytes:
    return orjson.dumps(
        {"read_id": read_id, "time": "2026-11-27T10:00:00Z", "camera_id": "c1", "agency_ori": agency,
         "plate": plate, "state": "CA"}
    )  # fmt: skip


def pipeline() -> Pipeline:
    index = HotlistIndex()
    index.define_list(HotlistInfo("bolo", "BOLO", owner_ori=SDPD))
    index.upsert(HotlistEntry("bolo", "7SDQ551", "CA"))
    policy = PolicyStore().current
    assert isinstance(policy, SharingPolicy)
    return Pipeline(index, lambda: policy, NAMES, clock=lambda: NOW_MS / 1000)


def inputs_of(records: list[SimulatedRecord]) -> list[InputRange]:
    by_tp: dict[tuple[str, int], list[SimulatedRecord]] = {}
    for r in records:
        by_tp.setdefault((r.topic, r.partition), []).append(r)
    return [InputRange(t, p, rs[0].offset, rs[-1].offset, len(rs)) for (t, p), rs in by_tp.items()]


def test_one_count_per_reading_agency_from_its_input_topics() -> None:
    lapd, sdpd = NAMES.reads_for(LAPD), NAMES.reads_for(SDPD)
    values = [
        (lapd, 0, read("l1", "7SDQ551", LAPD)),  # a hit
        (lapd, 0, read("l2", "NOHIT1", LAPD)),
        (lapd, 1, b"not json"),  # a dead letter on LAPD's topic
        (lapd, 1, read("l3", "7SDQ551", SDPD)),  # claims SDPD on LAPD's topic: agency_mismatch, LAPD's
        (sdpd, 0, read("s1", "7SDQ551", SDPD)),
        (sdpd, 0, read("s2", "7SDQ551", SDPD)),
        (sdpd, 0, read("s3", "ABC123", SDPD)),
    ]
    records = [SimulatedRecord(v, None, t, p, i, NOW_MS) for i, (t, p, v) in enumerate(values)]
    result = pipeline().process(records)
    counts = batch_counts(result, inputs_of(records), NAMES, NOW_MS)
    assert [(c.reading_agency, c.reads, c.hits, c.dead_letters) for c in counts] == [
        (LAPD, 4, 1, 2),
        (SDPD, 3, 2, 0),
    ]
    assert counts[0].inputs == (f"{lapd}/0/0-1", f"{lapd}/1/2-3")
    for c in counts:
        jsonschema.validate(c.to_json(), SCHEMA)
        assert c.time_ms == NOW_MS
    # every read counted once; the hits and dead letters are the batch's own
    assert sum(c.reads for c in counts) == result.reads == len(records)
    assert sum(c.hits for c in counts) == len(result.hits)
    assert sum(c.dead_letters for c in counts) == len(result.dead_letters)


def test_dead_letters_of_no_known_agency_count_under_the_empty_agency() -> None:
    """The single development topic proves no agency: reads count under the agency they name, what did not
    decode under ""."""
    values = [read("a", "7SDQ551", LAPD), read("b", "NOHIT1", LAPD), read("c", "NOHIT2", FAIRFAX), b'{"read_id"']
    records = [SimulatedRecord(v, None, NAMES.plate_reads, i % 2, i, NOW_MS) for i, v in enumerate(values)]
    result = pipeline().process_isolating(records)
    counts = {c.reading_agency: c for c in batch_counts(result, inputs_of(records), NAMES, NOW_MS)}
    assert {a: (c.reads, c.hits, c.dead_letters) for a, c in counts.items()} == {
        "": (1, 0, 1),
        LAPD: (2, 1, 0),
        FAIRFAX: (1, 0, 0),
    }
    assert result.claimed == Counter({LAPD: 2, FAIRFAX: 1})
    for c in counts.values():
        jsonschema.validate(c.to_json(), SCHEMA)


def test_a_bisected_batch_counts_the_same_as_a_whole_one() -> None:
    values = [read(f"r{i}", "7SDQ551" if i % 3 == 0 else f"NOHIT{i}", LAPD) for i in range(12)]
    records = [SimulatedRecord(v, None, NAMES.plate_reads, 0, i, NOW_MS) for i, v in enumerate(values)]
    p = pipeline()
    whole = p.process(records)
    halves = p.process(records[:5])
    halves.merge(p.process(records[5:]))
    assert batch_counts(whole, inputs_of(records), NAMES, NOW_MS) == batch_counts(
        halves, inputs_of(records), NAMES, NOW_MS
    )


def test_a_count_record_is_small() -> None:
    count = AgencyCount(NOW_MS, LAPD, 5000, 12, 3, (f"{NAMES.reads_for(LAPD)}/0/100-5099",))
    assert len(orjson.dumps(count.to_json())) < 200
