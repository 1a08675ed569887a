"""`platewatch policy publish`: the usage and privacy policy rendered from the files in force."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from streams.cli.main import main
from streams.policy.jurisdiction_filter import DenyReason, SharingPolicy
from streams.policy.publish import FAIL_CLOSED, decide_for_state, publish
from streams.policy.store import DEFAULT_POLICY, DEFAULT_REGISTRY, load_policy

VOID = {"meta", "br", "hr", "img", "link", "input"}


class Parsed(HTMLParser):
    """Tags, attributes and text of a document; fails on an end tag that closes nothing open."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(text: str) -> Parsed:
    parsed = Parsed()
    parsed.feed(text)
    parsed.close()
    assert parsed.open == [], f"unclosed: {parsed.open}"
    return parsed


@pytest.fixture(scope="module")
def policy() -> SharingPolicy:
    return load_policy(DEFAULT_POLICY, DEFAULT_REGISTRY)


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_it_names_every_profile_rule_retention_and_the_version(policy: SharingPolicy, fmt: str) -> None:
    out = publish(policy, DEFAULT_POLICY, DEFAULT_REGISTRY, fmt=fmt)
    text = "".join(parse(out).text) if fmt == "html" else out.replace("\\", "")
    assert policy.version in text and str(DEFAULT_POLICY) in text and str(DEFAULT_REGISTRY) in text
    for state, name in policy.jurisdictions.items():
        profile = policy.profiles[name]
        assert f"{state}: profile {name}" in text.replace("`", "")
        for rule in profile.rules:
            assert rule.id in text and rule.reason in text
    assert "kept at most 60 days" in text.replace("*", "")  # CA, us-ca-sb34
    assert re.search(r"reads taken in VA that hit nothing.*21 days", text.replace("*", ""))
    assert re.search(r"reads taken in AZ that hit nothing.*21 days", text.replace("*", ""))  # no profile
    assert "AZ, DC, MD" in text  # registered agencies' states without a profile
    assert "7 days" in text and "share-audit" in text  # alerts, audit records
    for reason in FAIL_CLOSED:
        assert reason.value in text
    for agency in policy.registry:  # everyone is placed on one side for each jurisdiction
        assert text.count(agency.ori) >= len(policy.jurisdictions)
    assert "tail-alerts --from-beginning" in text and "audit report" in text


def test_who_may_and_may_not_receive_alerts_with_the_rule(policy: SharingPolicy) -> None:
    out = publish(policy, DEFAULT_POLICY, DEFAULT_REGISTRY, fmt="md")
    ca = out[out.index("### CA") : out.index("### VA")]
    may, may_not = ca.split("that may not", 1)
    assert "`CA0373700`" in may and "`sb34.ca-public-agency`" in may  # San Diego PD
    assert "`DCICE0000`" in may_not and "`sb34.federal`" in may_not  # ICE
    assert "`CAPRV0001`" in may_not and "`sb34.private`" in may_not  # a repossession company
    assert "`VAVSP0000`" not in may and "`sb34.out-of-state`" in may_not
    assert "when the recipient is in CA and is a local agency, a county agency or a state agency" in ca


def test_the_published_decisions_are_the_enforced_ones(policy: SharingPolicy) -> None:
    for reader in policy.registry:
        profile = policy.profile_for_state(reader.state)
        if profile is None:
            continue
        for recipient in policy.registry:
            if recipient.ori == reader.ori:
                continue
            enforced = policy.decide(reader.ori, recipient.ori)
            published = decide_for_state(profile, reader.state, recipient)
            assert (published.allowed, published.rule) == (enforced.allowed, enforced.rule)


def test_every_fail_closed_reason_is_published() -> None:
    assert set(FAIL_CLOSED) == set(DenyReason) - {DenyReason.RULE}


def test_html_is_one_self_contained_file(policy: SharingPolicy) -> None:
    out = publish(policy, DEFAULT_POLICY, DEFAULT_REGISTRY, fmt="html")
    parsed = parse(out)
    assert parsed.tags[:2] == ["html", "head"] and "style" in parsed.tags
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(parsed.tags)
    assert not {name for name, _ in parsed.attrs} & {"src", "href", "srcset", "action"}
    assert "<script" not in out.lower()
    assert not re.search(r"https?:|//[a-z]|url\(|@import|@font-face", out, re.IGNORECASE)


def test_text_from_the_files_is_escaped(tmp_path: Path) -> None:
    hostile = "<script>alert(1)</script> | *x* `y`"
    doc = {
        "jurisdictions": {"TX": "tx-test"},
        "profiles": {
            "tx-test": {"description": hostile, "rules": [{"id": "tx.any", "effect": "allow", "reason": hostile}]}
        },
    }
    policy = SharingPolicy(doc, yaml.safe_load(DEFAULT_REGISTRY.read_text()))
    out = publish(policy, tmp_path / "p.yaml", DEFAULT_REGISTRY, fmt="html")
    assert "<script" not in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    parse(out)
    md = publish(policy, tmp_path / "p.yaml", DEFAULT_REGISTRY, fmt="md")
    assert "\\<script\\>" in md and "\\| \\*x\\* \\`y\\`" in md


def test_the_command_stamps_the_version_of_the_files_it_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(DEFAULT_POLICY.read_text())
    out = tmp_path / "policy.html"
    args = ["policy", "publish", "--policy", str(policy_file), "--registry", str(DEFAULT_REGISTRY)]
    assert main([*args, "--format", "html", "--output", str(out)]) == 0
    before = load_policy(policy_file, DEFAULT_REGISTRY).version
    assert before in out.read_text() and str(policy_file) in out.read_text()

    doc = yaml.safe_load(policy_file.read_text())
    doc["jurisdictions"]["AZ"] = "permissive"
    policy_file.write_text(yaml.safe_dump(doc))
    assert main(args) == 0  # Markdown on standard output
    md = capsys.readouterr().out
    after = load_policy(policy_file, DEFAULT_REGISTRY).version
    assert after != before and after in md and before not in md
    assert "### AZ: profile `permissive`" in md and "permissive.any-registered" in md

    policy_file.write_text("jurisdictions: {CA: no-such-profile}\n")
    assert main(args) == 4  # a refused file publishes nothing
    assert capsys.readouterr().out == ""
