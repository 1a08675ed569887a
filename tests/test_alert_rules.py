"""Prometheus alert rules: promtool checks and unit-tests them, and every metric they use exists."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from streams.ops.metrics import PipelineMetrics
from streams.pipeline.batch import BatchResult

RULES = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: `make test` installs it (Debian package prometheus)"
    return path


def test_rules_are_valid_and_their_unit_tests_pass() -> None:
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]):
        done = subprocess.run([promtool(), *args], cwd=RULES, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_metric_the_rules_use_is_exported() -> None:
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry)
    batch = BatchResult(reads=1)
    batch.dlq_reasons["not_json"] += 1
    batch.denied["unknown_recipient"] += 1
    metrics.observe_batch(batch, 0.01, 0)
    metrics.lag.labels("0").set(0)
    exported = set(re.findall(r"^(platewatch_\w+?)(?:\{| )", generate_latest(registry).decode(), re.M))
    exported |= {re.sub(r"_(bucket|sum|count)$", "", name) for name in exported}
    used = set(re.findall(r"platewatch_\w+", (RULES / "alerts.yml").read_text()))
    used -= {"platewatch"}  # the job label
    assert used <= exported | {n + "_bucket" for n in exported}, used - exported


def test_metric_names_are_in_base_units_and_never_labelled_by_plate() -> None:
    registry = CollectorRegistry()
    PipelineMetrics(registry)
    for family in registry.collect():
        assert "plate" not in [label.lower() for s in family.samples for label in s.labels]
        if family.type == "histogram" and "latency" in family.name:
            assert family.name.endswith("_seconds"), family.name
