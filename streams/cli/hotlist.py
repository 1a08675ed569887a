"""`platewatch hotlist load|stats|export` and `platewatch match`: operators' view of the index."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from streams.errors import ConfigurationError, InputRefusedError
from streams.hotlists.loaders import HotlistFileError, LoadReport, read_file
from streams.hotlists.model import HotlistInfo, MatchQuery, StateMatch
from streams.ops.settings import add_settings_arguments, settings_from

if TYPE_CHECKING:  # numpy and roaring load only for the commands that build an index
    from streams.hotlists.index import HotlistIndex


def add_hotlist_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hot = sub.add_parser("hotlist", help="load, inspect and export hotlists")
    hsub = hot.add_subparsers(dest="hotlist_command", required=True, metavar="ACTION")

    load = hsub.add_parser("load", help="check a hotlist file and report its rows (and publish it)")
    load.add_argument("file", type=Path)
    _list_options(load)
    load.add_argument("--format", choices=["auto", "ncic", "csv"], default="auto")
    load.add_argument("--append", action="store_true", help="add to the list instead of replacing it")
    load.add_argument("--strict", action="store_true", help="refuse the whole file at its first bad row")
    load.add_argument(
        "--publish", action="store_true", help="publish the list to hotlist-updates (implied by --bootstrap-servers)"
    )
    add_settings_arguments(load)
    load.set_defaults(handler=cmd_load)

    stats = hsub.add_parser("stats", help="entries per list")
    _source_options(stats)
    stats.set_defaults(handler=cmd_stats)

    export = hsub.add_parser("export", help="write entries as a file `hotlist load` reads back whole")
    _source_options(export)
    export.add_argument("--only", help="export one list")
    export.add_argument(
        "--format",
        choices=["csv", "ncic"],
        default="csv",
        help="csv: every field of every entry; ncic: the fixed-width LPR extract, NCIC fields only",
    )
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")
    export.set_defaults(handler=cmd_export)

    match = sub.add_parser("match", help="would this read hit, and why?")
    match.add_argument("plate")
    match.add_argument("--state", default="")
    match.add_argument("--candidate", action="append", default=[], help="a further OCR candidate")
    match.add_argument("--time", type=int, help="read time, seconds since the epoch (default: now)")
    _source_options(match)
    match.set_defaults(handler=cmd_match)


def _list_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--list", dest="list_id", required=True, help="list id, e.g. ncic or local-bolo")
    p.add_argument("--name", help="display name (default: the id)")
    p.add_argument("--owner-ori", default="", help="ORI of the agency that owns the list")
    p.add_argument("--priority", type=int, default=50, help="0 (highest) .. 100")
    p.add_argument("--ocr-tolerance", type=int, default=1, help="look-alike changes allowed, 0..2")
    p.add_argument("--state-match", choices=[m.value for m in StateMatch], default="flag")


def _source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--hotlist",
        action="append",
        default=[],
        metavar="LIST=FILE",
        help="load FILE as list LIST (repeatable); format detected",
    )


def _info(args: argparse.Namespace) -> HotlistInfo:
    return HotlistInfo(
        list_id=args.list_id,
        name=args.name or args.list_id,
        owner_ori=args.owner_ori,
        priority=args.priority,
        ocr_tolerance=args.ocr_tolerance,
        state_match=StateMatch(args.state_match),
    )


def load_files(index: HotlistIndex, specs: list[str]) -> list[LoadReport]:
    reports = []
    for spec in specs:
        list_id, sep, path = spec.partition("=")
        if not sep:
            raise ConfigurationError(f"--hotlist wants LIST=FILE, got {spec!r}")
        report = LoadReport()
        index.load_entries(read_file(Path(path), list_id, report), replace_lists=[list_id])
        reports.append(report)
    return reports


def cmd_load(args: argparse.Namespace) -> int:
    publish = args.publish or args.setting_bootstrap_servers is not None
    settings = settings_from(args) if publish else None  # a bad setting is refused before the file is read
    report = LoadReport()
    started = time.perf_counter()
    try:
        entries = list(read_file(args.file, args.list_id, report, fmt=args.format, strict=args.strict))
    except HotlistFileError as exc:
        raise InputRefusedError(f"{args.file}:{exc.line}: {exc.reason}", hint="nothing loaded (--strict)") from None
    except (OSError, ValueError) as exc:
        raise InputRefusedError(f"{args.file}: {exc}") from None
    for error in report.errors:
        print(f"{args.file}:{error.line}: {error.reason}", file=sys.stderr)
    print(f"{args.file}: {report.summary()} in {time.perf_counter() - started:.2f}s")
    if settings is not None:
        from streams.kafka.clients import KafkaClients
        from streams.kafka.hotlist_publish import publish_list
        from streams.pipeline.topics import TopicNames

        topic = TopicNames.with_prefix(settings.topic_prefix).hotlist_updates
        clients = KafkaClients(settings)
        published = publish_list(clients, _info(args), entries, replace=not args.append, topic=topic)
        print(f"published {published.upserts} updates and {published.removals} removals to {topic}")
    return 0 if report.loaded or not report.rows else 1


def cmd_stats(args: argparse.Namespace) -> int:
    from streams.hotlists.index import HotlistIndex

    index = HotlistIndex()
    load_files(index, args.hotlist)
    for s in index.stats():
        i = s.info
        print(
            f"{i.list_id:<20} {s.entries:>10} entries  priority {i.priority:>3}  "
            f"ocr tolerance {i.ocr_tolerance}  state {i.state_match.value}"
        )
    print(f"{'total':<20} {len(index):>10} entries")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from streams.hotlists.export import export
    from streams.hotlists.index import HotlistIndex

    index = HotlistIndex()
    load_files(index, args.hotlist)
    out = args.output.open("w", encoding="utf-8", newline="") if args.output else sys.stdout
    try:
        report = export(index, out, args.format, list_id=args.only)
    finally:
        if args.output:
            out.close()
    print(report.summary(), file=sys.stderr)
    return 0


def cmd_match(args: argparse.Namespace) -> int:
    from streams.hotlists.index import HotlistIndex
    from streams.hotlists.updates import entry_to_json

    index = HotlistIndex()
    load_files(index, args.hotlist)
    read = MatchQuery("cli", args.plate, args.state.upper(), args.time or int(time.time()), tuple(args.candidate))
    hits = index.match_reads([read])
    if not hits:
        print(f"no hit for {args.plate!r} (state {args.state or 'unknown'}) in {len(index)} entries")
        return 1
    for h in hits:
        why = (
            "exact match"
            if not h.differing_positions
            else (
                f"look-alike match: positions {', '.join(str(p + 1) for p in h.differing_positions)} differ "
                f"({h.matched_plate} read, {h.entry.plate} listed) - verify visually"
            )
        )
        state = " WRONG STATE" if h.state_mismatch else ""
        print(f"HIT list={h.entry.list_id} priority={h.priority} {why}{state}")
        print(f"    entry: {entry_to_json(h.entry)}")
    return 0
