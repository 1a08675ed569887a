"""The usage and privacy policy (Cal. Civ. Code 1798.90.51), rendered from the files in force.

`platewatch policy publish` prints it as Markdown or as one self-contained HTML file (inline CSS, no
script, font, image or link fetched). Everything in it comes from the policy and registry that the
jurisdiction filter enforces, and it is stamped with their content hash (`SharingPolicy.version`,
which every audit record carries) and their paths: what is published is what is enforced.

Per jurisdiction: the profile, its rules in order with their decision and conditions in words, which
registered agencies may and may not receive alerts from reads taken there (and the deciding rule),
and the retention of reads; then the retention of alerts, dead letters and audit records, who may
access retained data and how each access is logged, and the fail-closed defaults.

Plain code: the document is built with `streams.policy.document` and rendered by it as Markdown or
HTML, so both say the same thing; text from the policy files is escaped in both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from streams.policy.agencies import Agency, Kind, Level
from streams.policy.document import Code, Document, Inline, Run, Strong, render_html, render_markdown
from streams.policy.jurisdiction_filter import OWN_AGENCY_RULE, DenyReason, Profile, Rule, SharingPolicy
from streams.policy.retention import (
    ALERT_PURPOSE,
    ALERT_RETENTION_DAYS,
    DAY_MS,
    DEFAULT_READ_RETENTION_DAYS,
    KAFKA_RETENTION_CHECK_MS,
    RetentionRules,
    human_ms,
    within,
)

TITLE = "Usage and privacy policy: automated license plate recognition (ALPR) information"

LEVEL_WORDS = {
    Level.LOCAL: "a local agency",
    Level.COUNTY: "a county agency",
    Level.STATE: "a state agency",
    Level.FEDERAL: "a federal agency",
    Level.TRIBAL: "a tribal agency",
}
KIND_WORDS = {
    Kind.LAW_ENFORCEMENT: "law enforcement",
    Kind.PROSECUTOR: "a prosecutor",
    Kind.DEFENSE: "defense counsel",
    Kind.COURT: "a court",
    Kind.OTHER_PUBLIC: "another public body",
    Kind.PRIVATE: "a private entity",
}
FAIL_CLOSED = {
    DenyReason.UNKNOWN_READER: "a read from an agency that is not in the registry is shared with nobody",
    DenyReason.UNKNOWN_RECIPIENT: "an agency that is not in the registry receives nothing",
    DenyReason.UNKNOWN_STATE: "a read from an agency whose state is not known is shared with nobody",
    DenyReason.NO_PROFILE: "a read taken in a state that no profile governs is shared with nobody",
    DenyReason.PURPOSE_NOT_ALLOWED: "a share for a purpose the profile does not list is denied",
    DenyReason.NO_RULE_ALLOWS: "a share that no rule of the profile allows is denied",
    DenyReason.POLICY_INVALID: (
        "while no valid policy is loaded every share is denied; a new policy or registry file that is not "
        "valid is refused whole and the version in force stays"
    ),
}


# ---- words ---------------------------------------------------------------------------------------


def _or(words: Sequence[str]) -> str:
    if not words:
        return "none"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _states(states: frozenset[str]) -> str:
    named = sorted(s for s in states if s != "same")
    if "same" in states:
        named.append("the state where the read was taken")
    return _or(named)


def conditions(rule: Rule) -> str:
    """The rule's conditions in words: `when the recipient is in CA and is a local agency or ...`."""
    parts = []
    if rule.states is not None:
        parts.append(f"is in {_states(rule.states)}")
    if rule.states_not is not None:
        parts.append(f"is not in {_states(rule.states_not)}")
    if rule.levels is not None:
        parts.append("is " + _or([w for lv, w in LEVEL_WORDS.items() if lv.value in rule.levels]))
    if rule.kinds is not None:
        parts.append("is " + _or([w for k, w in KIND_WORDS.items() if k.value in rule.kinds]))
    return "for every recipient" if not parts else "when the recipient " + " and ".join(parts)


@dataclass(frozen=True)
class StateDecision:
    allowed: bool
    rule: str
    reason: str


def decide_for_state(profile: Profile, state: str, recipient: Agency) -> StateDecision:
    """What the filter decides for an alert from a read taken in `state` by an agency other than
    `recipient` (rules see the reading agency only through its state). Tested against
    `SharingPolicy.decide` for every pair of registered agencies."""
    if ALERT_PURPOSE not in profile.purposes:
        return StateDecision(False, DenyReason.PURPOSE_NOT_ALLOWED.value, f"{profile.name} does not allow alerts")
    reader = Agency(ori="", name="", state=state, level=Level.LOCAL, kind=Kind.LAW_ENFORCEMENT)
    for rule in profile.rules:
        if rule.applies(reader, recipient):
            return StateDecision(rule.allow, rule.id, rule.reason)
    return StateDecision(False, DenyReason.NO_RULE_ALLOWS.value, f"no rule of {profile.name} allows this share")


