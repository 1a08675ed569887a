"""Built-in sharing profiles, written as the same declarative data an operator's policy file uses."""

from __future__ import annotations

from typing import Any

PUBLIC_LEVELS = ["local", "county", "state"]

BUILTIN_PROFILES: dict[str, dict[str, Any]] = {
    "us-ca-sb34": {
        "description": "California SB 34: share ALPR information only with California public agencies",
        "citation": "Cal. Civ. Code 1798.90.5-1798.90.55; Attorney General bulletin 2023-DLE-06",
        "retention_days": 60,
        "purposes": ["hotlist_alert", "investigation"],
        "rules": [
            {
                "id": "sb34.private",
                "effect": "deny",
                "when": {"recipient_kind": ["private"]},
                "reason": "a private entity is not a public agency (1798.90.55(b))",
            },
            {
                "id": "sb34.federal",
                "effect": "deny",
                "when": {"recipient_level": ["federal"]},
                "reason": "a federal agency is not a California public agency (1798.90.5; AG 2023-DLE-06)",
            },
            {
                "id": "sb34.out-of-state",
                "effect": "deny",
                "when": {"recipient_state_not": ["CA"]},
                "reason": "an out-of-state agency is not a California public agency (AG 2023-DLE-06)",
            },
            {
                "id": "sb34.ca-public-agency",
                "effect": "allow",
                "when": {"recipient_state": ["CA"], "recipient_level": PUBLIC_LEVELS},
                "reason": "the State, a city or county, or an agency of either (1798.90.5(f))",
            },
        ],
    },
    "us-va-2025": {
        "description": "Virginia 2025: only Virginia law enforcement, prosecutors, defense and courts",
        "citation": "Va. Code 2.2-5517 (2025)",
        "retention_days": 21,
        "purposes": ["hotlist_alert", "investigation"],
        "rules": [
            {
                "id": "va.federal",
                "effect": "deny",
                "when": {"recipient_level": ["federal"]},
                "reason": "no sharing with federal agencies (2.2-5517)",
            },
            {
                "id": "va.out-of-state",
                "effect": "deny",
                "when": {"recipient_state_not": ["VA"]},
                "reason": "no sharing with out-of-state agencies (2.2-5517)",
            },
            {
                "id": "va.criminal-justice",
                "effect": "allow",
                "when": {
                    "recipient_state": ["VA"],
                    "recipient_kind": ["law_enforcement", "prosecutor", "defense", "court"],
                },
                "reason": "Virginia law enforcement, prosecutors, defense or courts (2.2-5517)",
            },
        ],
    },
    "permissive": {
        "description": "explicit opt-in: any registered agency may receive alerts",
        "retention_days": None,
        "purposes": ["hotlist_alert", "investigation"],
        "rules": [
            {
                "id": "permissive.any-registered",
                "effect": "allow",
                "reason": "permissive profile: any registered agency",
            }
        ],
    },
}
