"""Audit records: one per share decision, allow or deny, with the SB 34 record-of-access fields.

Cal. Civ. Code 1798.90.52 asks for the date and time of access, the data elements used, the user
and their organisation, and the purpose. Each record adds the rule that decided and the policy
version (a content hash), so an auditor can replay the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from streams.policy.jurisdiction_filter import Decision

DATA_ELEMENTS = ("plate", "plate_state", "read_time", "location", "image_ref", "hotlist_entry")
SYSTEM_USER = "platewatch-worker"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    audit_id: str
    time: str
    read_id: str
    alert_id: str
    plate: str
    reading_agency: str
    recipient: str
    decision: str
    rule: str
    reason: str
    purpose: str
    policy_version: str
    profile: str
    user: str = SYSTEM_USER

    def to_json(self) -> dict[str, Any]:
        return {
            "audit_id": self.audit_id,
            "time": self.time,
            "read_id": self.read_id,
            "alert_id": self.alert_id,
            "plate": self.plate,
            "data_elements": list(DATA_ELEMENTS),
            "reading_agency": self.reading_agency,
            "recipient": self.recipient,
            "user": self.user,
            "organization": self.reading_agency,
            "decision": self.decision,
            "rule": self.rule,
            "reason": self.reason,
            "purpose": self.purpose,
            "profile": self.profile,
            "policy_version": self.policy_version,
        }


def audit_record(
    decision: Decision,
    *,
    time: str,
    read_id: str,
    alert_id: str,
    plate: str,
    reading_agency: str,
    recipient: str,
    purpose: str,
) -> AuditRecord:
    """The record of one decision. Its id, alert/recipient/policy version, is stable: a redelivered
    decision carries the same id (and costs a string join, where a uuid5 costs a SHA-1)."""
    return AuditRecord(
        audit_id=f"{alert_id}/{recipient}/{decision.policy_version}",
        time=time,
        read_id=read_id,
        alert_id=alert_id,
        plate=plate,
        reading_agency=reading_agency,
        recipient=recipient,
        decision="allow" if decision.allowed else "deny",
        rule=decision.rule,
        reason=decision.reason,
        purpose=purpose,
        policy_version=decision.policy_version,
        profile=decision.profile,
    )


# Audit records straight to JSON bytes: `encode_audit(audit_head(...), alert_id, audit_tail(...))` is
# byte for byte `orjson.dumps(audit_record(...).to_json())` (tests/test_output_encoding.py), without an
# object and a dict per decision. Every field from `recipient` on depends on the (reading agency,
# recipient) pair and its decision alone (the pipeline keeps that part per pair while a policy is in
# force); the fields of the hit are encoded once per hit, whatever the number of its recipients.


class AuditTail(NamedTuple):
    id_suffix: str  # the audit id is the alert id and this
    encoded: bytes  # the fields from `recipient` to `policy_version`, encoded, without braces


def audit_head(*, time: str, read_id: str, alert_id: str, plate: str, reading_agency: str) -> bytes:
    """The fields of one hit, from `time` to `reading_agency`, without braces."""
    return orjson.dumps({
        "time": time, "read_id": read_id, "alert_id": alert_id, "plate": plate,
        "data_elements": DATA_ELEMENTS, "reading_agency": reading_agency,
    })[1:-1]  # fmt: skip


def audit_tail(decision: Decision, reading_agency: str, recipient: str, purpose: str) -> AuditTail:
    """The part of a record that depends on the (reading agency, recipient) pair and its decision."""
    encoded = orjson.dumps({
        "recipient": recipient, "user": SYSTEM_USER, "organization": reading_agency,
        "decision": "allow" if decision.allowed else "deny", "rule": decision.rule,
        "reason": decision.reason, "purpose": purpose, "profile": decision.profile,
        "policy_version": decision.policy_version,
    })[1:-1]  # fmt: skip
    return AuditTail(f"/{recipient}/{decision.policy_version}", encoded)


def encode_audit(head: bytes, alert_id: str, tail: AuditTail) -> tuple[bytes, bytes]:
    """(key, value) of the record of one decision (`tail`) on one hit (`head`, of the same `alert_id`)."""
    audit_id = alert_id + tail.id_suffix  # as audit_record builds it
    return audit_id.encode(), b'{"audit_id":' + orjson.dumps(audit_id) + b"," + head + b"," + tail.encoded + b"}"
