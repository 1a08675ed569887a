"""`platewatch demo`: the pipeline on embedded defaults, or through Kafka with a real worker (`--kafka`)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from streams.ops.settings import add_settings_arguments


def add_demo_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo", help="run the pipeline on an embedded default, no services needed")
    demo.add_argument("--seconds", type=float, default=20.0, help="stop after this long (default 20)")
    demo.add_argument("--rate", type=int, default=2000, help="simulated reads per second (default 2000)")
    demo.add_argument("--hit-rate", type=float, default=0.002, help="share of reads on a hotlist")
    demo.add_argument("--bad-rate", type=float, default=0.001, help="share of malformed reads")
    demo.add_argument("--hotlist-size", type=int, default=200_000, help="synthetic NCIC entries")
    demo.add_argument("--metrics-port", type=int, default=9464, help="serve /metrics here (0: off)")
    demo.add_argument("--max-alerts-shown", type=int, default=25)
    demo.add_argument("--kafka", action="store_true", help="run through Kafka (settings below) with a real worker")
    add_settings_arguments(demo)
    demo.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.kafka:
        from streams.sim.kafka_demo import run_demo_on_kafka

        return run_demo_on_kafka(args)
    from streams.sim.demo import run_demo

    return asyncio.run(run_demo(args, sys.stdout))
