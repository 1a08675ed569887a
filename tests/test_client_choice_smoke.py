"""The client-choice benchmark runs end to end at a small size and checks its outputs, so it cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from benchmarks.client_choice import ALL_VARIANTS

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parent.parent


def test_smoke_run_consumes_everything_and_both_clients_produce_the_same_outputs(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    out = tmp_path / "client_choice.json"
    command = [sys.executable, "-m", "benchmarks.client_choice", "--smoke", "--bootstrap", kafka_bootstrap]
    done = subprocess.run(
        [*command, "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = orjson.loads(out.read_bytes())
    assert result["outputs_verified"] and result["problems"] == []
    assert {r["variant"] for r in result["runs"]} == set(ALL_VARIANTS)
    for run in result["runs"]:
        assert run["reads"] == 20_000
        assert run["reads_per_s"] > 0 and run["cpu_s_per_100k"] > 0
    pipelines = [r for r in result["runs"] if r["variant"].endswith("pipeline")]
    assert len(pipelines) == 2
    aio, rd = pipelines
    # the same alerts from either client, every one acknowledged and on the alert topics
    assert aio["returned"] == rd["returned"] and aio["returned"]["alerts"] > 0
    assert aio["alert_ids_sha256"] == rd["alert_ids_sha256"]
    for run in pipelines:
        assert run["acknowledged"]["alerts"] == run["on_topics"]["alerts"] == run["returned"]["alerts"]
        assert run["on_topics"]["audits"] == run["returned"]["audits"]
    assert rd["adapter"]["adapted_ns_per_read"] > 0
