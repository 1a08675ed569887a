"""`platewatch retention check|apply`: the topics' retention against the policy's, and fixed.

How long each topic may keep reads and alerts, and why segments count: streams/policy/retention.py.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from streams.ops.settings import Settings, add_settings_arguments, settings_from

if TYPE_CHECKING:
    from streams.kafka.clients import KafkaClients
    from streams.kafka.retention import RetentionReport


def add_retention_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ret = sub.add_parser("retention", help="topic retention against the sharing policy's limits")
    rsub = ret.add_subparsers(dest="retention_command", required=True, metavar="ACTION")
    check = rsub.add_parser("check", help="list every topic out of the retention policy (exit 0: none, 1: some)")
    add_settings_arguments(check)
    check.set_defaults(handler=cmd_check)
    apply = rsub.add_parser("apply", help="set the retention of every topic out of policy (other settings stay)")
    add_settings_arguments(apply)
    apply.set_defaults(handler=cmd_apply)


def _report(settings: Settings) -> tuple[KafkaClients, RetentionReport]:
    from streams.kafka.clients import KafkaClients
    from streams.kafka.retention import check_retention, raise_if_denied
    from streams.pipeline.topics import TopicNames
    from streams.policy.store import load_policy

    policy = load_policy(settings.policy_file, settings.registry_file)
    clients = KafkaClients(settings)
    names = TopicNames.with_prefix(settings.topic_prefix)
    report = asyncio.run(check_retention(clients, names, policy, single_topic=settings.ingest == "single_topic"))
    raise_if_denied(report)
    return clients, report


def _print(report: RetentionReport, verb: str) -> None:
    for drift in report.drifts:
        print(drift.describe())
    for topic, why in report.unreadable.items():
        print(f"{topic}: settings unreadable: {why}")
    missing = f"; {len(report.missing)} not created yet (`platewatch topics create`)" if report.missing else ""
    print(
        f"{report.out_of_policy} of {len(report.present)} topics {verb} the retention policy "
        f"(policy version {report.policy_version}){missing}"
    )


def cmd_check(args: argparse.Namespace) -> int:
    _, report = _report(settings_from(args))
    _print(report, "out of")
    return 1 if report.out_of_policy else 0


def cmd_apply(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    from streams.kafka.retention import apply_retention, raise_if_denied

    clients, report = _report(settings)
    _print(report, "out of")
    if not report.drifts:
        return 0 if not report.out_of_policy else 1
    applied = asyncio.run(apply_retention(clients, report.drifts))
    raise_if_denied(applied)
    for topic in applied.changed:
        print(f"  set {topic}")
    for topic, why in applied.failed.items():
        print(f"  refused {topic}: {why}")
    _, after = _report(settings)
    print(f"after: {after.out_of_policy} of {len(after.present)} topics out of the retention policy")
    return 1 if after.out_of_policy else 0
