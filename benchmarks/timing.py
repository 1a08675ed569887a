"""Repeated timing with median and spread, and process facts for result files."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import Any


@dataclass(frozen=True)
class Timing:
    """Seconds per run over `runs` runs; `per_run_items` items are processed in each run."""

    runs: int
    median_s: float
    p25_s: float
    p75_s: float
    min_s: float
    max_s: float
    per_run_items: int

    @property
    def rate(self) -> float:
        return self.per_run_items / self.median_s if self.median_s else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "rate_per_s": self.rate, "iqr_pct": self.spread_pct}

    @property
    def spread_pct(self) -> float:
        return 100 * (self.p75_s - self.p25_s) / self.median_s if self.median_s else 0.0

    def line(self, name: str, unit: str = "items") -> str:
        return (
            f"{name:<44} {self.rate:>14,.0f} {unit}/s   median {self.median_s * 1e3:9.3f} ms  "
            f"IQR ±{self.spread_pct:4.1f}%  (n={self.runs})"
        )


def measure(fn: Callable[[], object], items: int, *, runs: int = 15, warmup: int = 2) -> Timing:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    q = statistics.quantiles(samples, n=4) if len(samples) >= 2 else [samples[0]] * 3
    return Timing(runs, statistics.median(samples), q[0], q[2], min(samples), max(samples), items)


def rss_bytes() -> int:
    """Resident set size of this process now."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def machine() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for package in ("faust-streaming", "aiokafka", "numpy", "pyroaring", "orjson"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "packages": versions,
    }
