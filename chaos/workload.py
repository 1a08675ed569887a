"""What a scenario feeds the deployment: hotlists, a registry, and plate reads at a fixed rate.

The reads are realistic (streams.sim's camera feed: state formats, OCR misreads, 10% hits so alerts
come often enough to time a gap to a tenth of a second), optionally mixed with poison pills and with
reads of plates that only a killed publisher's half-written list contains ("decoys": any alert for one
means a replica applied half a load).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import yaml
from aiokafka.errors import KafkaError

from streams.hotlists.index import HotlistIndex
from streams.hotlists.model import HotlistEntry
from streams.kafka.clients import KafkaClients
from streams.kafka.hotlist_publish import publish_list_async
from streams.pipeline.topics import TopicNames
from streams.policy.store import DEFAULT_REGISTRY
from streams.sim.camera_feed import CameraFeed, FeedSettings, agency_of_camera
from streams.sim.sample_hotlists import load_sample_hotlists

# the agencies of the chaos deployment: readers in CA and VA, recipients granted and denied
AGENCIES = ("CA0194200", "CA0373700", "CA0190000", "CA0370000", "CACHP0000", "DCFBIWA00", "CAPRV0001",
            "VAVSP0000", "VA0290100")  # fmt: skip
ADDED_BY_RELOAD = "CA0380100"  # San Francisco PD, given an NCIC subscription by the reload scenario
NCIC_ENTRIES = 20_000


def write_registry(path: Path, *, with_added: bool) -> Path:
    doc = yaml.safe_load(DEFAULT_REGISTRY.read_text())
    agencies = [a for a in doc["agencies"] if a["ori"] in AGENCIES]
    if with_added:
        added = next(a for a in doc["agencies"] if a["ori"] == ADDED_BY_RELOAD)
        agencies.append({**added, "subscriptions": [{"lists": ["ncic"], "states": ["CA"]}]})
    path.write_text(yaml.safe_dump({"agencies": agencies}, sort_keys=False))
    return path


def sample_index() -> HotlistIndex:
    index = HotlistIndex()
    load_sample_hotlists(index, NCIC_ENTRIES)
    return index


async def publish_hotlists(clients: KafkaClients, index: HotlistIndex, names: TopicNames) -> None:
    for stats in index.stats():
        entries = list(index.entries(stats.info.list_id))
        await publish_list_async(clients, stats.info, entries, replace=False, topic=names.hotlist_updates)


def decoy_entries(n: int = 300) -> list[HotlistEntry]:
    """A list nobody has loaded whole: plates of the form 9DCY### (no sample list holds them)."""
    return [HotlistEntry("decoys", f"9DCY{i:03d}", "CA") for i in range(n)]


POISON: tuple[bytes, ...] = (
    b"[" * 100_000 + b"]" * 100_000,  # nesting that overflows a recursive decoder
    b'{"read_id": "\xff\xfe", "plate": "\x00"}',  # invalid UTF-8, NUL
    b'{"read_id": 1e999999, "plate": "' + b"9" * 5000 + b'"}',  # a huge number, a huge plate
    b'{"read_id": "x", "read_id": "y", "plate": ["7ABC123"]}',  # duplicate keys, a wrong type
)


@dataclass
class Workload:
    """Reads produced at `rate` per second, in steps; `produce` may be called again after a pause."""

    index: HotlistIndex
    registry: Any
    names: TopicNames
    rate: int
    hit_rate: float = 0.1
    poison_rate: float = 0.0
    decoys: bool = False
    seed: int = 5
    sent: int = 0
    failed: int = 0
    feed: CameraFeed = field(init=False)

    def __post_init__(self) -> None:
        self.feed = CameraFeed(self.index, self.registry, FeedSettings(hit_rate=self.hit_rate, seed=self.seed))
        if self.decoys:
            self.feed.hot.extend(decoy_entries() * max(1, len(self.feed.hot) // 3000))
        self.rng = np.random.default_rng(self.seed + 1)

    def _messages(self, n: int) -> list[tuple[bytes, bytes]]:
        out = self.feed.batch(n)
        if self.poison_rate:
            for i in np.flatnonzero(self.rng.random(n) < self.poison_rate).tolist():
                key, value = out[i]
                kind = int(self.rng.integers(len(POISON) + 1))
                out[i] = (key, POISON[kind] if kind < len(POISON) else value[: len(value) // 2])
        return out

    async def produce(self, clients: KafkaClients, seconds: float) -> None:
        """`rate` reads per second for `seconds`, each to its camera's agency topic; sends that fail
        (every broker down) are counted, not retried by hand: the checker reads back what arrived."""
        producer = await clients.start(
            clients.producer(acks="all", enable_idempotence=True, linger_ms=5, request_timeout_ms=30_000)
        )
        pending: list[asyncio.Future[Any]] = []
        started = time.monotonic()
        done = 0
        try:
            while (elapsed := time.monotonic() - started) < seconds:
                due = int(min(elapsed + 0.02, seconds) * self.rate) - done
                for key, value in self._messages(max(0, due)):
                    topic = self.names.reads_for(agency_of_camera(key))
                    try:
                        pending.append(await producer.send(topic, value, key=key))
                    except KafkaError:  # every broker down: the producer's buffer times out
                        self.failed += 1
                    done += 1
                await asyncio.sleep(0.02)
            results = await asyncio.gather(*pending, return_exceptions=True)
            self.failed += sum(isinstance(r, BaseException) for r in results)
            self.sent += done
        finally:
            await producer.stop()


def decode_alert(value: bytes) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(value)
    return doc
