"""Office hours and closures: is the office open at an instant? Pure.

Hours are per weekday in Europe/London wall-clock time; closures (bank holidays, one-off
closures) close the office for the whole local day.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import holidays

from crm.oncall.wallclock import LONDON, local_to_utc

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class OpeningSpan:
    """Open from ``opens`` to ``closes`` (local) on ``weekday`` (0 = Monday)."""

    weekday: int
    opens: time
    closes: time

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError("weekday must be 0 (Monday) to 6 (Sunday)")
        if self.closes <= self.opens:
            raise ValueError(f"{WEEKDAYS[self.weekday]}: closing time must be after opening time")


DEFAULT_HOURS: tuple[OpeningSpan, ...] = tuple(
    OpeningSpan(d, time(9), time(17, 30)) for d in range(5)
)


def bank_holidays(years: Iterable[int]) -> dict[date, str]:
    """England and Wales bank holidays, from the ``holidays`` package."""
    return dict(_bank_holidays(tuple(sorted(set(years)))))


@lru_cache(maxsize=32)
def _bank_holidays(years: tuple[int, ...]) -> tuple[tuple[date, str], ...]:
    # Computed once per set of years: every callback request asks whether the office is open.
    calendar = holidays.country_holidays("GB", subdiv="ENG", years=list(years))
    return tuple((day, str(name)) for day, name in sorted(calendar.items()))


def check_spans(spans: Iterable[OpeningSpan]) -> list[OpeningSpan]:
    """Spans sorted, with overlaps on the same day refused."""
    ordered = sorted(spans, key=lambda s: (s.weekday, s.opens))
    for before, after in itertools.pairwise(ordered):
        if before.weekday == after.weekday and after.opens < before.closes:
            raise ValueError(f"{WEEKDAYS[before.weekday]}: opening hours overlap")
    return ordered


def is_open(
    instant: datetime, spans: Iterable[OpeningSpan], closures: Mapping[date, str] | Iterable[date]
) -> bool:
    """Whether the office is open at ``instant`` (any aware datetime)."""
    local = instant.astimezone(LONDON)
    if local.date() in closures:
        return False
    now = local.time().replace(tzinfo=None)
    return any(s.weekday == local.weekday() and s.opens <= now < s.closes for s in spans)


def next_opening(
    instant: datetime,
    spans: Iterable[OpeningSpan],
    closures: Mapping[date, str] | Iterable[date],
    horizon_days: int = 31,
) -> datetime | None:
    """The next instant the office opens after ``instant`` (UTC), within the horizon."""
    span_list = list(spans)
    closed_days = set(closures)
    start = instant.astimezone(LONDON).date()
    for offset in range(horizon_days + 1):
        day = start + timedelta(days=offset)
        if day in closed_days:
            continue
        for span in sorted(
            (s for s in span_list if s.weekday == day.weekday()), key=lambda s: s.opens
        ):
            opening = local_to_utc(day, span.opens)
            if opening > instant:
                return opening
    return None
