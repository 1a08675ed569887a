"""`platewatch acls plan|apply` and `platewatch identities rotate`: the broker made to enforce the registry."""

from __future__ import annotations

import argparse

from streams.ops.settings import Settings, add_settings_arguments, settings_from


def add_access_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    acls = sub.add_parser("acls", help="broker users and ACLs computed from the registry and the policy")
    asub = acls.add_subparsers(dest="acls_command", required=True, metavar="ACTION")
    plan = asub.add_parser("plan", help="show what would change on the broker (exit 0: none, 1: changes)")
    add_settings_arguments(plan)
    plan.set_defaults(handler=cmd_plan)
    apply = asub.add_parser("apply", help="make the broker's users and ACLs match the plan")
    add_settings_arguments(apply)
    apply.set_defaults(handler=cmd_apply)

    ids = sub.add_parser("identities", help="the broker identities (SCRAM users) Platewatch manages")
    isub = ids.add_subparsers(dest="identities_command", required=True, metavar="ACTION")
    rotate = isub.add_parser("rotate", help="give a user a new password (stored in its credentials file)")
    rotate.add_argument("user", help="the SCRAM user, e.g. platewatch-worker or an agency's ORI")
    add_settings_arguments(rotate)
    rotate.set_defaults(handler=cmd_rotate)


def _plan(settings: Settings):  # type: ignore[no-untyped-def]
    from streams.access.grants import Deployment
    from streams.access.plan import plan_access
    from streams.kafka.access_admin import BrokerAccess
    from streams.kafka.clients import KafkaClients
    from streams.pipeline.topics import TopicNames
    from streams.policy.store import load_policy

    policy = load_policy(settings.policy_file, settings.registry_file)
    deployment = Deployment(
        TopicNames.with_prefix(settings.topic_prefix),
        worker_group=settings.group_id,
        audit_group=settings.audit_group_id,
        prefix=settings.topic_prefix,
    )
    broker = BrokerAccess(KafkaClients(settings), settings.credentials_dir)
    return broker, plan_access(policy, deployment, broker.live_bindings(), broker.live_users())


def cmd_plan(args: argparse.Namespace) -> int:
    _, plan = _plan(settings_from(args))
    print(plan.render())
    return 0 if plan.empty else 1


def cmd_apply(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    broker, plan = _plan(settings)
    print(plan.render())
    if plan.empty:
        return 0
    written = broker.apply(plan)
    print(f"applied; {len(written)} new credentials stored in {settings.credentials_dir} (mode 0600)")
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    from streams.kafka.access_admin import BrokerAccess
    from streams.kafka.clients import KafkaClients

    path = BrokerAccess(KafkaClients(settings), settings.credentials_dir).rotate(args.user)
    print(f"{args.user}: new password stored in {path} (mode 0600); open sessions end at their next re-authentication")
    return 0
