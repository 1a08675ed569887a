"""The `platewatch` command line: one entry point, a module per command group.

This is the only place that turns an error into a message and an exit status (codes in
`streams.errors`): one line on stderr that says what failed and what to do, and a traceback only
with `--debug`. Command modules import Kafka, faust-free worker code, numpy and the like inside
their handlers, so `platewatch --help` and `platewatch policy check` start fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from streams.cli.access import add_access_commands
from streams.cli.audit import add_audit_commands
from streams.cli.demo import add_demo_command
from streams.cli.dlq import add_dlq_commands
from streams.cli.hotlist import add_hotlist_commands
from streams.cli.policy import add_policy_commands
from streams.cli.retention import add_retention_commands
from streams.cli.service import add_service_commands
from streams.errors import EXIT_INTERNAL, PlatewatchError
from streams.ops.logs import configure_logging

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="platewatch",
        description="License plate reads → hotlist match → jurisdiction filter → per-recipient alerts.",
        epilog="exit codes: 0 done, 1 a check said no, 2 usage or configuration, 3 Kafka unreachable, "
        "4 refused input, 5 denied by the broker, 70 internal error",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_access_commands(sub)
    add_audit_commands(sub)
    add_demo_command(sub)
    add_dlq_commands(sub)
    add_hotlist_commands(sub)
    add_policy_commands(sub)
    add_retention_commands(sub)
    add_service_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # anywhere on the line, not only before the command
    parser = build_parser()
    args = parser.parse_args([a for a in argv if a != "--debug"])  # usage errors: argparse's message, exit 2
    args.debug = debug
    configure_logging(debug=debug)  # services reconfigure with their own level
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except PlatewatchError as exc:
        if args.debug:
            raise
        print(f"platewatch {args.command}: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except SystemExit:
        raise
    except BaseException as exc:  # a bug (or a cancelled task under it): one line, the rest with --debug
        if args.debug:
            raise
        logging.getLogger("streams").debug("internal error", exc_info=True)
        print(
            f"platewatch {args.command}: internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}; "
            "run again with --debug for the traceback and report it",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
