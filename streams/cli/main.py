"""The `platewatch` command line: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from streams.cli.hotlist import add_hotlist_commands
from streams.cli.policy import add_policy_commands
from streams.cli.service import add_service_commands
from streams.sim.demo import add_demo_command

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="platewatch",
        description="License plate reads → hotlist match → jurisdiction filter → per-recipient alerts.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_demo_command(sub)
    add_hotlist_commands(sub)
    add_policy_commands(sub)
    add_service_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
