"""Prometheus alert rules and the worker's metrics, scraped after a real batch.

promtool checks the rules and runs their unit tests. The metric checks run against the exposition a
worker serves: `PipelineMetrics` on a fresh registry, driven by a batch the core pipeline processed
(exact, equivalent and candidate hits, allowed and denied shares, dead letters), parsed back with
prometheus_client's own exposition parser.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import orjson
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from streams.hotlists.index import HotlistIndex
from streams.hotlists.model import HotlistEntry, HotlistInfo
from streams.ops.audit_metrics import AuditSinkMetrics
from streams.ops.metrics import PipelineMetrics
from streams.pipeline.batch import Pipeline, SimulatedRecord
from streams.pipeline.outputs import BatchResult
from streams.pipeline.topics import TopicNames
from streams.policy.jurisdiction_filter import SharingPolicy
from streams.policy.store import PolicyStore

RULES = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"

LAPD, SDPD, UNKNOWN = "CA0194200", "CA0373700", "ZZ0000000"
NOW_MS = 1_800_000_000_000
PLATE_LIKE_LABELS = {"plate", "plates", "plate_number", "plate_no", "license", "licence", "registration", "vrm", "tag"}
SUFFIX_TYPES = {"_bucket": "histogram", "_count": "histogram", "_sum": "histogram", "_total": "counter"}


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: `make test` installs it (Debian package prometheus)"
    return path


def test_rules_are_valid_and_their_unit_tests_pass() -> None:
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]):
        done = subprocess.run([promtool(), *args], cwd=RULES, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


# ---- a worker's scrape after one real batch ----------------------------------------------------


def read(read_id: str, plate: str, agency: str = LAPD, candidates: Iterable[str] = ()) -> bytes:
    doc: dict[str, object] = {
        "read_id": read_id,
        "time": "2026-11-27T10:00:00Z",
        "camera_id": "c1",
        "agency_ori": agency,
        "plate": plate,
        "state": "CA",
    }
    if candidates:
        doc["candidates"] = [{"plate": c, "confidence": 0.4} for c in candidates]
    return orjson.dumps(doc)


@dataclass(frozen=True)
class Scrape:
    families: dict[str, Metric]  # by family name, as parsed back from the exposition text
    batch: BatchResult
    plates: frozenset[str]  # every plate the batch saw: read, candidate, listed and matched


@cache
def scrape() -> Scrape:
    index = HotlistIndex()
    index.define_list(HotlistInfo("bolo", "BOLO", owner_ori=SDPD))
    index.define_list(HotlistInfo("ncic", "NCIC extract", category="stolen_vehicle"))
    listed = [
        HotlistEntry("bolo", "7SDQ551", "CA"),
        HotlistEntry("ncic", "8OB5", "CA"),
        HotlistEntry("ncic", "4XYZ789"),
    ]
    for entry in listed:
        index.upsert(entry)
    policy = PolicyStore().current
    assert isinstance(policy, SharingPolicy)
    pipeline = Pipeline(index, lambda: policy, TopicNames(), clock=lambda: NOW_MS / 1000)
    good = [
        read("r1", "7SDQ551"),  # exact: LAPD, SDPD (owner) allowed; ICE denied by SB 34
        read("r2", "80B5"),  # equivalent (O/0) on ncic: its subscribers, some denied
        read("r3", "ZZZ999", candidates=["4XYZ789"]),  # a hit on an OCR candidate only
        read("r4", "7SDQ551", agency=UNKNOWN),  # unknown reading agency: denied, fail closed
        read("r5", "NOHIT12"),  # no hit
    ]
    deep = b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}"  # raises inside the decoder: internal_error
    bad = [b'{"read_id": "x"', read("r6", "АВС123"), b'{"read_id": "r7"}', deep]
    records = [
        SimulatedRecord(value, b"cam", "plate-reads", i % 3, i, NOW_MS - 250) for i, value in enumerate(good + bad)
    ]
    batch = pipeline.process(records)

    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry)
    metrics.observe_batch(batch, 0.012, NOW_MS)
    for stats in index.stats():
        metrics.hotlist_entries.labels(stats.info.list_id).set(stats.entries)
    metrics.hotlist_updates.inc(len(listed))
    metrics.hotlist_rejected.inc(1)
    metrics.replica_ready.set(1)
    for partition, lag in enumerate((0, 12, 40_000)):
        metrics.lag.labels(str(partition)).set(lag)
    metrics.set_policy(policy.version)
    metrics.policy_refused.inc()
    metrics.transaction_aborts.labels("WEDGED").inc()

    families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    plates = {"7SDQ551", "80B5", "ZZZ999", "4XYZ789", "NOHIT12", "АВС123"}
    plates |= {e.plate for e in index.entries()} | {e.plate for e in listed}
    plates |= {hit.matched_plate for _, hit in batch.hits} | {r.plate for r, _ in batch.hits}
    plates |= {c.plate for r, _ in batch.hits for c in r.candidates}
    return Scrape(families, batch, frozenset(plates))


def test_the_batch_really_exercised_the_pipeline() -> None:
    """The scrape below is only worth checking if the batch produced every kind of outcome."""
    batch = scrape().batch
    assert {kind for _, kind in batch.matches} == {"exact", "equivalent"}
    assert {list_id for list_id, _ in batch.matches} == {"bolo", "ncic"}
    assert batch.emitted and batch.denied["unknown_reading_agency"] >= 1 and len(batch.denied) >= 2
    assert set(batch.dlq_reasons) >= {"not_json", "plate_non_ascii", "missing_field", "internal_error"}
    assert any(r.read_id == "r3" for r, _ in batch.hits)  # the candidate-only hit


def test_every_family_has_samples_and_labelled_families_have_labelled_samples() -> None:
    families = scrape().families
    assert len(families) >= 16, sorted(families)
    assert all(name.startswith("platewatch_") for name in families), sorted(families)
    empty = [name for name, f in families.items() if not f.samples]
    assert not empty, f"families with no samples: {empty}"
    assert sum(len(f.samples) for f in families.values()) >= 80
    labelled = {
        "platewatch_matches": {"list", "kind"},
        "platewatch_alerts_emitted": {"recipient"},
        "platewatch_share_decisions": {"decision"},
        "platewatch_shares_denied": {"reason"},
        "platewatch_dead_letters": {"reason"},
        "platewatch_read_to_alert_latency_seconds": {"clock"},
        "platewatch_hotlist_entries": {"list"},
        "platewatch_consumer_lag_messages": {"partition"},
        "platewatch_policy_info": {"version"},  # an Info: exposed as a gauge
    }
    for name, labels in labelled.items():
        assert name in families, name
        samples = families[name].samples
        assert len(samples) >= 2 or name == "platewatch_policy_info", (name, samples)
        assert all(labels <= set(s.labels) for s in samples), (name, samples)
    matches = families["platewatch_matches"].samples
    assert {(s.labels["list"], s.labels["kind"]) for s in matches} >= {("bolo", "exact"), ("ncic", "equivalent")}
    dead = {s.labels["reason"]: s.value for s in families["platewatch_dead_letters"].samples}
    assert dead == {"not_json": 1, "plate_non_ascii": 1, "missing_field": 1, "internal_error": 1}
    recipients = {s.labels["recipient"] for s in families["platewatch_alerts_emitted"].samples}
    assert {LAPD, SDPD} <= recipients
    assert "unknown_reading_agency" in {s.labels["reason"] for s in families["platewatch_shares_denied"].samples}
    clocks = {s.labels["clock"] for s in families["platewatch_read_to_alert_latency_seconds"].samples}
    assert clocks == {"read_time", "broker_append"}


def squash(text: str) -> str:
    """A plate or label value compared as plates are: upper case, letters and digits only."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def test_no_metric_is_labelled_by_plate() -> None:
    s = scrape()
    plates = {squash(p) for p in s.plates}
    assert {"7SDQ551", "80B5", "8OB5", "4XYZ789", "ZZZ999"} <= plates
    checked = 0
    for family in s.families.values():
        for sample in family.samples:
            for name, value in sample.labels.items():
                assert name.lower() not in PLATE_LIKE_LABELS and "plate" not in name.lower(), (sample.name, name)
                assert squash(value) not in plates, f"{sample.name} has a plate as its {name} label: {value}"
                checked += 1
    assert checked >= 80


