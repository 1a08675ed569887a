"""What every peer shares: the one timing window, the hotlist set, the exact match, the alert, and the
JSON line a peer prints.

Standard library only (and the project's plate normaliser, itself plain Python): the Quix peer imports
this module from its own virtualenv.

The timing window is the same for every peer:

  start       the first batch of reads in hand (the first record seen); the reads of that batch are
              not timed, since they were fetched before the clock started
  processed   the last read processed: matched, and its alert handed to the client
  delivered   the last alert acknowledged by the broker (the same as `processed` for a peer that
              only consumes)

CPU is the whole process's (every thread, and children it has waited for) from start to delivered.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import time
from collections.abc import Set
from pathlib import Path
from typing import Any

from streams.plates.normalise import PlateError, normalise_plate

STALL_S = 120.0  # a peer that makes no progress for this long fails
# the Quix peer's librdkafka configuration (JSON), built by run.py with KafkaClients.librdkafka_config()
QUIX_CONFIG_ENV = "PEER_LIBRDKAFKA_CONFIG"


def cpu_seconds() -> float:
    """CPU time of this process (every thread) and of the children it has waited for."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def window_figures(reads: int, first_batch: int, seconds: float, seconds_delivered: float, cpu_s: float,
                   ) -> dict[str, Any]:  # fmt: skip
    """The figures of one window; every peer reports these (the JVM peer's wrapper builds them from
    the tool's own timestamps)."""
    timed = reads - first_batch
    if timed <= 0 or seconds <= 0 or seconds_delivered <= 0:
        raise RuntimeError(f"nothing was timed: {reads:,} reads, {first_batch:,} in the first batch")
    return {
        "reads": reads,
        "first_batch": first_batch,
        "timed_reads": timed,
        "seconds": seconds,
        "seconds_delivered": seconds_delivered,
        "reads_per_s": timed / seconds,
        "reads_per_s_delivered": timed / seconds_delivered,
        "cpu_s": cpu_s,
        "cpu_s_per_100k": cpu_s / timed * 100_000,
    }


class Window:
    """The timing window (see the module's doc), measured inside a peer's process."""

    def __init__(self) -> None:
        self.started = False
        self.first_batch = 0
        self.t0 = self.c0 = 0.0
        self.t_processed: float | None = None
        self.t_delivered: float | None = None
        self.c_delivered = 0.0
        self.since = time.perf_counter()

    def start(self, first_batch: int) -> None:
        """The first batch is in hand (only the first call counts)."""
        if not self.started:
            self.started = True
            self.first_batch = first_batch
            self.t0, self.c0 = time.perf_counter(), cpu_seconds()

    def progressed(self) -> None:
        self.since = time.perf_counter()

    def check_stall(self, count: int, expect: int) -> None:
        if time.perf_counter() - self.since > STALL_S:
            raise TimeoutError(f"no progress for {STALL_S:g}s at {count:,} of {expect:,} reads")

    def processed(self) -> None:
        """The last read is processed."""
        self.t_processed = time.perf_counter()

    def delivered(self) -> None:
        """The last output is acknowledged (call right after `processed` when there are no outputs)."""
        self.t_delivered, self.c_delivered = time.perf_counter(), cpu_seconds()

    def figures(self, reads: int) -> dict[str, Any]:
        if self.t_processed is None or self.t_delivered is None:
            raise RuntimeError("the window was not closed")
        return {
            **window_figures(
                reads,
                self.first_batch,
                self.t_processed - self.t0,
                self.t_delivered - self.t0,
                self.c_delivered - self.c0,
            ),
            "threads": threads(),  # while the clients are open: their own threads show here
        }


def threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def load_hotlist(path: str | Path) -> set[str]:
    """The hotlist's plates (normalised, one a line, written by run.py), as a Python set, frozen out of
    the cyclic collector's sight: a set of 10 million plates rescanned by every full collection halved
    a peer's throughput. `gc.freeze` is Python's own advice for objects that live as long as the
    process, and the worker does the same with its index."""
    plates = set(Path(path).read_text().split())
    gc.collect()
    gc.freeze()
    return plates


def listed_plate(plate: object, hotlist: Set[str]) -> str | None:
    """The normalised plate when it is on the hotlist, else None. A plate the project's normaliser
    refuses (not ASCII, empty, too long, a character other than A-Z 0-9) is no hit."""
    if not isinstance(plate, str):
        return None
    try:
        normalised = normalise_plate(plate)
    except PlateError:
        return None
    return normalised if normalised in hotlist else None


def alert(read: dict[str, Any], plate: str) -> dict[str, Any]:
    """The alert every peer produces for a hit (keyed by `plate`)."""
    return {
        "read_id": read.get("read_id"),
        "plate": plate,
        "state": read.get("state"),
        "agency_ori": read.get("agency_ori"),
        "camera_id": read.get("camera_id"),
        "time": read.get("time"),
        "match": "exact",
    }


def peer_arguments(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True, help="the topic of plate reads")
    parser.add_argument("--reads", type=int, required=True, help="reads on the topic: stop after that many")
    parser.add_argument("--group", required=True, help="consumer group (a fresh one per run)")
    parser.add_argument("--hotlist", help="the hotlist's plates, one a line")
    parser.add_argument("--alerts-topic", help="where alerts go")
    return parser


def emit(peer: str, figures: dict[str, Any]) -> None:
    """The peer's one JSON line on stdout (the last line: run.py reads it); with this process's peak
    memory unless the figures carry another's."""
    print(json.dumps({"peer": peer, "max_rss_mb": peak_rss_mb(), **figures}), flush=True)


def progress(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)
