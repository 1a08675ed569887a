"""The jurisdiction filter: may this alert go to this recipient? It fails closed.

A decision depends on the reading agency, the recipient and the purpose, never on the plate, so
decisions are cached per policy version: a repeated (reader, recipient, purpose) costs one dict lookup.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from streams.policy.agencies import Agency, AgencyRegistry
from streams.policy.profiles import BUILTIN_PROFILES

OWN_AGENCY_RULE = "own-agency"


class DenyReason(enum.StrEnum):
    """Why the filter could not allow a share, when no profile rule decided. Bounded: a metric label."""

    UNKNOWN_READER = "unknown_reading_agency"
    UNKNOWN_RECIPIENT = "unknown_recipient"
    UNKNOWN_STATE = "unknown_state"
    NO_PROFILE = "no_profile"
    POLICY_INVALID = "policy_invalid"
    PURPOSE_NOT_ALLOWED = "purpose_not_allowed"
    NO_RULE_ALLOWS = "no_rule_allows"
    RULE = "rule"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule: str  # the rule id, or a DenyReason value when no rule decided
    reason: str  # readable, for the audit and the operator
    profile: str
    policy_version: str
    deny_reason: DenyReason | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    allow: bool
    reason: str
    states: frozenset[str] | None
    states_not: frozenset[str] | None
    levels: frozenset[str] | None
    kinds: frozenset[str] | None

    def applies(self, reader: Agency, recipient: Agency) -> bool:
        def resolve(states: frozenset[str]) -> frozenset[str]:
            return (states - {"same"}) | {reader.state} if "same" in states else states

        if self.states is not None and recipient.state not in resolve(self.states):
            return False
        if self.states_not is not None and recipient.state in resolve(self.states_not):
            return False
        if self.levels is not None and recipient.level.value not in self.levels:
            return False
        return self.kinds is None or recipient.kind.value in self.kinds

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Rule:
        when = doc.get("when", {})

        def opt(name: str) -> frozenset[str] | None:
            return frozenset(when[name]) if name in when else None

        return cls(
            id=doc["id"],
            allow=doc["effect"] == "allow",
            reason=doc["reason"],
            states=opt("recipient_state"),
            states_not=opt("recipient_state_not"),
            levels=opt("recipient_level"),
            kinds=opt("recipient_kind"),
        )


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    retention_days: int | None
    purposes: frozenset[str]
    rules: tuple[Rule, ...]
    citation: str = ""  # the law it follows, for the published policy

    @classmethod
    def from_document(cls, name: str, doc: Mapping[str, Any]) -> Profile:
        return cls(
            name=name,
            description=doc.get("description", ""),
            retention_days=doc.get("retention_days"),
            purposes=frozenset(doc.get("purposes", ("hotlist_alert",))),
            rules=tuple(Rule.from_document(r) for r in doc["rules"]),
            citation=doc.get("citation", ""),
        )


def content_version(*documents: Any) -> str:
    """A short content hash of the documents in force: the policy version audit records carry."""
    digest = hashlib.sha256()
    for doc in documents:
        digest.update(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()[:16]


class SharingPolicy:
    """Profiles, the state → profile map, and the agency registry: one immutable version."""

    def __init__(self, policy_doc: Mapping[str, Any], registry_doc: Mapping[str, Any]) -> None:
        profiles = {name: Profile.from_document(name, doc) for name, doc in BUILTIN_PROFILES.items()}
        for name, doc in policy_doc.get("profiles", {}).items():
            if name in BUILTIN_PROFILES:
                raise ValueError(f"profiles/{name}: a built-in profile cannot be redefined")
            profiles[name] = Profile.from_document(name, doc)
        jurisdictions = dict(policy_doc["jurisdictions"])
        for state, name in jurisdictions.items():
            if name not in profiles:
                raise ValueError(f"jurisdictions/{state}: no profile named {name!r}")
        self.profiles = profiles
        self.jurisdictions = jurisdictions
        self.registry = AgencyRegistry.from_document(registry_doc)
        self.version = content_version(policy_doc, registry_doc)
        self._cache: dict[tuple[str, str, str], Decision] = {}

    def profile_for_state(self, state: str) -> Profile | None:
        name = self.jurisdictions.get(state)
        return self.profiles.get(name) if name else None

    def retention_days(self, state: str) -> int | None:
        profile = self.profile_for_state(state)
        return profile.retention_days if profile else None

    def decide(self, reading_ori: str, recipient_ori: str, purpose: str = "hotlist_alert") -> Decision:
        key = (reading_ori, recipient_ori, purpose)
        decision = self._cache.get(key)
        if decision is None:
            decision = self._cache[key] = self._decide(reading_ori, recipient_ori, purpose)
        return decision

    def _deny(self, why: DenyReason, reason: str, profile: str = "") -> Decision:
        return Decision(False, why.value, reason, profile, self.version, why)

    def _decide(self, reading_ori: str, recipient_ori: str, purpose: str) -> Decision:
        reader = self.registry.get(reading_ori)
        if reader is None:
            return self._deny(DenyReason.UNKNOWN_READER, f"reading agency {reading_ori!r} is not in the registry")
        recipient = self.registry.get(recipient_ori)
        if recipient is None:
            return self._deny(DenyReason.UNKNOWN_RECIPIENT, f"recipient {recipient_ori!r} is not in the registry")
        if recipient_ori == reading_ori:
            return Decision(True, OWN_AGENCY_RULE, "the reading agency's own alert is not a share", "", self.version)
        if not reader.state:
            return self._deny(DenyReason.UNKNOWN_STATE, f"reading agency {reading_ori} has no state")
        profile = self.profile_for_state(reader.state)
        if profile is None:
            return self._deny(DenyReason.NO_PROFILE, f"no sharing profile governs reads taken in {reader.state}")
        if purpose not in profile.purposes:
            return self._deny(
                DenyReason.PURPOSE_NOT_ALLOWED,
                f"purpose {purpose!r} is not allowed by {profile.name}",
                profile.name,
            )
        for rule in profile.rules:
            if rule.applies(reader, recipient):
                if rule.allow:
                    return Decision(True, rule.id, rule.reason, profile.name, self.version)
                return Decision(False, rule.id, rule.reason, profile.name, self.version, DenyReason.RULE)
        return self._deny(DenyReason.NO_RULE_ALLOWS, f"no rule of {profile.name} allows this share", profile.name)


class NoPolicy:
    """What is in force when no valid policy was ever loaded: every share is denied."""

    version = "none"

    def decide(self, reading_ori: str, recipient_ori: str, purpose: str = "hotlist_alert") -> Decision:
        why = DenyReason.POLICY_INVALID
        return Decision(False, why.value, "no valid policy is loaded", "", self.version, why)