def test_metric_names_are_in_base_units() -> None:
    for family in scrape().families.values():
        if family.type == "histogram" and "latency" in family.name:
            assert family.name.endswith("_seconds"), family.name


# ---- the audit sink's scrape after real batches -------------------------------------------------


@cache
def sink_scrape() -> dict[str, Metric]:
    """`AuditSinkMetrics` after the sink's own steps on real records: pipeline outputs (and a record that
    is not what its topic says) parsed, written twice to a migrated SQLite store (the second time all
    duplicates), a failed store, a failed commit, lag per partition."""
    from streams.audit.records import rows_of  # noqa: PLC0415 (only these tests need the audit store)
    from streams.audit.store import AuditStore, migrate  # noqa: PLC0415
    from tests.harness.audit_records import consumed, pipeline_outputs  # noqa: PLC0415

    outputs = pipeline_outputs(300)
    records = consumed(outputs.all())
    records.append(SimulatedRecord(b"not json", None, "share-audit", 0, 10_000, NOW_MS))
    registry = CollectorRegistry()
    metrics = AuditSinkMetrics(registry)
    with tempfile.TemporaryDirectory() as tmp:
        store = AuditStore.open(f"sqlite:///{tmp}/audit.db")
        try:
            migrate(store.engine)
            for _ in range(2):
                rows = rows_of(records, TopicNames())
                written = store.write(rows)
                unreadable = Counter(row["kind"] for row in rows.unreadable)
                metrics.observe_batch(len(records), written.stored, written.duplicates, unreadable, 0.02, NOW_MS / 1000)
        finally:
            store.close()
    metrics.store_failures.inc()
    metrics.commit_failures.inc()
    for partition, lag in enumerate((0, 120, 7)):
        metrics.lag.labels(f"share-audit/{partition}").set(lag)
    metrics.ready.set(1)
    return {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}


