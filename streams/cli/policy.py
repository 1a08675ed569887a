"""`platewatch policy check|explain|publish`: validate policy files, ask why a share is decided, and
publish the usage and privacy policy they enforce (Civ. Code 1798.90.51)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streams.errors import InputRefusedError
from streams.policy.config_files import ConfigFileError, load_validated, parse_document
from streams.policy.store import DEFAULT_POLICY, DEFAULT_REGISTRY, POLICY_SCHEMA, REGISTRY_SCHEMA, load_policy


def add_policy_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pol = sub.add_parser("policy", help="check sharing policy files and explain decisions")
    psub = pol.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    check = psub.add_parser("check", help="validate a policy or agency-registry file")
    check.add_argument("file", type=Path)
    check.add_argument("--registry", type=Path, help="with a policy file: check the pair together")
    check.set_defaults(handler=cmd_check)
    explain = psub.add_parser("explain", help="the decision for a reader and a recipient, and its rule")
    explain.add_argument("--reader", required=True, help="ORI of the agency that took the read")
    explain.add_argument("--recipient", required=True, help="ORI of the agency that would get the alert")
    explain.add_argument("--purpose", default="hotlist_alert")
    explain.add_argument("--policy", type=Path, default=DEFAULT_POLICY)
    explain.add_argument("--registry", type=Path, default=DEFAULT_REGISTRY)
    explain.set_defaults(handler=cmd_explain)
    publish = psub.add_parser(
        "publish", help="the usage and privacy policy (Civ. Code 1798.90.51) from the files in force, stamped"
    )
    publish.add_argument(
        "--format", choices=("md", "html"), default="md", help="Markdown, or one self-contained HTML file"
    )
    publish.add_argument("--output", type=Path, help="write it to this file (default: standard output)")
    publish.add_argument("--policy", type=Path, default=DEFAULT_POLICY)
    publish.add_argument("--registry", type=Path, default=DEFAULT_REGISTRY)
    publish.set_defaults(handler=cmd_publish)


def cmd_check(args: argparse.Namespace) -> int:
    try:
        doc, _ = parse_document(args.file.read_text(encoding="utf-8"), str(args.file))
        is_registry = isinstance(doc, dict) and "agencies" in doc
        if is_registry:
            load_validated(args.file, REGISTRY_SCHEMA)
            print(f"{args.file}: valid agency registry ({len(doc['agencies'])} agencies)")
        else:
            load_policy(args.file, args.registry or DEFAULT_REGISTRY)
            load_validated(args.file, POLICY_SCHEMA)
            print(f"{args.file}: valid sharing policy")
    except ConfigFileError as exc:
        for problem in exc.problems:  # every problem, each with its line: the command's purpose
            print(f"{exc.source}: {problem}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        raise InputRefusedError(f"{args.file}: {exc.strerror}") from None
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy, args.registry)
    d = policy.decide(args.reader, args.recipient, args.purpose)
    print(f"{'ALLOW' if d.allowed else 'DENY'}  {args.reader} -> {args.recipient}  purpose {args.purpose}")
    print(f"  rule:    {d.rule}")
    print(f"  reason:  {d.reason}")
    print(f"  profile: {d.profile or '-'}   policy version: {d.policy_version}")
    return 0 if d.allowed else 1


def cmd_publish(args: argparse.Namespace) -> int:
    from streams.policy.publish import publish

    policy = load_policy(args.policy, args.registry)  # validated: refused files exit 4, as everywhere
    doc, _, _ = load_validated(args.policy, POLICY_SCHEMA)
    label = doc.get("version")
    text = publish(
        policy, args.policy.resolve(), args.registry.resolve(), fmt=args.format, label=str(label) if label else None
    )
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputRefusedError(f"{args.output}: cannot write: {exc.strerror}") from None
    print(f"{args.output}: policy version {policy.version} published ({args.format})", file=sys.stderr)
    return 0
