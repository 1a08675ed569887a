"""`platewatch audit`: the audit store (sink, migrate, prune) and what auditors run on it (report, verify).

Each subcommand is added by its own function below (`_add_sink`, `_add_migrate`, `_add_prune`, ...), so
the group grows one command at a time; handlers import SQLAlchemy and Kafka when they run.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from streams.ops.logs import configure_logging
from streams.ops.settings import add_settings_arguments, settings_from

if TYPE_CHECKING:
    from sqlalchemy import Engine

    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def add_audit_commands(sub: SubParsers) -> SubParsers:
    """The `audit` group; returns its subparsers so more commands can be added to it."""
    audit = sub.add_parser("audit", help="the audit store: sink share-audit into SQL, migrate, prune, report, verify")
    asub: SubParsers = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    _add_sink(asub)
    _add_migrate(asub)
    _add_prune(asub)
    _add_report(asub)
    _add_verify(asub)
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
    settings = settings_from(args)
    configure_logging(settings.log_level, debug=args.debug, library="throttled")
    from streams.kafka.audit_sink import run_sink

    return run_sink(settings)


# -- audit migrate ----------------------------------------------------------------------------------


def _add_migrate(asub: SubParsers) -> None:
    migrate = asub.add_parser("migrate", help="create or upgrade the audit store's tables (run as the owner)")
    add_settings_arguments(migrate)
    migrate.set_defaults(handler=cmd_migrate)


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    from streams.audit.store import AuditStore, display_url, migrate

    store = AuditStore.open(settings.audit_db_url)
    try:
        before, after = migrate(store.engine)
    finally:
        store.close()
    where = display_url(settings.audit_db_url)
    if before == after:
        print(f"audit store {where}: at revision {after}, nothing to do")
    else:
        print(f"audit store {where}: migrated from {before or 'empty'} to {after}")
    return 0


# -- audit prune ------------------------------------------------------------------------------------


def _add_prune(asub: SubParsers) -> None:
    prune = asub.add_parser("prune", help="delete audit rows older than the retention (run as the owner)")
    prune.add_argument("--before", required=True, help="delete rows older than this date (ISO 8601, UTC)")
    prune.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")
    add_settings_arguments(prune)
    prune.set_defaults(handler=cmd_prune)


def cmd_prune(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    import datetime as dt

    from streams.audit.store import AuditStore, display_url, ensure_current
    from streams.errors import ConfigurationError

    try:
        before = dt.datetime.fromisoformat(args.before.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigurationError(f"--before {args.before!r} is not an ISO 8601 date (e.g. 2019-01-01)") from None
    store = AuditStore.open(settings.audit_db_url)
    try:
        ensure_current(store.engine, migrate_sqlite=False)
        pruned = store.prune(
            before, retention_days=settings.audit_retention_days, now=dt.datetime.now(dt.UTC), dry_run=args.dry_run
        )
    finally:
        store.close()
    verb = "would delete" if pruned.dry_run else "deleted"
    print(
        f"audit store {display_url(settings.audit_db_url)}: {verb} {sum(pruned.removed.values())} rows older than "
        f"{before.date().isoformat()} (retention {settings.audit_retention_days} days)"
    )
    for table, n in pruned.removed.items():
        print(f"  {n} from {table}")
    return 0


# -- audit report -----------------------------------------------------------------------------------

REPORT_FORMATS = ("html", "md", "csv", "json")  # streams.audit.render.FORMATS (not imported: fast --help)


def _add_period(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from", dest="start", required=True, metavar="WHEN",
        help="start of the period, included: a date (2026-11-01) or an ISO 8601 time (UTC unless it has an offset)",
    )  # fmt: skip
    parser.add_argument(
        "--to", dest="end", required=True, metavar="WHEN",
        help="end of the period, excluded; a bare date means the end of that day (--to 2026-11-30: all of it)",
    )  # fmt: skip


def _add_report(asub: SubParsers) -> None:
    report = asub.add_parser(
        "report",
        help="the compliance report of a period: reads and hits, alerts per recipient and state, denials, every "
        "share outside the read's state or with federal or private recipients, policy versions (recorded as an "
        "access)",
    )
    _add_period(report)
    report.add_argument("--agency", default="", metavar="ORI", help="only reads taken by this agency")
    report.add_argument("--format", choices=REPORT_FORMATS, default="html", help="html (default), md, csv or json")
    report.add_argument("--output", metavar="FILE", help="write the report here (default: standard output)")
    report.add_argument("--user", help="who reads the report, recorded in the access log [access_user]")
    report.add_argument(
        "--purpose", help="why, e.g. an audit or case number, recorded in the access log [access_purpose]"
    )
    report.add_argument("--organization", help="the reader's agency or organization [access_organization]")
    add_settings_arguments(report)
    report.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    """Exit 0 with the report written; 2 without --user/--purpose or with a bad period; 3 store unreachable."""
    settings = settings_from(args)
    import re
    import sys
    from pathlib import Path

    from streams.audit.period import parse_period
    from streams.audit.render import render
    from streams.audit.report import Accessor, run_report
    from streams.audit.store import display_url
    from streams.errors import ConfigurationError
    from streams.policy.store import load_policy

    period = parse_period(args.start, args.end)
    if args.agency and not re.fullmatch(r"[A-Z0-9]{9}", args.agency):
        raise ConfigurationError(f"--agency {args.agency!r} is not an ORI (nine capital letters and digits)")
    accessor = Accessor(
        args.user or settings.access_user,
        args.purpose or settings.access_purpose,
        args.organization or settings.access_organization,
    )
    registry = load_policy(settings.policy_file, settings.registry_file).registry
    engine = _existing_store(settings.audit_db_url)
    try:
        report = run_report(engine, period, registry, accessor, agency=args.agency)
    finally:
        engine.dispose()
    text = render(report, args.format)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        totals = report.totals()
        print(
            f"audit report {period.start} .. {period.end} from {display_url(settings.audit_db_url)} → {args.output}: "
            f"{totals['decisions']} decisions, {totals['alerts_sent']} alerts sent, {totals['denials']} denied, "
            f"{totals['shared_outside_state']} outside the read's state, {totals['shared_federal_or_private']} "
            "with federal or private recipients"
        )
    else:
        sys.stdout.write(text)
    return 0


def _existing_store(url: str) -> Engine:
    """An engine on a store that has its tables (a reader never creates nor migrates one)."""
    from pathlib import Path

    from sqlalchemy import make_url

    from streams.audit.store import current_revision, display_url, engine_for
    from streams.errors import ConfigurationError

    parsed = make_url(url) if url.startswith("sqlite") else None
    if parsed is not None and parsed.database and not Path(parsed.database).exists():
        raise ConfigurationError(f"there is no audit store at {display_url(url)}", hint="check --audit-db-url")
    engine = engine_for(url)
    if current_revision(engine) is None:
        engine.dispose()
        raise ConfigurationError(
            f"the audit store {display_url(url)} has no tables", hint="run `platewatch audit migrate`, then the sink"
        )
    return engine


# -- audit verify -----------------------------------------------------------------------------------


def _add_verify(asub: SubParsers) -> None:
    verify = asub.add_parser(
        "verify",
        help="reconcile deliveries with decisions: every alert delivered had exactly one allow decision and none "
        "went to a denied recipient (exit 1 on any mismatch; at-least-once duplicates are counted, not failed)",
    )
    _add_period(verify)
    add_settings_arguments(verify)
    verify.set_defaults(handler=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    """Exit 0 when every delivery of the period matches one allow decision (duplicates alone included),
    1 on any mismatch, each listed with its topic/partition/offset, alert id, recipient and why."""
    settings = settings_from(args)
    from streams.audit.period import parse_period
    from streams.audit.store import reaching
    from streams.audit.verify import verify
    from streams.errors import EXIT_NO, EXIT_OK

    period = parse_period(args.start, args.end)
    engine = _existing_store(settings.audit_db_url)
    try:
        with reaching(engine, "read deliveries and decisions"), engine.connect() as conn:
            result = verify(conn, period)
    finally:
        engine.dispose()
    print("\n".join(result.lines()))
    return EXIT_OK if result.ok else EXIT_NO
