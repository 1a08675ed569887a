"""`platewatch dlq replay`: re-process dead letters through the same filter, audit and delivery."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt

from streams.errors import ConfigurationError
from streams.ops.settings import add_settings_arguments, settings_from


def add_dlq_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlq = sub.add_parser("dlq", help="dead letters: replay them once their cause is fixed")
    dsub = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    replay = dsub.add_parser("replay", help="produce dead letters back to their source topic")
    replay.add_argument("--reason", help="only letters with this reason (e.g. internal_error)")
    replay.add_argument("--since", help="only letters written at or after this time (ISO 8601, e.g. 2026-11-29T10:00Z)")
    replay.add_argument("--limit", type=int, help="replay at most this many")
    replay.add_argument("--dry-run", action="store_true", help="count what would be replayed, send nothing")
    add_settings_arguments(replay)
    replay.set_defaults(handler=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    since_ms = 0
    if args.since:
        try:
            since = dt.datetime.fromisoformat(args.since.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigurationError(f"--since {args.since!r} is not an ISO 8601 time") from None
        since_ms = int((since if since.tzinfo else since.replace(tzinfo=dt.UTC)).timestamp() * 1000)
    from streams.kafka.clients import KafkaClients
    from streams.kafka.dlq_replay import replay_dead_letters
    from streams.pipeline.topics import TopicNames

    report = asyncio.run(
        replay_dead_letters(
            KafkaClients(settings),
            TopicNames.with_prefix(settings.topic_prefix),
            reason=args.reason,
            since_ms=since_ms,
            limit=args.limit,
            dry_run=args.dry_run,
        )
    )
    print(("dry run: " if args.dry_run else "") + report.summary())
    for topic, n in report.by_topic.items():
        print(f"  {n} to {topic}")
    return 0
