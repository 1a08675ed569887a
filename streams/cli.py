"""The `platewatch` command line: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from streams.hotlist_cli import add_hotlist_commands
from streams.policy_cli import add_policy_commands

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="platewatch",
        description="License plate reads → hotlist match → jurisdiction filter → per-recipient alerts.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="run the pipeline on an embedded default, no services needed")
    demo.set_defaults(handler=_demo_not_built)
    add_hotlist_commands(sub)
    add_policy_commands(sub)
    return parser


def _demo_not_built(args: argparse.Namespace) -> int:
    print("platewatch demo: the stream service is not built yet (see the stream-service issue).")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