def _join(runs: list[Run]) -> list[Run]:
    out: list[Run] = []
    for i, run in enumerate(runs):
        if i:
            out.append(" and " if i == len(runs) - 1 else ", ")
        out.append(run)
    return out


def _days(ms: int) -> str:
    return f"{ms // DAY_MS} days" if ms % DAY_MS == 0 else human_ms(ms)


def _agency(a: Agency) -> Inline:
    return [f"{a.name} (", Code(a.ori), f", {a.state}, {a.level.value}, {a.kind.value.replace('_', ' ')})"]


# ---- the policy as a document --------------------------------------------------------------------


def policy_document(
    policy: SharingPolicy,
    policy_path: Path,
    registry_path: Path,
    *,
    label: str | None = None,
    check_interval_ms: int = KAFKA_RETENTION_CHECK_MS,
) -> Document:
    doc = Document(TITLE)
    rules = RetentionRules(policy)
    agencies = sorted(policy.registry, key=lambda a: a.ori)
    doc.h(1, TITLE)
    doc.p(
        "Published under California Civil Code 1798.90.51. This document is generated from the sharing policy "
        "and the agency registry that Platewatch enforces; every share decision and every audit record carries "
        "the policy version below, so what is published here is what is enforced."
    )
    doc.ul(
        [
            ["Policy version: ", Code(policy.version), " (a content hash of the two files below)"],
            ["Sharing policy: ", Code(str(policy_path)), *([f' (labelled "{label}")'] if label else [])],
            ["Agency registry: ", Code(str(registry_path)), f" ({len(agencies)} agencies)"],
        ]
    )

    doc.h(2, "How alerts are shared")
    doc.p(
        "Camera reads are matched against hotlists (stolen vehicles, AMBER alerts, wanted persons, local lists). "
        "A read that matches an entry produces an alert for the agency that took the read, the agency that owns "
        "the list, and agencies that subscribed to it. Each of them other than the reading agency receives the "
        "alert only if the profile of the state where the read was taken allows it: the profile's rules are "
        "tried in order, the first that applies decides, and a share that no rule allows is denied. The reading "
        "agency always receives the alerts of its own reads (rule ",
        Code(OWN_AGENCY_RULE),
        "). Every decision, allow or deny, is recorded with the rule that decided it.",
    )

    doc.h(2, "Jurisdictions")
    for state in sorted(policy.jurisdictions):
        profile = policy.profiles[policy.jurisdictions[state]]
        _jurisdiction(doc, policy, rules, state, profile, agencies, check_interval_ms)
    unmapped = sorted({a.state for a in agencies if a.state and a.state not in policy.jurisdictions})
    if unmapped:
        doc.h(3, "States without a profile: ", ", ".join(unmapped))
        doc.p(
            "Reads taken in ",
            _or(unmapped),
            " (states of registered agencies that no profile governs) are shared with nobody (",
            Code(DenyReason.NO_PROFILE.value),
            "); the reading agency still receives its own alerts. They are kept at most ",
            Strong(f"{DEFAULT_READ_RETENTION_DAYS} days"),
            ".",
        )

    _retention(doc, rules, agencies, check_interval_ms)
    _access(doc)

    doc.h(2, "Fail-closed defaults")
    doc.p("When the policy cannot decide, the share is denied, counted and recorded with the reason:")
    doc.ul([[Code(reason.value), f": {text}."] for reason, text in FAIL_CLOSED.items()])
    doc.p("Published from policy version ", Code(policy.version), ".")
    return doc


def _jurisdiction(
    doc: Document,
    policy: SharingPolicy,
    rules: RetentionRules,
    state: str,
    profile: Profile,
    agencies: list[Agency],
    check_interval_ms: int,
) -> None:
    doc.h(3, f"{state}: profile ", Code(profile.name))
    if profile.description:
        doc.p(profile.description + ".")
    if profile.citation:
        doc.p("Legal basis: ", profile.citation, ".")
    purposes = sorted(profile.purposes)
    doc.p("Purposes a share may serve: ", *_join([Code(p) for p in purposes]), ".")
    limit = rules.read_limit(state)
    doc.p(f"Reads taken in {state} that hit nothing are kept at most ", Strong(_days(limit.ms)), " (see Retention).")
    doc.p("Rules, in order (the first that applies decides; if none applies, the share is denied):")
    doc.ol(
        [
            [Code(r.id), ": ", Strong("allow" if r.allow else "deny"), f" {conditions(r)}. Why: {r.reason}."]
            for r in profile.rules
        ]
    )
    may: list[Inline] = []
    may_not: list[Inline] = []
    for a in agencies:
        d = decide_for_state(profile, state, a)
        (may if d.allowed else may_not).append([*_agency(a), ": rule ", Code(d.rule), f" ({d.reason})"])
    doc.p(
        f"Registered agencies that may receive alerts from reads taken in {state} by another agency (when they "
        "own the matched list or subscribe to it), and the rule that allows it:"
    )
    doc.ul(may or [["none"]])
    doc.p("Registered agencies that may not, and the rule that denies it:")
    doc.ul(may_not or [["none"]])


