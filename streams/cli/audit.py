"""`platewatch audit`: the audit store (sink, migrate, prune) and what auditors run on it (report, verify).

Each subcommand is added by its own function below (`_add_sink`, `_add_migrate`, `_add_prune`, ...), so
the group grows one command at a time; handlers import SQLAlchemy and Kafka when they run.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from streams.ops.settings import add_settings_arguments, settings_from

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def add_audit_commands(sub: SubParsers) -> SubParsers:
    """The `audit` group; returns its subparsers so more commands can be added to it."""
    audit = sub.add_parser("audit", help="the audit store: sink share-audit into SQL, migrate, prune, report, verify")
    asub: SubParsers = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    _add_sink(asub)
    _add_migrate(asub)
    _add_prune(asub)
    return asub


# -- audit sink -------------------------------------------------------------------------------------


def _add_sink(asub: SubParsers) -> None:
    sink = asub.add_parser(
        "sink",
        help="store share-audit, alerts.<ORI>, batch-counts and access-log records in the audit store (idempotent)",
    )
    add_settings_arguments(sink)
    sink.set_defaults(handler=cmd_sink)


def cmd_sink(args: argparse.Namespace) -> int:
    settings_from(args)
    from streams.errors import ConfigurationError

    raise ConfigurationError("audit sink is not available yet")


# -- audit migrate ----------------------------------------------------------------------------------


def _add_migrate(asub: SubParsers) -> None:
    migrate = asub.add_parser("migrate", help="create or upgrade the audit store's tables (run as the owner)")
    add_settings_arguments(migrate)
    migrate.set_defaults(handler=cmd_migrate)


def cmd_migrate(args: argparse.Namespace) -> int:
    settings_from(args)
    from streams.errors import ConfigurationError

    raise ConfigurationError("audit migrate is not available yet")


# -- audit prune ------------------------------------------------------------------------------------


def _add_prune(asub: SubParsers) -> None:
    prune = asub.add_parser("prune", help="delete audit rows older than the retention (run as the owner)")
    prune.add_argument("--before", required=True, help="delete rows older than this date (ISO 8601)")
    add_settings_arguments(prune)
    prune.set_defaults(handler=cmd_prune)


def cmd_prune(args: argparse.Namespace) -> int:
    settings_from(args)
    from streams.errors import ConfigurationError

    raise ConfigurationError("audit prune is not available yet")
