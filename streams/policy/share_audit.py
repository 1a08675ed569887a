"""Audit records: one per share decision, allow or deny, with the SB 34 record-of-access fields.

Cal. Civ. Code 1798.90.52 asks for the date and time of access, the data elements used, the user
and their organisation, and the purpose. Each record adds the rule that decided and the policy
version (a content hash), so an auditor can replay the decision.
"""

from __future__ import annotations

from collections.abc import Sequence
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


# Audit records straight to JSON bytes: `encode_audits(audit_head(...), [audit_tail(...)])` is
# byte for byte `orjson.dumps(audit_record(...).to_json())` (tests/test_output_encoding.py), without an
# object and a dict per decision. Every field from `recipient` on depends on the (reading agency,
# recipient) pair and its decision alone (the pipeline keeps that part per pair while a policy is in
# force); the fields of the hit are encoded once per hit, whatever the number of its recipients.


class AuditHead(NamedTuple):
    """The part of a record that depends on the hit alone."""

    key: bytes  # the alert id, the start of the audit id (the record's key)
    before: bytes  # the JSON up to the audit id's end: `{"audit_id":"` and the alert id
    after: bytes  # the JSON after the audit id: its closing quote, then the fields from `time` to `reading_agency`


class AuditTail(NamedTuple):
    """The part of a record that depends on the (reading agency, recipient) pair and its decision."""

    key: bytes  # the end of the audit id, after the alert id
    id_json: bytes  # the same, as it stands inside a JSON string
    after: bytes  # the fields from `recipient` to `policy_version`, and the closing brace


def audit_head(*, time: str, read_id: str, alert_id: str, plate: str, reading_agency: str) -> AuditHead:
    """The fields of one hit."""
    fields = orjson.dumps({
        "time": time, "read_id": read_id, "alert_id": alert_id, "plate": plate,
        "data_elements": DATA_ELEMENTS, "reading_agency": reading_agency,
    })[1:-1]  # fmt: skip
    return AuditHead(alert_id.encode(), b'{"audit_id":' + orjson.dumps(alert_id)[:-1], b'",' + fields)


def audit_tail(decision: Decision, reading_agency: str, recipient: str, purpose: str) -> AuditTail:
    """The fields of a (reading agency, recipient) pair's decision."""
    fields = orjson.dumps({
        "recipient": recipient, "user": SYSTEM_USER, "organization": reading_agency,
        "decision": "allow" if decision.allowed else "deny", "rule": decision.rule,
        "reason": decision.reason, "purpose": purpose, "profile": decision.profile,
        "policy_version": decision.policy_version,
    })[1:]  # fmt: skip
    id_end = f"/{recipient}/{decision.policy_version}"  # the audit id: the alert id and this
    # a JSON string escapes character by character: the audit id's encoding is its two parts' encodings
    return AuditTail(id_end.encode(), orjson.dumps(id_end)[1:-1], b"," + fields)


def encode_audits(head: AuditHead, tails: Sequence[AuditTail]) -> list[tuple[bytes, bytes]]:
    """(key, value) of the record of each decision (`tails`) on one hit (`head`)."""
    key, before, after = head
    return [(key + t.key, before + t.id_json + after + t.after) for t in tails]
