"""A reporting period: a half-open UTC interval, parsed from the dates or times a user gives."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from streams.errors import ConfigurationError
from streams.pipeline.alert_builder import iso_ms


@dataclass(frozen=True)
class Period:
    """A half-open UTC interval [start, end) in epoch milliseconds."""

    start_ms: int
    end_ms: int

    @property
    def start(self) -> str:
        return iso_ms(self.start_ms)

    @property
    def end(self) -> str:
        return iso_ms(self.end_ms)


def parse_time(text: str, *, end: bool = False) -> int:
    """A date (`2026-11-27`) or an ISO 8601 time (`2026-11-27T10:00:00Z`; no offset means UTC), as epoch ms.

    A bare date given as the end of a period means the end of that day, so `--from 2026-11-01 --to
    2026-11-30` covers the whole of November 30.
    """
    value = text.strip()
    try:
        if len(value) == 10:  # YYYY-MM-DD
            day = dt.date.fromisoformat(value)
            moment = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            if end:
                moment += dt.timedelta(days=1)
        else:
            moment = dt.datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
    except ValueError:
        raise ConfigurationError(
            f"{text!r} is not a date or an ISO 8601 time", hint="give e.g. 2026-11-27 or 2026-11-27T10:00:00Z"
        ) from None
    return int(moment.timestamp() * 1000)


def parse_period(start: str, end: str) -> Period:
    period = Period(parse_time(start), parse_time(end, end=True))
    if period.end_ms <= period.start_ms:
        raise ConfigurationError(f"the period is empty: --to {end} is not after --from {start}")
    return period
