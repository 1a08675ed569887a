"""The embedded default hotlists: a synthetic NCIC extract, an AMBER list and a local BOLO file."""

from __future__ import annotations

from pathlib import Path

from streams.hotlists.index import HotlistIndex
from streams.hotlists.loaders import LoadReport, read_csv
from streams.hotlists.model import FOREVER, HotlistEntry, HotlistInfo, StateMatch, Vehicle
from streams.sim.synthetic import synthetic_hotlist

DATA = Path(__file__).resolve().parent.parent / "data"

AMBER = HotlistInfo("amber", "AMBER alerts", owner_ori="CACHP0000", priority=0, ocr_tolerance=2, category="amber_alert")
BOLO = HotlistInfo("sd-bolo", "San Diego BOLO", owner_ori="CA0373700", priority=30, state_match=StateMatch.FLAG)
NCIC = HotlistInfo("ncic", "NCIC extract", owner_ori="", priority=20)


def load_sample_hotlists(index: HotlistIndex, ncic_entries: int = 200_000, seed: int = 7) -> None:
    index.define_list(NCIC)
    synthetic_hotlist(index, ncic_entries, seed=seed, list_id="ncic", owner_ori="CA0190000")
    index.define_list(AMBER)
    index.upsert(
        HotlistEntry(
            "amber",
            "7XYZ123",
            "CA",
            category="amber_alert",
            case_number="AMBER-26-0031",
            expiry=FOREVER,
            vehicle=Vehicle("2019", "TOYT", "CAM", "4D", "SIL"),
            note="Child abducted from Riverside; suspect adult male",
        )
    )
    index.define_list(BOLO)
    index.load_entries(read_csv((DATA / "local-bolo.csv").read_bytes(), BOLO.list_id, LoadReport()))
