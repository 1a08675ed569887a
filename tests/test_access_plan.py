"""The access plan: least-privilege grants from the registry, diffed against what a broker holds."""

from __future__ import annotations

from pathlib import Path

import yaml

from streams.access.grants import Binding, Deployment, desired_bindings, identities
from streams.access.plan import plan_access
from streams.pipeline.topics import TopicNames
from streams.policy.jurisdiction_filter import SharingPolicy
from streams.policy.store import DEFAULT_POLICY, DEFAULT_REGISTRY, load_policy

LAPD, SDPD, ICE = "CA0194200", "CA0373700", "DCICE0000"
D = Deployment(TopicNames())


def policy_without(ori: str) -> SharingPolicy:
    registry = yaml.safe_load(Path(DEFAULT_REGISTRY).read_text())
    registry["agencies"] = [a for a in registry["agencies"] if a["ori"] != ori]
    return SharingPolicy(yaml.safe_load(Path(DEFAULT_POLICY).read_text()), registry)


def grants_of(bindings: set[Binding], principal: str) -> set[tuple[str, str, str, str]]:
    return {
        (b.operation, b.resource_type, b.pattern_type, b.resource_name) for b in bindings if b.principal == principal
    }


def test_an_agency_may_read_its_own_alerts_and_nothing_else() -> None:
    want = desired_bindings(load_policy(DEFAULT_POLICY, DEFAULT_REGISTRY), D)
    assert grants_of(want, f"User:{LAPD}") == {
        ("READ", "TOPIC", "LITERAL", f"alerts.{LAPD}"),
        ("DESCRIBE", "TOPIC", "LITERAL", f"alerts.{LAPD}"),
        ("READ", "GROUP", "PREFIXED", f"{LAPD}."),
        ("WRITE", "TOPIC", "LITERAL", f"access-log.{LAPD}"),  # its own record of access, no one else's
        ("DESCRIBE", "TOPIC", "LITERAL", f"access-log.{LAPD}"),
    }
    assert grants_of(want, f"User:ingest-{LAPD}") == {
        ("WRITE", "TOPIC", "LITERAL", f"plate-reads.{LAPD}"),
        ("DESCRIBE", "TOPIC", "LITERAL", f"plate-reads.{LAPD}"),
    }
    assert grants_of(want, "User:platewatch-publisher") == {
        ("WRITE", "TOPIC", "LITERAL", "hotlist-updates"),
        ("READ", "TOPIC", "LITERAL", "hotlist-updates"),
        ("DESCRIBE", "TOPIC", "LITERAL", "hotlist-updates"),
        ("WRITE", "TRANSACTIONAL_ID", "PREFIXED", "platewatch-publisher."),  # a load is one transaction
        ("DESCRIBE", "TRANSACTIONAL_ID", "PREFIXED", "platewatch-publisher."),
    }
    # nobody but the worker and the auditors reads across agencies; nobody but the worker writes alerts
    for b in want:
        if b.resource_name.startswith("alerts.") and b.pattern_type == "PREFIXED":
            assert b.principal in {"User:platewatch-worker", "User:platewatch-auditor", "User:platewatch-audit-sink"}
            assert b.operation != "WRITE" or b.principal == "User:platewatch-worker"


def test_a_broker_that_matches_plans_no_change_and_the_plan_is_deterministic() -> None:
    policy = load_policy(DEFAULT_POLICY, DEFAULT_REGISTRY)
    users = [i.name for i in identities(policy, D)] + ["admin"]
    plan = plan_access(policy, D, desired_bindings(policy, D), users)
    assert plan.empty and plan.render().startswith("no changes")
    fresh = plan_access(policy, D, set(), [])
    assert fresh.render() == plan_access(policy, D, set(), []).render()
    assert len(fresh.create_users) == len(users) - 1 and not fresh.remove


def test_removing_an_agency_from_the_registry_revokes_its_grants_and_user() -> None:
    before = load_policy(DEFAULT_POLICY, DEFAULT_REGISTRY)
    live = desired_bindings(before, D)
    users = [i.name for i in identities(before, D)] + ["admin"]
    plan = plan_access(policy_without(SDPD), D, live, users)
    assert set(plan.delete_users) == {SDPD, f"ingest-{SDPD}"}  # the admin stays
    assert {(b.principal, b.operation, b.resource_name) for b in plan.remove} >= {
        (f"User:{SDPD}", "READ", f"alerts.{SDPD}"),
        (f"User:ingest-{SDPD}", "WRITE", f"plate-reads.{SDPD}"),
    }
    assert not plan.add
    rendered = plan.render()
    assert f"- revoke User:{SDPD}" in rendered and f"- user   {SDPD}" in rendered


def test_with_a_site_prefix_only_that_sites_grants_are_managed() -> None:
    site = Deployment(TopicNames.with_prefix("east."), prefix="east.")
    policy = load_policy(DEFAULT_POLICY, DEFAULT_REGISTRY)
    other_site = Binding("User:west.CA0194200", "TOPIC", "LITERAL", "west.alerts.CA0194200", "READ")
    stray = Binding("User:east.intruder", "TOPIC", "LITERAL", "east.alerts.CA0194200", "READ")
    plan = plan_access(policy, site, {other_site, stray}, ["west.CA0194200", "admin"])
    assert plan.remove == (stray,)  # the other site's grant is not this site's to revoke
    assert "west.CA0194200" not in plan.delete_users
    assert f"User:east.{LAPD}" in {b.principal for b in plan.add}
    assert all(b.resource_name.startswith(("east.", f"east.{LAPD}")) for b in plan.add if b.resource_type == "TOPIC")


def test_other_applications_keep_their_grants_but_nobody_else_reads_platewatch_topics() -> None:
    policy = load_policy(DEFAULT_POLICY, DEFAULT_REGISTRY)
    live = desired_bindings(policy, D)
    billing = Binding("User:billing-app", "TOPIC", "LITERAL", "invoices", "READ")
    snoop = Binding("User:billing-app", "TOPIC", "LITERAL", f"alerts.{LAPD}", "READ")
    wildcard = Binding("User:ops-tool", "TOPIC", "LITERAL", "*", "READ")
    broad_prefix = Binding("User:ops-tool", "TOPIC", "PREFIXED", "plate", "READ")
    users = [i.name for i in identities(policy, D)] + ["admin", "billing-app", "ops-tool"]
    plan = plan_access(policy, D, live | {billing, snoop, wildcard, broad_prefix}, users)
    assert set(plan.remove) == {snoop, wildcard, broad_prefix}  # whatever reaches ALPR data goes
    assert plan.delete_users == ()  # other applications' users are not Platewatch's to revoke
    assert not plan.add and not plan.create_users
