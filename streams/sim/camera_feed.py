"""A simulated camera network: realistic plate reads at a chosen hit rate, for the demo and load tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import orjson

from streams.hotlists.index import HotlistIndex
from streams.hotlists.model import HotlistEntry
from streams.pipeline.alert_builder import iso_ms
from streams.policy.agencies import AgencyRegistry, Kind, Level
from streams.sim.synthetic import STATES, plates_from_digits, random_plate_codes

# rough centres of the areas the sample agencies patrol
_CENTRES = {"CA": (34.05, -118.24), "VA": (38.85, -77.30), "AZ": (33.45, -112.07), "MD": (39.15, -77.20)}


@dataclass(frozen=True)
class FeedSettings:
    hit_rate: float = 0.01  # share of reads whose plate is on a hotlist
    misread_rate: float = 0.25  # share of those hits read with one look-alike character swapped
    wrong_state_rate: float = 0.1  # share of hits read with another state
    bad_rate: float = 0.0  # share of malformed messages (demonstrates the dead-letter topic)
    seed: int = 1


class CameraFeed:
    def __init__(
        self,
        index: HotlistIndex,
        registry: AgencyRegistry,
        settings: FeedSettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or FeedSettings()
        self.rng = np.random.default_rng(self.settings.seed)
        self.clock = clock
        self.ocr = index.ocr
        self.readers = [
            a
            for a in registry
            if a.kind is Kind.LAW_ENFORCEMENT and a.level is not Level.FEDERAL and a.state in _CENTRES
        ]
        if not self.readers:
            raise ValueError("the registry has no local or state law-enforcement agency to own cameras")
        self.hot: list[HotlistEntry] = index.sample(5000, self.rng)
        # small lists (an AMBER alert, a local BOLO) would almost never be drawn from a sample of a
        # big extract: weight them to about 30% of the planted hits, as a demo wants to show them
        small = [e for st in index.stats() if 0 < st.entries <= 50 for e in index.entries(st.info.list_id)]
        if small and self.hot:
            self.hot.extend(small * max(1, int(0.43 * len(self.hot) / len(small))))
        self.sequence = 0

    def batch(self, n: int) -> list[tuple[bytes, bytes]]:
        """`n` (key, value) messages as camera gateways would produce them."""
        s = self.settings
        rng = self.rng
        digits, _ = random_plate_codes(n, rng)
        plates = plates_from_digits(digits)
        states = rng.choice(STATES, n)
        hits = rng.random(n) < s.hit_rate if self.hot else np.zeros(n, np.bool_)
        now_ms = int(self.clock() * 1000)
        out = []
        for i in range(n):
            self.sequence += 1
            reader = self.readers[int(rng.integers(len(self.readers)))]
            plate, state = plates[i], str(states[i])
            if hits[i]:
                entry = self.hot[int(rng.integers(len(self.hot)))]
                plate, state = entry.plate, entry.state or reader.state
                if rng.random() < s.misread_rate:
                    plate = self._misread(plate)
                if rng.random() < s.wrong_state_rate:
                    state = "NV" if state != "NV" else "AZ"
            camera = f"{reader.ori}-cam{int(rng.integers(1, 40)):02d}"
            lat, lon = _CENTRES[reader.state]
            doc = {
                "read_id": str(uuid.UUID(int=int(rng.integers(2**62)) << 64 | self.sequence)),
                "time": iso_ms(now_ms),
                "camera_id": camera,
                "agency_ori": reader.ori,
                "plate": plate,
                "state": state,
                "confidence": round(float(rng.uniform(0.6, 0.99)), 2),
                "location": {
                    "lat": round(lat + float(rng.normal(0, 0.1)), 5),
                    "lon": round(lon + float(rng.normal(0, 0.1)), 5),
                },
                "image_ref": f"img://{camera}/{self.sequence}.jpg",
            }
            value = orjson.dumps(doc)
            if s.bad_rate and rng.random() < s.bad_rate:
                value = self._corrupt(doc, value)
            out.append((camera.encode(), value))
        return out

    def _misread(self, plate: str) -> str:
        spots = [i for i, ch in enumerate(plate) if ch in self.ocr.members]
        if not spots:
            return plate
        i = spots[int(self.rng.integers(len(spots)))]
        options = [c for c in self.ocr.members[plate[i]] if c != plate[i]]
        return plate[:i] + options[int(self.rng.integers(len(options)))] + plate[i + 1 :]

    def _corrupt(self, doc: dict[str, object], value: bytes) -> bytes:
        kind = int(self.rng.integers(4))
        if kind == 0:
            return value[: len(value) // 2]  # truncated JSON
        if kind == 1:
            return orjson.dumps({k: v for k, v in doc.items() if k != "agency_ori"})
        if kind == 2:
            return orjson.dumps({**doc, "plate": "7ΑBC123"})  # a Greek Alpha
        return orjson.dumps({**doc, "time": "yesterday"})


def agency_of_camera(key: bytes) -> str:
    """The agency whose gateway sends a simulated camera's reads (camera ids are `<ORI>-camNN`)."""
    return key.split(b"-", 1)[0].decode()
