"""The least-privilege table: what each Platewatch identity needs on the broker, from the registry.

One table (`ROLES`) says what every command and service needs; `desired_bindings` expands it for a
registry, a policy and a topic prefix into the exact ACL bindings (principal, resource type, pattern,
name, operation). Tests run every command under these grants, so a new command cannot work in tests
and fail in production. An agency is granted its alert topic only while the policy lets it receive
alerts at all (from its own reads, or shared by some state's profile): an agency taken out of the
registry, or whose profile no longer allows it anything, loses READ at the next `acls apply`.

Plain code: no Kafka, no I/O. Deviations from the issue's starting point, with reasons:
- DESCRIBE beside READ/WRITE on every topic: clients fetch metadata before they read or write.
- The worker may CREATE agency input and alert topics: a registry reload that adds an agency creates
  them before its first alert (the worker never creates any other topic).
- The worker may DESCRIBE_CONFIGS and ALTER_CONFIGS the topics that hold reads or alerts: it brings
  their retention to the policy's at start and after each reload (streams/kafka/retention.py).
- Agencies read their alerts under consumer groups named `<ORI>.…` (PREFIXED), never anyone else's.
- An agency writes its own access log, `access-log.<ORI>` (`tail-alerts --from-beginning` records each
  query of its retained alerts there, as 1798.90.52 asks); it cannot write anyone else's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from streams.pipeline.topics import TopicNames
from streams.policy.jurisdiction_filter import SharingPolicy

TOPIC, GROUP, TXN = "TOPIC", "GROUP", "TRANSACTIONAL_ID"
LITERAL, PREFIXED = "LITERAL", "PREFIXED"
READ, WRITE, DESCRIBE, CREATE = "READ", "WRITE", "DESCRIBE", "CREATE"
RETENTION = ("DESCRIBE_CONFIGS", "ALTER_CONFIGS")  # the worker keeps topics' retention to the policy
PURPOSE = "hotlist_alert"


@dataclass(frozen=True, order=True, slots=True)
class Binding:
    """One ALLOW access-control entry, in Kafka's vocabulary (as `kafka-acls` prints it)."""

    principal: str  # "User:<name>"
    resource_type: str  # TOPIC, GROUP, TRANSACTIONAL_ID
    pattern_type: str  # LITERAL or PREFIXED
    resource_name: str
    operation: str
    host: str = "*"
    permission: str = "ALLOW"

    def describe(self) -> str:
        pattern = "" if self.pattern_type == LITERAL else " (prefix)"
        return f"{self.principal:<32} {self.operation:<9} {self.resource_type:<16} {self.resource_name}{pattern}"


@dataclass(frozen=True, slots=True)
class Identity:
    """A SCRAM user Platewatch manages, and why it exists."""

    name: str
    role: str  # agency, ingest, worker, publisher, auditor, audit-sink
    agency: str = ""  # the ORI, for agency and ingest identities

    @property
    def principal(self) -> str:
        return f"User:{self.name}"


@dataclass(frozen=True)
class Deployment:
    """What the grants are computed for: topic names, the groups the services use, the principals' prefix."""

    names: TopicNames
    worker_group: str = "platewatch-reads"
    audit_group: str = "platewatch-audit"
    prefix: str = ""  # prepended to every service identity (several sites on one cluster)

    def service(self, role: str) -> str:
        return f"{self.prefix}platewatch-{role}"

    def ingest(self, ori: str) -> str:
        return f"{self.prefix}ingest-{ori}"

    def agency(self, ori: str) -> str:
        return f"{self.prefix}{ori}"


def may_receive_alerts(policy: SharingPolicy, ori: str) -> bool:
    """True when some read could lawfully reach `ori`: its own (if its state's profile allows it), or
    one shared from an agency of any state with a profile. One reader per state decides for the state."""
    readers: dict[str, str] = {}
    for agency in policy.registry:
        if agency.ori != ori:
            readers.setdefault(agency.state, agency.ori)
    candidates = [ori, *readers.values()]
    return any(policy.decide(reader, ori, PURPOSE).allowed for reader in candidates)


def identities(policy: SharingPolicy, d: Deployment) -> list[Identity]:
    """Every SCRAM user the deployment needs, in a stable order."""
    out = [Identity(d.service(role), role) for role in ("worker", "publisher", "auditor", "audit-sink")]
    for agency in sorted(policy.registry, key=lambda a: a.ori):
        out.append(Identity(d.ingest(agency.ori), "ingest", agency.ori))
        if may_receive_alerts(policy, agency.ori):
            out.append(Identity(d.agency(agency.ori), "agency", agency.ori))
    return out


def _topic(principal: str, name: str, pattern: str, *ops: str) -> list[Binding]:
    return [Binding(principal, TOPIC, pattern, name, op) for op in (*ops, DESCRIBE)]