def _retention(doc: Document, rules: RetentionRules, agencies: list[Agency], check_interval_ms: int) -> None:
    doc.h(2, "Retention")
    doc.p(
        "Kafka deletes data a whole segment at a time, once the segment's newest record is older than the "
        "topic's retention, at its next retention check. Platewatch therefore sets each topic's retention one "
        f"segment (a tenth of the limit, at most a day) and one retention check ({human_ms(check_interval_ms)}) "
        "under the limit, so that nothing can be read past it. ",
        Code("platewatch retention check"),
        " lists any topic that differs; the worker corrects them at start and after every policy change.",
    )
    rows: list[list[Inline]] = []
    states = sorted({*rules.policy.jurisdictions, *(a.state for a in agencies if a.state)})
    for state in states:
        limit = rules.read_limit(state)
        s = within(limit, check_interval_ms)
        rows.append(
            [
                [f"reads taken in {state} that hit nothing (", Code("plate-reads.<ORI>"), ")"],
                [Strong(_days(limit.ms))],
                [limit.basis],
                [f"retention {human_ms(s.retention_ms)}, segments {human_ms(s.segment_ms)}"],
            ]
        )
    shortest = rules.shortest_read_limit()
    s = within(shortest, check_interval_ms)
    rows.append(
        [
            ["dead letters: reads that could not be processed (", Code("plate-reads.dlq"), ")"],
            [Strong(_days(shortest.ms))],
            [shortest.basis],
            [f"retention {human_ms(s.retention_ms)}, segments {human_ms(s.segment_ms)}"],
        ]
    )
    by_limit: dict[int, list[Agency]] = {}
    for a in agencies:
        by_limit.setdefault(rules.alert_limit(a.ori).ms, []).append(a)
    for ms, who in sorted(by_limit.items()):
        s = within(rules.alert_limit(who[0].ori), check_interval_ms)
        whom = "every registered agency" if len(by_limit) == 1 else ", ".join(a.ori for a in who)
        rows.append(
            [
                ["alerts to ", whom, " (", Code("alerts.<ORI>"), ")"],
                [Strong(_days(ms))],
                [
                    f"{ALERT_RETENTION_DAYS} days, shorter when reads of a state with a shorter limit can reach "
                    "the agency"
                ],
                [f"retention {human_ms(s.retention_ms)}, segments {human_ms(s.segment_ms)}"],
            ]
        )
    rows.append(
        [
            ["audit records: one per share decision (", Code("share-audit"), ")"],
            [Strong("until archived")],
            ["the record of access (Civ. Code 1798.90.52)"],
            ["never deleted by the broker (retention unlimited); the operator archives them"],
        ]
    )
    doc.table(["data", "kept at most", "why", "topic settings"], rows)


def _access(doc: Document) -> None:
    doc.h(2, "Access to retained data, and how it is logged")
    doc.p(
        "Each person or system reaches the data through its own broker identity, and the broker enforces "
        "what each identity may do (access lists generated from the registry by ",
        Code("platewatch acls apply"),
        "; an identity without a grant is refused):",
    )
    doc.ul(
        [
            [
                "Reads (",
                Code("plate-reads.<ORI>"),
                "): written only by that agency's camera gateway (",
                Code("ingest-<ORI>"),
                "), read only by the Platewatch worker (",
                Code("platewatch-worker"),
                "). No agency can read them, its own or another's.",
            ],
            [
                "Alerts (",
                Code("alerts.<ORI>"),
                "): read only by that agency (identity ",
                Code("<ORI>"),
                "), and by the auditor and the audit sink, which reconcile deliveries with decisions.",
            ],
            ["Audit records (", Code("share-audit"), "): read only by the auditor and the audit sink."],
            [
                "Dead letters (",
                Code("plate-reads.dlq"),
                "): written by the worker, read only by the administrator (to replay them).",
            ],
        ]
    )
    doc.p(
        "Every share decision is recorded in ",
        Code("share-audit"),
        " with its time, the reading agency, the recipient, the user and organization, the purpose, the "
        "deciding rule and the policy version (Civ. Code 1798.90.52).",
    )
    doc.p(
        "Every access to retained data through Platewatch is logged with its time, the user, the organization, "
        "the purpose, what was accessed (topics, period, agency) and how many records, for example ",
        Code("platewatch tail-alerts --from-beginning"),
        " and ",
        Code("platewatch audit report"),
        ".",
    )


def publish(
    policy: SharingPolicy, policy_path: Path, registry_path: Path, *, fmt: str = "md", label: str | None = None
) -> str:
    """The published policy as Markdown (`md`) or HTML (`html`)."""
    doc = policy_document(policy, policy_path, registry_path, label=label)
    if fmt == "html":
        return render_html(doc)
    if fmt == "md":
        return render_markdown(doc)
    raise ValueError(f"no format {fmt!r}: md or html")
