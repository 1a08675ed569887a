"""The benchmark path runs end to end at small sizes and writes well-formed results, so it cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from benchmarks.report import compare
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
    assert load["baseline_raw_consume"]["reads_per_s"] > 0 and load["baseline_naive_faust"]["reads_per_s"] > 0
    assert load["hotlist"]["replica_entries"] >= 20_000
    latency = load["fixed_rate"]["latency_ms"]
    assert load["fixed_rate"]["alerts_received"] > 0
    assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
    for name in ("latency.png", "throughput.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (tmp_path / "summary.md").read_text()
    assert "## On the broker" in summary and "read→alert latency" in summary
    # each guarantee measured on the same reads, and what exactly once costs
    eos = load["exactly_once"]
    assert eos["guarantee"] == "exactly_once" and eos["pipeline_saturation"]["reads"] > 0
    assert eos["fixed_rate"]["alerts_received"] > 0
    assert load["exactly_once_over_at_least_once"]["saturation_reads_per_s"] > 0
    assert "exactly once (the default" in summary
    baseline = ROOT / "benchmarks" / "baseline.json"
    assert baseline.exists(), "commit a baseline: python -m benchmarks.run --save-baseline"
    rows = compare(result, orjson.loads(baseline.read_bytes()))
    assert {row["figure"] for row in rows} >= {"pipeline / raw consume", "policy cached / uncached"}


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