def role_bindings(identity: Identity, d: Deployment) -> list[Binding]:
    """ROLES, expanded for one identity."""
    n, p = d.names, identity.principal
    if identity.role == "agency":  # its own alerts, under its own consumer groups; nothing else
        groups = Binding(p, GROUP, PREFIXED, f"{identity.name}.", READ)
        # ... and its own access log, where `tail-alerts --from-beginning` records each query of them
        access = _topic(p, n.access_log_for(identity.agency), LITERAL, WRITE)
        return [*_topic(p, n.alerts(identity.agency), LITERAL, READ), groups, *access]
    if identity.role == "ingest":  # its agency's cameras' reads, written; nothing read
        return _topic(p, n.reads_for(identity.agency), LITERAL, WRITE)
    if identity.role == "worker":
        return [
            *_topic(p, n.reads_prefix, PREFIXED, READ, CREATE, *RETENTION),  # every agency's reads; new topics
            *_topic(p, n.plate_reads, LITERAL, READ, *RETENTION),  # the single development topic
            *_topic(p, n.hotlist_updates, LITERAL, READ),
            *_topic(p, n.alerts_prefix, PREFIXED, WRITE, CREATE, *RETENTION),
            *_topic(p, n.share_audit, LITERAL, WRITE),
            *_topic(p, n.batch_counts, LITERAL, WRITE),
            *_topic(p, n.dlq, LITERAL, WRITE, *RETENTION),
            Binding(p, GROUP, LITERAL, d.worker_group, READ),
            Binding(p, TXN, PREFIXED, d.worker_group, WRITE),  # exactly-once: one id per worker
            Binding(p, TXN, PREFIXED, d.worker_group, DESCRIBE),
        ]
    if identity.role == "publisher":  # lists written; read back when a replace finds what left the list
        loads = f"{d.prefix}platewatch-publisher."  # one transactional id per list: a load is all or nothing
        txn = [Binding(p, TXN, PREFIXED, loads, WRITE), Binding(p, TXN, PREFIXED, loads, DESCRIBE)]
        return [*_topic(p, n.hotlist_updates, LITERAL, WRITE, READ), *txn]
    if identity.role in {"auditor", "audit-sink"}:  # decisions, and delivered alerts to reconcile them with
        common = [
            *_topic(p, n.share_audit, LITERAL, READ),
            *_topic(p, n.alerts_prefix, PREFIXED, READ),
            *_topic(p, n.batch_counts, LITERAL, READ),
            Binding(p, GROUP, PREFIXED, d.audit_group, READ),
        ]
        if identity.role == "auditor":  # its queries go through the audit store, which logs them itself
            return common
        return [*common, *_topic(p, n.access_log_prefix, PREFIXED, READ)]  # the sink stores the access logs
    raise ValueError(f"no grants for role {identity.role!r}")


ROLES = ("agency", "ingest", "worker", "publisher", "auditor", "audit-sink")


def desired_bindings(policy: SharingPolicy, d: Deployment) -> set[Binding]:
    return {b for identity in identities(policy, d) for b in role_bindings(identity, d)}


_ORI = re.compile(r"[A-Z0-9]{9}")
_SERVICE_ROLES = ("platewatch-worker", "platewatch-publisher", "platewatch-auditor", "platewatch-audit-sink")


def manages_user(name: str, d: Deployment) -> bool:
    """True for the user names Platewatch hands out (after the deployment's prefix): its services,
    `ingest-<ORI>` and `<ORI>`. Other applications' users on a shared cluster are never touched."""
    if not name.startswith(d.prefix):
        return False
    rest = name[len(d.prefix) :]
    return rest in _SERVICE_ROLES or bool(_ORI.fullmatch(rest.removeprefix("ingest-")))


def managed(bindings: Iterable[Binding], d: Deployment) -> set[Binding]:
    """The live bindings Platewatch owns, which `acls apply` may remove: every grant of a user it
    hands out (see `manages_user`), and every grant by anyone on its topics, groups or transactional
    ids (a wildcard `*` included: it reaches them too). Other applications' grants on their own
    resources are never touched."""
    return {b for b in bindings if _manages_principal(b.principal, d) or _on_platewatch_resource(b, d)}


def _manages_principal(principal: str, d: Deployment) -> bool:
    return principal.startswith("User:") and manages_user(principal[5:], d)


def _on_platewatch_resource(b: Binding, d: Deployment) -> bool:
    n = d.names
    if b.resource_name == "*":
        return True
    mine: tuple[str, ...]
    if b.resource_type == TOPIC:
        mine = (n.plate_reads, n.reads_prefix, n.alerts_prefix, n.hotlist_updates, n.share_audit, n.dlq,
                n.batch_counts, n.access_log_prefix)  # fmt: skip
    elif b.resource_type == GROUP:
        mine = (d.worker_group, d.audit_group)
    else:
        mine = (d.worker_group, f"{d.prefix}platewatch-")
    # a PREFIXED grant whose prefix starts one of ours (e.g. "alerts" or "plate") reaches ours too
    return any(x.startswith(b.resource_name) if b.pattern_type == PREFIXED else b.resource_name.startswith(x)
               for x in mine)  # fmt: skip
