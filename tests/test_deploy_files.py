"""Deployment files: the compose file is well formed and wires what the worker needs."""

from __future__ import annotations

from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def test_compose_file_wires_kafka_topics_worker_and_prometheus() -> None:
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = doc["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert services["topics"]["command"] == ["platewatch", "topics", "create"]
    worker = services["worker"]
    assert worker["environment"]["PLATEWATCH_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert worker["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    for volume in services["prometheus"]["volumes"]:
        assert (DEPLOY / volume.split(":")[0]).exists(), volume
    assert (DEPLOY / "Dockerfile").exists()


def test_prometheus_scrapes_the_worker_port() -> None:
    doc = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = doc["scrape_configs"][0]["static_configs"][0]["targets"]
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert targets == [f"worker:{compose['services']['worker']['environment']['PLATEWATCH_WEB_PORT']}"]