def test_the_sink_exports_every_family_with_bounded_labels() -> None:
    families = sink_scrape()
    assert all(name.startswith("platewatch_audit_sink_") for name in families), sorted(families)
    assert not [name for name, f in families.items() if not f.samples]
    stored = {s.labels["table"]: s.value for s in families["platewatch_audit_sink_rows_stored"].samples}
    duplicate = {s.labels["table"]: s.value for s in families["platewatch_audit_sink_rows_duplicate"].samples}
    assert stored.keys() == duplicate.keys() >= {"share_decisions", "alert_deliveries", "batch_counts"}
    assert stored["share_decisions"] == duplicate["share_decisions"] > 0  # the second write stored nothing
    unreadable = families["platewatch_audit_sink_records_unreadable"].samples
    assert [(s.labels["kind"], s.value) for s in unreadable] == [("decision", 2)]
    plates = {squash(p) for p in scrape().plates}
    for family in families.values():
        for sample in family.samples:
            for name, value in sample.labels.items():
                assert "plate" not in name.lower() and squash(value) not in plates, (sample.name, name, value)


def rule_expressions() -> list[str]:
    doc = yaml.safe_load((RULES / "alerts.yml").read_text())
    return [rule["expr"] for group in doc["groups"] for rule in group["rules"]]


def used_metric(name: str, families: dict[str, Metric]) -> Metric | None:
    """The family a series name in a rule belongs to, if the worker exports it with that suffix."""
    if name in families and families[name].type in ("gauge", "untyped"):
        return families[name]
    for suffix, kind in SUFFIX_TYPES.items():
        base = name.removesuffix(suffix)
        if base != name and base in families and families[base].type == kind:
            return families[base]
    return None


def test_every_metric_the_rules_use_is_exported() -> None:
    """Worker metrics against a worker's scrape (`PipelineMetrics`), the sink's (`platewatch_audit_sink_*`)
    against the sink's (`AuditSinkMetrics`)."""
    worker, sink = scrape().families, sink_scrape()
    used: set[str] = set()
    for expr in rule_expressions():
        for name, selector in re.findall(r"\b(platewatch_[a-z_]+)(\{[^}]*\})?", expr):
            used.add(name)
            exporter, families = ("the audit sink", sink) if name.startswith("platewatch_audit_sink_") else (
                "the worker", worker)  # fmt: skip
            family = used_metric(name, families)
            assert family is not None, f"the rules use {name}, which {exporter} does not export"
            series = [s for s in family.samples if s.name == name]
            assert series, f"{name}: the worker exports {family.name} but no {name} series"
            # label matchers: the label must exist; an exact value must be one the worker produces
            for label, op, value in re.findall(r'(\w+)\s*(=~|!=|!~|=)\s*"([^"]*)"', selector):
                assert all(label in s.labels for s in series), f"{name} has no label {label}"
                if op == "=":
                    assert value in {s.labels[label] for s in series}, f'{name}{{{label}="{value}"}}: no such series'
    assert len(used) >= 7, used
    assert {n for n in used if n.startswith("platewatch_audit_sink_")} >= {
        "platewatch_audit_sink_ready", "platewatch_audit_sink_store_failures_total",
        "platewatch_audit_sink_consumer_lag_messages", "platewatch_audit_sink_records_unreadable_total",
    }  # fmt: skip
