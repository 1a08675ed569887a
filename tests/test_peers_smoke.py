"""The peers of the throughput benchmark run end to end at a small size and check their outputs, so they
cannot rot.

The peers that run from .venv alone always run. The Quix peer runs only when its virtualenv is already
made (benchmarks/peers/setup_venvs.sh; the smoke run never installs it), and the JVM peer only when
Java and Kafka's jars (the broker's and the tools jar) are in place; otherwise the run names them as
left out, with the reason.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from benchmarks.peers.run import COMMITTING, PEERS, PRODUCING, Inputs, verify

ROOT = Path(__file__).resolve().parent.parent
ALWAYS = {"confluent-batch", "raw-aiokafka", "raw-librdkafka", "faust-take"}


@pytest.mark.kafka
def test_smoke_run_measures_every_peer_in_one_window_and_checks_its_outputs(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    out = tmp_path / "peers.json"
    command = [sys.executable, "-m", "benchmarks.peers.run", "--smoke", "--bootstrap", kafka_bootstrap]
    done = subprocess.run(
        [*command, "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = orjson.loads(out.read_bytes())
    assert result["outputs_verified"] and result["problems"] == []
    parameters = result["parameters"]
    ran = {r["peer"] for r in result["runs"]}
    assert ran >= ALWAYS
    assert ran | set(parameters["left_out"]) == set(PEERS)  # every other peer ran, or says why it did not
    assert all(reason for reason in parameters["left_out"].values())
    expected = parameters["expected_hits"]
    assert expected > 0
    for run in result["runs"]:
        assert run["reads"] == 20_000 and 0 < run["timed_reads"] <= run["reads"]
        assert run["reads_per_s"] > 0 and run["reads_per_s_delivered"] > 0 and run["cpu_s_per_100k"] > 0
        assert run["seconds"] <= run["seconds_delivered"]
        assert run["cpu_s_process"] > 0 and run["max_rss_mb"] > 0
        if run["peer"] in PRODUCING:  # every expected hit became one acknowledged alert on the topic
            assert run["hits"] == run["alerts_acked"] == run["alerts_on_topic"] == expected
            assert run["alerts_sha256"] == parameters["expected_hits_sha256"]
        if run["peer"] in COMMITTING:
            assert run["committed"] == 20_000
    assert "| confluent-batch |" in done.stdout and "outputs verified" in done.stdout


def test_a_peer_whose_outputs_are_wrong_is_named() -> None:
    inputs = Inputs("t", 1000, Path("hotlist.txt"), 10, ("a", "b", "c"), 280.0)
    right = {"peer": "confluent-batch", "reads": 1000, "hits": 3, "alerts_acked": 3, "alerts_on_topic": 3,
             "alerts_sha256": inputs.digest, "committed": 1000}  # fmt: skip
    assert verify(right, inputs) == []
    for wrong in ({"alerts_on_topic": 4}, {"alerts_sha256": "0" * 64}, {"reads": 999}, {"committed": 900}):
        assert verify({**right, **wrong}, inputs), wrong
    assert verify({"peer": "raw-aiokafka", "reads": 999}, inputs) == ["raw-aiokafka: consumed 999 reads, not 1,000"]
