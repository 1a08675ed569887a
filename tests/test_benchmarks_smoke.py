"""The benchmark path runs end to end at small sizes and writes well-formed results, so it cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from benchmarks.load import alert_latencies
from benchmarks.peers.run import PEERS, PRODUCING
from benchmarks.report import compare, targets
from benchmarks.run import judge

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


def test_smoke_run_writes_results_plots_and_comparison(kafka_bootstrap: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(tmp_path), "--bootstrap", kafka_bootstrap],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = orjson.loads((tmp_path / "result.json").read_bytes())
    for key in ("encode_plates", "batch_match", "policy_decision", "read_decode"):
        figures = result["micro"][key]
        assert figures["subject"]["rate_per_s"] > 0 and figures["baseline"]["rate_per_s"] > 0
        assert figures["subject"]["p25_s"] <= figures["subject"]["median_s"] <= figures["subject"]["p75_s"]
    load = result["load"]
    assert load["pipeline_saturation"]["reads"] > 0
    # the peers read the worker's own topic, and every system's output was checked
    assert load["outputs_verified"] and load["problems"] == []
    peers = load["peers"]
    assert set(peers["summary"]) >= {"confluent-batch", "raw-aiokafka", "raw-librdkafka", "faust-take"}
    assert all(reason for reason in peers["left_out"].values())
    assert set(peers["summary"]) | set(peers["left_out"]) == set(PEERS)
    assert {r["peer"] for r in peers["runs"] if r["peer"] in PRODUCING} and peers["expected_exact_hits"] > 0
    assert load["ratios"]["to_confluent_batch"] > 0 and load["ratios"]["to_raw_aiokafka"] > 0
    assert load["hotlist"]["replica_entries"] >= 20_000
    latency = load["fixed_rate"]["latency_ms"]
    assert load["fixed_rate"]["alerts_received"] > 0
    assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
    # measured from each read's broker append time, and from its own time (set before it was sent)
    assert load["fixed_rate"]["clock"] == "broker append time of the read"
    from_read_time = load["fixed_rate"]["from_read_time"]["latency_ms"]
    assert 0 < from_read_time["p50"] <= from_read_time["p99"] <= from_read_time["max"]
    for name in ("latency.png", "throughput.png", "systems.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (tmp_path / "summary.md").read_text()
    assert "## On the broker" in summary and "read→alert latency" in summary
    assert "## Targets" in summary and "| confluent-batch |" in summary and "outputs verified" in summary
    assert "## Targets" in done.stdout  # printed, not only written
    # each guarantee measured on the same reads, and what exactly once costs
    eos = load["exactly_once"]
    assert eos["guarantee"] == "exactly_once" and eos["pipeline_saturation"]["reads"] > 0
    assert eos["fixed_rate"]["alerts_received"] > 0
    assert load["exactly_once_over_at_least_once"]["saturation_reads_per_s"] > 0
    assert "exactly once (the default" in summary
    # two workers in one group: timed while both consume, or (smoke sizes: one may take every read
    # first) why not; either way their alerts were checked (outputs_verified above)
    pair = load["two_workers"]
    assert "no window" in pair.get("error", "") or (
        pair["pipeline_saturation"]["reads"] > 0 and pair["over_one_worker"] > 0
    )
    assert not [p for p in load["problems"] if p.startswith("two workers")]
    assert "| two exactly-once workers / one (reported) |" in summary
    baseline = ROOT / "benchmarks" / "baseline.json"
    assert baseline.exists(), "commit a baseline: python -m benchmarks.run --save-baseline"
    rows = compare(result, orjson.loads(baseline.read_bytes()))
    assert {row["figure"] for row in rows} >= {"pipeline / confluent-kafka batch peer", "policy cached / uncached"}


def test_a_regressed_ratio_fails_the_full_run_and_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    rows = compare(
        {"micro": {"policy_decision": {"ratio": 10.0}}, "load": {}},
        {"micro": {"policy_decision": {"ratio": 20.0}}, "load": {}},
    )
    assert [r["figure"] for r in rows if r["regression"]] == ["policy cached / uncached"]
    assert judge(rows, smoke=False) == 1
    assert "policy cached / uncached" in capsys.readouterr().err
    assert judge(rows, smoke=True) == 0  # smoke sizes: computed, not judged
    fine = compare({"micro": {"policy_decision": {"ratio": 18.0}}}, {"micro": {"policy_decision": {"ratio": 20.0}}})
    assert judge(fine, smoke=False) == 0  # within 15%


def test_targets_are_judged_against_their_bounds() -> None:
    load = {"ratios": {"to_confluent_batch": 1.2, "to_quix": 3.0}, "fixed_rate": {"latency_ms": {"p99": 14.0}},
            "worker_rss_bytes": 700e6, "worker_peak_rss_bytes": 1.1e9, "exactly_once": {"worker_rss_bytes": 500e6},
            "sasl_ssl": {"over_at_least_once": 0.7}, "two_workers": {"over_one_worker": 1.4}}  # fmt: skip
    rows = {row["target"]: row["met"] for row in targets(load)}
    assert rows["saturation at least the confluent-kafka batch peer's (ratio)"] is True
    assert rows["saturation at least 4x the Quix Streams peer's (ratio)"] is False
    assert rows["p99 read→alert ms at the fixed rate, at least once"] is True
    assert rows["worker RSS MB, at least once"] is False and rows["worker RSS MB, exactly once"] is True
    assert rows["exactly once over SASL_SSL / at least once, plaintext (within 25%)"] is False
    assert rows["replica catch-up s"] is None  # not in this result: not measured, neither met nor missed
    reported = {row["target"]: row for row in targets(load)}["two exactly-once workers / one (reported)"]
    assert reported["met"] is None and reported["value"] == 1.4  # a figure with no bound: reported
    peak = {row["target"]: row for row in targets(load)}[
        "worker peak RSS MB since its start (its index's load included), at least once (reported)"
    ]
    assert peak["met"] is None and peak["value"] == 1100.0


def test_latencies_count_from_the_append_and_fail_on_what_would_hide_a_tail() -> None:
    appended = {"r1": 1_000, "r2": 2_000}  # ms
    # receipts: read_id receipt_us read_time_us
    from_append, from_read_time = alert_latencies("r1 1005000 999000\nr2 2010000 1999000\n", appended)
    assert from_append.get_max_value() == pytest.approx(10_000, rel=0.01)  # 10 ms after its append
    assert from_read_time.get_max_value() == pytest.approx(11_000, rel=0.01)  # 11 ms after its own time
    with pytest.raises(RuntimeError, match="1 alerts of reads not offered"):
        alert_latencies("r1 1005000 999000\nr9 2010000 1999000\n", appended)
    with pytest.raises(RuntimeError, match="1 latencies negative"):  # arrived before its read was appended
        alert_latencies("r1 999000 998000\n", appended)
    with pytest.raises(RuntimeError, match="over 120 s"):
        alert_latencies("r1 200000000 999000\n", appended)
