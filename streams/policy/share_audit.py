"""Audit records: one per share decision, allow or deny, with the SB 34 record-of-access fields.

Cal. Civ. Code 1798.90.52 asks for the date and time of access, the data elements used, the user
and their organisation, and the purpose. Each record adds the rule that decided and the policy
version (a content hash), so an auditor can replay the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
