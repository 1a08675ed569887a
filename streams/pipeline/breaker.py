"""A circuit breaker on internal errors: a bug must not quietly dead-letter every read.

`Pipeline.process_isolating` sets aside a record whose processing raises (`internal_error`) so that
one bad message cannot stop a partition. The price: a bug that makes *every* read raise (a broken
policy, a bad deploy) would send the whole stream, hits included, to the dead letters, with nothing
failing loudly. The breaker counts internal errors against records in a sliding window and trips
when both are high: more than `max_errors` internal errors, and more than `max_error_ratio` of the
records. A stray poison pill trips nothing; a systematic failure trips it within a batch or two.

Once tripped it stays tripped (the failure is a bug: waiting does not fix it) until `reset()`. The
stream layer asks `tripped` and `reason` (pause consumption, answer readiness probes with the reason,
set a gauge from `state()`). Plain code: no Kafka, no I/O, the clock injectable.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class BatchCounts(Protocol):
    """What the breaker reads of a batch result (`BatchResult` has both)."""

    @property
    def reads(self) -> int: ...
    @property
    def internal_errors(self) -> int: ...


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    window_seconds: float = 60.0
    max_errors: int = 20  # trips only with more than this many internal errors in the window ...
    max_error_ratio: float = 0.05  # ... that are also more than this share of the window's records
    buckets: int = 60  # the window's resolution: it slides a bucket (window / buckets) at a time

    def __post_init__(self) -> None:
        if not (self.window_seconds > 0 and math.isfinite(self.window_seconds)):
            raise ValueError(f"window_seconds must be a positive number, not {self.window_seconds!r}")
        if self.max_errors < 0:
            raise ValueError(f"max_errors must be 0 or more, not {self.max_errors!r}")
        if not 0 <= self.max_error_ratio < 1:
            raise ValueError(f"max_error_ratio must be in [0, 1), not {self.max_error_ratio!r}")
        if self.buckets < 1:
            raise ValueError(f"buckets must be 1 or more, not {self.buckets!r}")


@dataclass(frozen=True, slots=True)
class BreakerState:
    """A snapshot, for a readiness probe or gauges."""

    tripped: bool
    reason: str  # why it tripped; "" while closed
    errors: int  # internal errors in the window
    records: int  # records in the window
    tripped_at: float | None  # the clock's time when it tripped


class CircuitBreaker:
    """Counts internal errors against records in a sliding window; trips past both thresholds."""

    def __init__(self, settings: BreakerSettings | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or BreakerSettings()
        self.clock = clock
        self._width = self.settings.window_seconds / self.settings.buckets
        self._buckets: deque[list[int]] = deque()  # [bucket number, records, errors], oldest first
        self._records = 0
        self._errors = 0
        self._reason = ""
        self._tripped_at: float | None = None

    @property
    def tripped(self) -> bool:
        return self._tripped_at is not None

    @property
    def reason(self) -> str:
        """Why it tripped (counts and thresholds, never a read's content); "" while closed."""
        return self._reason

    def observe(self, batch: BatchCounts) -> bool:
        """Count a processed batch (`BatchResult`); True when the breaker is (now or already) tripped."""
        return self.record(batch.reads, batch.internal_errors)

    def record(self, records: int, internal_errors: int) -> bool:
        """Count `records` processed, `internal_errors` of them set aside as internal errors; True when
        the breaker is (now or already) tripped."""
        if records < 0 or not 0 <= internal_errors <= records:
            raise ValueError(f"need 0 <= internal_errors <= records, not {internal_errors} of {records}")
        now = self.clock()
        self._slide(now)
        number = self._bucket(now)
        if self._buckets and self._buckets[-1][0] >= number:  # same bucket (or a clock that went back)
            last = self._buckets[-1]
            last[1] += records
            last[2] += internal_errors
        else:
            self._buckets.append([number, records, internal_errors])
        self._records += records
        self._errors += internal_errors
        if not self.tripped and self._over_limits():
            s = self.settings
            self._tripped_at = now
            self._reason = (
                f"{self._errors} internal errors in {self._records} records ({self._errors / self._records:.1%}) "
                f"in the last {s.window_seconds:g}s, more than {s.max_errors} and more than {s.max_error_ratio:.1%}"
            )
        return self.tripped

    def state(self) -> BreakerState:
        self._slide(self.clock())
        return BreakerState(self.tripped, self._reason, self._errors, self._records, self._tripped_at)

    def reset(self) -> None:
        """Close the breaker and forget the window (its errors are those of the failure just dealt with)."""
        self._buckets.clear()
        self._records = self._errors = 0
        self._reason = ""
        self._tripped_at = None

    def _over_limits(self) -> bool:
        s = self.settings
        return self._errors > s.max_errors and self._errors > s.max_error_ratio * self._records

    def _bucket(self, now: float) -> int:
        return math.floor(now / self._width)

    def _slide(self, now: float) -> None:
        """Drop the buckets that have left the window."""
        oldest = self._bucket(now) - self.settings.buckets + 1
        buckets = self._buckets
        while buckets and buckets[0][0] < oldest:
            _, records, errors = buckets.popleft()
            self._records -= records
            self._errors -= errors
