"""Commands that run against Kafka: worker, topics create, simulate, tail-alerts."""

from __future__ import annotations

import argparse
import asyncio

from streams.ops.logs import configure_logging
from streams.ops.settings import add_settings_arguments, settings_from


def add_service_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = sub.add_parser("worker", help="run a stream worker (reads → match → filter → alerts)")
    add_settings_arguments(worker)
    worker.set_defaults(handler=cmd_worker)

    topics = sub.add_parser("topics", help="set up the Kafka topics")
    tsub = topics.add_subparsers(dest="topics_command", required=True, metavar="ACTION")
    create = tsub.add_parser("create", help="create every topic with its partitions and configs (idempotent)")
    add_settings_arguments(create)
    create.set_defaults(handler=cmd_topics_create)

    sim = sub.add_parser("simulate", help="produce simulated camera reads to plate-reads")
    add_settings_arguments(sim)
    sim.add_argument("--rate", type=int, default=1000, help="reads per second offered")
    sim.add_argument("--seconds", type=float, default=30.0)
    sim.add_argument("--hit-rate", type=float, default=0.01)
    sim.add_argument("--bad-rate", type=float, default=0.0)
    sim.add_argument("--hotlist-size", type=int, default=200_000, help="synthetic NCIC entries to draw hits from")
    sim.add_argument("--seed", type=int, default=1)
    sim.set_defaults(handler=cmd_simulate)

    tail = sub.add_parser("tail-alerts", help="print the alerts one agency receives")
    add_settings_arguments(tail)
    tail.add_argument("--recipient", required=True, help="ORI of the receiving agency")
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument("--limit", type=int, help="stop after this many distinct alerts")
    tail.add_argument("--seconds", type=float, help="stop after this long")
    tail.add_argument("--json", action="store_true", help="print the alert documents")
    access = tail.add_argument_group("who reads retained alerts (with --from-beginning: required, and logged)")
    access.add_argument("--user", dest="setting_access_user", help="your name or id [$PLATEWATCH_ACCESS_USER]")
    access.add_argument("--organization", dest="setting_access_organization", help="your agency (default: --recipient)")
    access.add_argument(
        "--purpose", dest="setting_access_purpose", help="why, e.g. a case number [$PLATEWATCH_ACCESS_PURPOSE]"
    )
    tail.set_defaults(handler=cmd_tail)


def cmd_worker(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    configure_logging(settings.log_level, debug=args.debug, library="throttled")
    from streams.kafka.worker import run_worker

    return run_worker(settings)


def cmd_topics_create(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    from streams.kafka.clients import KafkaClients
    from streams.kafka.topic_setup import create_topics, read_retention_days, topic_specs
    from streams.pipeline.topics import TopicNames
    from streams.policy.store import load_policy

    policy = load_policy(settings.policy_file, settings.registry_file)
    names = TopicNames.with_prefix(settings.topic_prefix)
    specs = topic_specs(settings, names, policy)
    created, present = asyncio.run(create_topics(KafkaClients(settings), settings, specs))
    print(
        f"topics: {len(created)} created, {len(present)} already present "
        f"(plate-reads retention {read_retention_days(policy)} days)"
    )
    for name in created:
        print(f"  created {name}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    from streams.hotlists.index import HotlistIndex
    from streams.sim.camera_feed import FeedSettings
    from streams.sim.sample_hotlists import load_sample_hotlists
    from streams.sim.simulate import simulate

    index = HotlistIndex()
    load_sample_hotlists(index, args.hotlist_size)
    feed = FeedSettings(hit_rate=args.hit_rate, bad_rate=args.bad_rate, seed=args.seed)
    return asyncio.run(simulate(settings, index, feed, rate=args.rate, seconds=args.seconds))


def cmd_tail(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    from streams.kafka.tail_alerts import tail_alerts

    return asyncio.run(
        tail_alerts(
            settings,
            args.recipient,
            from_beginning=args.from_beginning,
            limit=args.limit,
            seconds=args.seconds,
            as_json=args.json,
        )
    )
