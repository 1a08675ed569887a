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


def test_compose_runs_the_audit_sink_as_the_insert_only_role_after_migrating_as_the_owner() -> None:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    owner, sink = services["audit-migrate"], services["audit-sink"]
    assert owner["command"] == ["platewatch", "audit", "migrate"]
    assert sink["command"] == ["platewatch", "audit", "sink"]
    assert sink["depends_on"]["audit-migrate"]["condition"] == "service_completed_successfully"
    assert sink["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert owner["depends_on"]["postgres"]["condition"] == "service_healthy"
    sink_user = sink["environment"]["PLATEWATCH_AUDIT_DB_URL"].split("//")[1].split("@")[0]
    owner_user = owner["environment"]["PLATEWATCH_AUDIT_DB_URL"].split("//")[1].split("@")[0]
    assert owner_user == services["postgres"]["environment"]["POSTGRES_USER"] != sink_user
    init = next(v.split(":")[0] for v in services["postgres"]["volumes"] if "initdb" in v)
    sql = (DEPLOY / init).read_text()
    assert f"CREATE ROLE {sink_user} LOGIN" in sql and "IN ROLE platewatch_audit_sink" in sql
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {c["job_name"]: c["static_configs"][0]["targets"] for c in prometheus["scrape_configs"]}
    assert jobs["platewatch-audit-sink"] == [f"audit-sink:{sink['environment']['PLATEWATCH_WEB_PORT']}"]
