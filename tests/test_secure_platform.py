"""Platewatch on the secured broker: identities and ACLs from the registry, and the broker enforcing them.

`acls apply` (as the admin) creates every identity and grant; then each identity is tried for what it
may and may not do, a full run goes through over SASL_SSL, a read that claims another agency than its
topic is dead-lettered, `acls plan` on a matching broker shows nothing, and an agency removed from the
registry loses its topic at the next apply. No password appears in any output, log or metric.
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import yaml
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError

from streams.access.grants import Binding
from streams.errors import AccessDeniedError, BrokerUnavailableError
from streams.hotlists.model import HotlistEntry, HotlistInfo
from streams.kafka.access_admin import BrokerAccess
from streams.kafka.clients import KafkaClients
from streams.kafka.hotlist_publish import publish_list_async
from streams.ops.settings import Settings, build_settings
from streams.pipeline.topics import TopicNames
from streams.policy.store import DEFAULT_POLICY, DEFAULT_REGISTRY
from tests.harness.secure_broker import SecureBroker
from tests.harness.worker_process import WorkerProcess, produce, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
LAPD, SDPD, FAIRFAX = "CA0194200", "CA0373700", "VA0290100"


@dataclass
class Site:
    broker: SecureBroker
    prefix: str
    credentials: Path
    registry: Path
    log_dir: Path

    @property
    def names(self) -> TopicNames:
        return TopicNames.with_prefix(self.prefix)

    def env(self, user: str = "admin") -> dict[str, str]:
        """Settings as a process gets them: the password by file, never by flag."""
        password_file = (
            self.broker.base / "admin.password" if user == "admin" else self.credentials / f"{user}.password"
        )
        return {
            "PLATEWATCH_BOOTSTRAP_SERVERS": self.broker.bootstrap,
            "PLATEWATCH_SECURITY_PROTOCOL": "SASL_SSL",
            "PLATEWATCH_SASL_MECHANISM": "SCRAM-SHA-512",
            "PLATEWATCH_SASL_USERNAME": user,
            "PLATEWATCH_SASL_PASSWORD_FILE": str(password_file),
            "PLATEWATCH_SSL_CAFILE": str(self.broker.ca),
            "PLATEWATCH_TOPIC_PREFIX": self.prefix,
            "PLATEWATCH_GROUP_ID": f"{self.prefix}platewatch-reads",
            "PLATEWATCH_AUDIT_GROUP_ID": f"{self.prefix}platewatch-audit",
            "PLATEWATCH_CREDENTIALS_DIR": str(self.credentials),
            "PLATEWATCH_REGISTRY_FILE": str(self.registry),
            "PLATEWATCH_BROKER_WAIT_SECONDS": "5",
        }

    def settings(self, user: str = "admin") -> Settings:
        env = self.env(user)
        return build_settings({k.removeprefix("PLATEWATCH_").lower(): v for k, v in env.items()})

    def platewatch(self, *args: str, user: str = "admin") -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "streams", *args],
            cwd=ROOT, env={**os.environ, **self.env(user)}, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        with (self.log_dir / "cli.log").open("a") as log:
            log.write(result.stdout + result.stderr)
        return result

    def passwords(self) -> list[str]:
        found = [p.read_text().strip() for p in self.credentials.glob("*.password")]
        return [*found, self.broker.admin_password]


@pytest.fixture(scope="module")
def site(secure_broker: SecureBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("site")
    registry = folder / "agencies.yaml"
    registry.write_text(Path(DEFAULT_REGISTRY).read_text())
    s = Site(secure_broker, "sec.", folder / "credentials", registry, folder)
    applied = s.platewatch("acls", "apply")
    assert applied.returncode == 0, applied.stderr
    created = s.platewatch("topics", "create")
    assert created.returncode == 0, created.stderr
    yield s


def clients(site: Site, user: str) -> KafkaClients:
    return KafkaClients(site.settings(user))


async def can_read(site: Site, user: str, topic: str) -> bool:
    """True when `user` may read `topic` (an empty read counts); False on an authorization error."""
    try:
        await read_topic(site.settings(user), topic, settle=0.3, timeout=5)
        return True
    except (TopicAuthorizationFailedError, AccessDeniedError):
        return False


async def can_write(site: Site, user: str, topic: str) -> bool:
    c = clients(site, user)
    producer = await c.start(c.producer(acks="all", request_timeout_ms=5000, enable_idempotence=False))
    try:
        await producer.send_and_wait(topic, b"probe", key=b"probe")
        return True
    except (TopicAuthorizationFailedError, KafkaError):
        return False
    finally:
        await producer.stop()


def test_credentials_are_stored_privately_and_never_printed(site: Site) -> None:
    files = sorted(site.credentials.glob("*.password"))
    assert {f.stem for f in files} >= {f"sec.{LAPD}", f"sec.ingest-{LAPD}", "sec.platewatch-worker"}
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600


async def test_an_agency_reads_its_own_alerts_and_nothing_else(site: Site) -> None:
    n, agency = site.names, f"sec.{LAPD}"
    assert await can_read(site, agency, n.alerts(LAPD))
    for forbidden in (n.alerts(SDPD), n.reads_for(LAPD), n.share_audit, n.dlq, n.hotlist_updates):
        assert not await can_read(site, agency, forbidden), forbidden
    for anywhere in (n.alerts(LAPD), n.reads_for(LAPD), n.share_audit, n.hotlist_updates, n.access_log_for(SDPD)):
        assert not await can_write(site, agency, anywhere), anywhere
    assert await can_write(site, agency, n.access_log_for(LAPD))  # its own record of access only


async def test_a_gateway_writes_its_agencys_topic_only_and_a_publisher_hotlists_only(site: Site) -> None:
    n, gateway = site.names, f"sec.ingest-{LAPD}"
    assert await can_write(site, gateway, n.reads_for(LAPD))
    assert not await can_write(site, gateway, n.reads_for(SDPD))
    assert not await can_write(site, gateway, n.alerts(LAPD))
    assert not await can_read(site, gateway, n.reads_for(LAPD))
    publisher = "sec.platewatch-publisher"
    assert await can_write(site, publisher, n.hotlist_updates)
    for other in (n.reads_for(LAPD), n.alerts(LAPD), n.share_audit):
        assert not await can_write(site, publisher, other), other


async def test_no_identity_and_a_wrong_password_are_refused(site: Site, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password")
    s = site.settings(f"sec.{LAPD}").model_copy(update={"sasl_password_file": wrong, "broker_wait_seconds": 1})
    with pytest.raises(BrokerUnavailableError, match="refused"):
        await KafkaClients(s).topic_partitions(site.names.alerts(LAPD))
    tls_only = site.settings().model_copy(update={"security_protocol": "SSL", "broker_wait_seconds": 1})
    with pytest.raises(BrokerUnavailableError):
        await KafkaClients(tls_only).topic_partitions(site.names.alerts(LAPD))
    for password in site.passwords():
        assert password not in (site.log_dir / "cli.log").read_text()


async def test_a_full_run_over_sasl_ssl_and_an_agency_claim_checked_by_its_topic(site: Site) -> None:
    n = site.names
    bolo = HotlistInfo("sd-bolo", "San Diego BOLO", owner_ori=SDPD, priority=20)
    await publish_list_async(
        clients(site, "sec.platewatch-publisher"), bolo, [HotlistEntry("sd-bolo", "7SDQ551", "CA")],
        replace=True, topic=n.hotlist_updates,
    )  # fmt: skip
    worker_env = site.env("sec.platewatch-worker")
    worker = WorkerProcess(site.broker.bootstrap, site.prefix, site.log_dir / "worker.log")
    worker.args = [a for a in worker.args if a not in {"--group-id", f"{site.prefix}reads"}]  # the env's group
    worker.start(env={**os.environ, **worker_env})
    try:
        await worker.wait_ready(timeout=90)

        def read(read_id: str, agency: str) -> bytes:
            return orjson.dumps({"read_id": read_id, "time": "2026-11-29T10:00:00Z", "camera_id": "c1",
                                 "agency_ori": agency, "plate": "7SDQ551", "state": "CA"})  # fmt: skip

        gateway = site.settings(f"sec.ingest-{LAPD}")
        await produce(gateway, n.reads_for(LAPD), [(b"c1", read("s-1", LAPD)), (b"c1", read("s-2", FAIRFAX))])
        alerts: list[object] = []
        for _ in range(60):
            alerts = await read_topic(site.settings(f"sec.{LAPD}"), n.alerts(LAPD), settle=0.3)
            if alerts:
                break
            await asyncio.sleep(0.5)
        assert [orjson.loads(r.value)["read"]["read_id"] for r in alerts] == ["s-1"]  # type: ignore[attr-defined]
        owner = await read_topic(site.settings(f"sec.{SDPD}"), n.alerts(SDPD), settle=0.3)
        assert [orjson.loads(r.value)["read"]["read_id"] for r in owner] == ["s-1"]
        audit = await read_topic(site.settings("sec.platewatch-auditor"), n.share_audit, settle=0.3)
        assert {orjson.loads(r.value)["read_id"] for r in audit} == {"s-1"}
        dlq = await read_topic(site.settings(), n.dlq, settle=0.3)  # the admin reads dead letters
        mismatched = [r.value for r in dlq if dict(r.headers)["platewatch.reason"] == b"agency_mismatch"]
        assert mismatched == [read("s-2", FAIRFAX)]
        _, metrics = worker.get("/metrics")
        for password in site.passwords():
            assert password not in worker.log() and password.encode() not in metrics
        assert worker.terminate() == 0
    finally:
        worker.terminate()


def test_plan_shows_no_change_then_a_removed_agency_is_revoked(site: Site) -> None:
    unchanged = site.platewatch("acls", "plan")
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    assert unchanged.stdout.startswith("no changes")
    doc = yaml.safe_load(site.registry.read_text())
    doc["agencies"] = [a for a in doc["agencies"] if a["ori"] != FAIRFAX]
    site.registry.write_text(yaml.safe_dump(doc))
    fairfax = f"sec.{FAIRFAX}"
    assert asyncio.run(can_read(site, fairfax, site.names.alerts(FAIRFAX)))
    plan = site.platewatch("acls", "plan")
    assert plan.returncode == 1
    assert f"- revoke User:{fairfax}" in plan.stdout and f"- user   {fairfax}" in plan.stdout
    kept = site.log_dir / "fairfax-before.password"  # what the agency was handed
    kept.write_text((site.credentials / f"{fairfax}.password").read_text())
    applied = site.platewatch("acls", "apply")
    assert applied.returncode == 0, applied.stderr
    assert not (site.credentials / f"{fairfax}.password").exists()
    # its password no longer works, and its grants are gone: it cannot log in, let alone read
    revoked = site.settings(fairfax).model_copy(update={"sasl_password_file": kept, "broker_wait_seconds": 2})
    with pytest.raises(BrokerUnavailableError, match="refused the credentials"):
        asyncio.run(KafkaClients(revoked).topic_partitions(site.names.alerts(FAIRFAX)))
    assert not {b for b in asyncio.run(live_grants(site)) if b.principal == f"User:{fairfax}"}
    assert site.platewatch("acls", "plan").stdout.startswith("no changes")
    for password in site.passwords():
        assert password not in (site.log_dir / "cli.log").read_text()


async def live_grants(site: Site) -> set[Binding]:
    return BrokerAccess(KafkaClients(site.settings()), site.credentials).live_bindings()


def test_the_policy_files_of_the_site_are_the_defaults(site: Site) -> None:
    assert site.settings().policy_file == Path(DEFAULT_POLICY)


def test_the_commands_run_over_sasl_ssl_with_credentials_from_the_environment_or_a_file(
    site: Site, tmp_path: Path
) -> None:
    bolo = tmp_path / "bolo.csv"
    bolo.write_text("PlateNumber,PlateState\n7SDQ551,CA\n")
    loaded = site.platewatch(
        "hotlist", "load", str(bolo), "--list", "sec-bolo", "--publish", user="sec.platewatch-publisher"
    )
    assert loaded.returncode == 0, loaded.stderr
    assert "published 1 updates" in loaded.stdout
    # the simulator plays every agency's gateway at once: only the admin may write every input topic
    simulated = site.platewatch("simulate", "--seconds", "1", "--rate", "200", "--hotlist-size", "1000")
    assert simulated.returncode == 0, simulated.stderr
    tail = site.platewatch("tail-alerts", "--recipient", LAPD, "--seconds", "2", user=f"sec.{LAPD}")
    assert tail.returncode == 0, tail.stderr
    denied = site.platewatch("tail-alerts", "--recipient", SDPD, "--seconds", "2", user=f"sec.{LAPD}")
    assert denied.returncode == 5 and f"may not use topic sec.alerts.{SDPD}" in denied.stderr
    for password in site.passwords():
        assert password not in (site.log_dir / "cli.log").read_text()


def test_the_benchmarks_run_over_sasl_ssl(site: Site, tmp_path: Path) -> None:
    """Every benchmark client (producers, the peers, the dispatch consumer, the worker) takes its
    security settings from the environment, here the admin's; the JVM peer says it cannot."""
    env = {**os.environ, **site.env(), "PLATEWATCH_TOPIC_PREFIX": ""}
    secure_env = tmp_path / "secure.env"  # the SASL_SSL row's settings, as `kafka.sh secure-up` writes them
    secure_env.write_text("".join(f"{k}={v}\n" for k, v in env.items() if k.startswith("PLATEWATCH_")))
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(tmp_path),
         "--bootstrap", site.broker.bootstrap, "--secure-env", str(secure_env)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    load = orjson.loads((tmp_path / "result.json").read_bytes())["load"]
    row = load["sasl_ssl"]  # the SASL_SSL rows: the two workers in turn, their outputs checked
    assert row["outputs_verified"], row["problems"]
    for guarantee in ("at_least_once", "exactly_once"):  # the measured pass, after the warm-up pass
        assert row[guarantee]["pipeline_saturation"]["reads"] > 0
        assert row["warm_up"][guarantee]["pipeline_saturation"]["reads"] > 0
    assert row["over_at_least_once"] > 0 and row["at_least_once_over_plaintext"] > 0
    assert load["hotlist"]["replica_entries"] >= 20_000 and load["fixed_rate"]["alerts_received"] > 0
    assert load["outputs_verified"], load["problems"]
    assert {"confluent-batch", "raw-aiokafka", "raw-librdkafka", "faust-take"} <= set(load["peers"]["summary"])
    assert "PLAINTEXT broker only" in load["peers"]["left_out"]["jvm-consumer-perf"]


def test_a_rotated_password_replaces_the_old_one(site: Site, tmp_path: Path) -> None:
    user = f"sec.{SDPD}"
    old = tmp_path / "old.password"
    old.write_text((site.credentials / f"{user}.password").read_text())
    rotated = site.platewatch("identities", "rotate", user)
    assert rotated.returncode == 0, rotated.stderr
    assert "new password stored" in rotated.stdout
    new_password = (site.credentials / f"{user}.password").read_text().strip()
    assert new_password != old.read_text().strip() and new_password not in rotated.stdout + rotated.stderr
    assert asyncio.run(can_read(site, user, site.names.alerts(SDPD)))  # the new password works
    stale = site.settings(user).model_copy(update={"sasl_password_file": old, "broker_wait_seconds": 2})
    with pytest.raises(BrokerUnavailableError, match="refused the credentials"):
        asyncio.run(KafkaClients(stale).topic_partitions(site.names.alerts(SDPD)))
    unknown = site.platewatch("identities", "rotate", "sec.nobody")
    assert unknown.returncode == 5 and "no SCRAM user" in unknown.stderr
