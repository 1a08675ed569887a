"""The chaos suite: its checker on hand-made outputs, and its short version on a real three-node cluster
(worker SIGKILL, a zombie worker and poison pills exactly once; worker SIGKILL at least once), so the suite
runs on every change and cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.checker import Expected, Found, compare, complete, timing
from chaos.run import verdict

ROOT = Path(__file__).resolve().parent.parent


def test_the_checker_counts_lost_duplicated_and_unexpected_records() -> None:
    expected = Expected(ids={"alerts": {"a", "b", "c"}, "audits": {"x"}, "dead_letters": set()},
                        read_time_ms={"r1": 1000, "r2": 5000})  # fmt: skip
    found = Found(ids={"alerts": ["a", "a", "a", "b", "z"], "audits": ["x"], "dead_letters": []},
                  alert_times=[(2000, "r1"), (9000, "r2")])  # fmt: skip
    counts = compare(expected, found)
    assert counts["alerts"] == {"expected": 3, "found": 5, "lost": 1, "duplicated": 2, "unexpected": 1}
    assert counts["audits"] == {"expected": 1, "found": 1, "lost": 0, "duplicated": 0, "unexpected": 0}
    assert not complete(expected, found)
    t = timing(expected, found, fault_ms=4000, end_ms=10_000)
    assert t["longest_gap_s"] == 5.0  # from the fault (4 s) to the next alert (9 s); then 1 s to the end
    assert t["max_read_to_alert_s"] == 4.0  # r2, read at 5 s, alerted at 9 s (r1 was read before the fault)
    result = {"guarantee": "exactly_once", "counts": counts, "target_s": 3.0, "notes": {}, **t}
    assert verdict(result) == [
        "1 alerts lost", "2 alerts duplicated, 1 unexpected", "a read waited 4.0s for its alert (target 3s)",
    ]  # fmt: skip
    # at least once: duplicates are reported, not failed; a loss still fails
    assert verdict({**result, "guarantee": "at_least_once"}) == ["1 alerts lost"]


@pytest.mark.kafka
def test_short_chaos_run_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chaos.run", "--short", "--results", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    runs = json.loads((tmp_path / "chaos.json").read_text())["runs"]
    assert {(r["scenario"], r["guarantee"]) for r in runs} == {
        ("worker_kill", "exactly_once"), ("worker_zombie", "exactly_once"), ("poison_pills", "exactly_once"),
        ("worker_kill", "at_least_once"),
    }  # fmt: skip
    for r in runs:
        assert r["complete"] and r["failures"] == []
        assert r["counts"]["alerts"]["expected"] > 100 and r["counts"]["audits"]["expected"] > 100
        for c in r["counts"].values():
            assert c["lost"] == c["unexpected"] == 0
            if r["guarantee"] == "exactly_once":  # at least once may send an alert again (same id)
                assert c["duplicated"] == 0
        assert (tmp_path / f"{r['scenario']}-{r['guarantee']}.png").stat().st_size > 1000
    poison = next(r for r in runs if r["scenario"] == "poison_pills")
    assert poison["counts"]["dead_letters"]["expected"] > 0
    for killed in (r for r in runs if r["scenario"] == "worker_kill"):
        assert killed["worker_exit_codes"]["w1"] == -9 and killed["worker_exit_codes"]["w2"] == 0
