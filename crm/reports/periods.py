"""Report periods: presets, the same-length previous period, and days and weeks bucketed in
Europe/London. Pure: no Flask, no database.

A period is a run of whole UK calendar days, ``start`` to ``end`` inclusive. Its instants are
from local midnight of ``start`` to local midnight after ``end``, so a week across a clock
change is 7 calendar days (167 or 169 hours), never 7 times 24 hours.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from crm.oncall.wallclock import LONDON, local_to_utc

MAX_DAYS = 731  # "a range longer than two years" is refused
PRESETS = {
    "today": "Today",
    "last_7_days": "Last 7 days",
    "last_week": "Last week",
    "last_month": "Last month",
    "this_quarter": "This quarter",
    "custom": "Custom",
}
DEFAULT_PRESET = "last_week"


class PeriodError(ValueError):
    """A range that cannot be reported on; the message says why, in a manager's words."""


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def bounds(self) -> tuple[datetime, datetime]:
        """The UTC instants [from, to) the period covers."""
        return (
            local_to_utc(self.start, time(0), LONDON),
            local_to_utc(self.end + timedelta(days=1), time(0), LONDON),
        )

    def previous(self) -> Period:
        """The same number of days immediately before (last week → the week before)."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def label(self) -> str:
        if self.start == self.end:
            return f"{self.start:%a %d %b %Y}"
        return f"{self.start:%d %b %Y} – {self.end:%d %b %Y}"


def _quarter_start(day: date) -> date:
    return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)


def preset_period(preset: str, today: date) -> Period:
    """The period a preset names, seen from ``today`` (a UK date). Weeks start on Monday."""
    if preset == "today":
        return Period(today, today)
    if preset == "last_7_days":
        return Period(today - timedelta(days=6), today)
    if preset == "last_week":
        monday = today - timedelta(days=today.weekday())
        return Period(monday - timedelta(days=7), monday - timedelta(days=1))
    if preset == "last_month":
        first = today.replace(day=1)
        last = first - timedelta(days=1)
        return Period(last.replace(day=1), last)
    if preset == "this_quarter":
        return Period(_quarter_start(today), today)
    raise PeriodError(f"Unknown period {preset!r}: choose one of {', '.join(PRESETS)}.")


def parse_day(text: str | None, label: str) -> date:
    if not text:
        raise PeriodError(f"Give the {label} date.")
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise PeriodError(f"The {label} date {text!r} is not a date like 2026-11-30.") from None


def read_period(
    preset: str | None, start: str | None, end: str | None, today: date
) -> tuple[str, Period]:
    """The period a report form asked for: a preset, or ``custom`` with both dates."""
    preset = preset or (DEFAULT_PRESET if not (start or end) else "custom")
    if preset not in PRESETS:
        raise PeriodError(f"Unknown period {preset!r}: choose one of {', '.join(PRESETS)}.")
    if preset != "custom":
        return preset, preset_period(preset, today)
    first, last = parse_day(start, "start"), parse_day(end, "end")
    if last < first:
        raise PeriodError(
            "The range ends before it starts: the end date must be on or after the start."
        )
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError("The range is longer than two years: choose two years or less.")
    if first > today:
        raise PeriodError("The range starts in the future.")
    return preset, Period(first, last)


def days_of(period: Period) -> list[date]:
    return [period.start + timedelta(days=n) for n in range(period.days)]


def week_of(day: date) -> date:
    """The Monday of ``day``'s week (UK weeks start on Monday)."""
    return day - timedelta(days=day.weekday())


def buckets(period: Period) -> tuple[str, list[date]]:
    """Days for a period up to 62 days, weeks (their Mondays) beyond."""
    if period.days <= 62:
        return "day", days_of(period)
    weeks = sorted({week_of(d) for d in days_of(period)})
    return "week", weeks


def bucket_of(instant: datetime, grain: str) -> date:
    day = instant.astimezone(LONDON).date()
    return day if grain == "day" else week_of(day)


def month_of(day: date) -> date:
    return day.replace(day=1)


def month_runs(days: Iterable[date]) -> list[Period]:
    """The days as periods of consecutive days, each within one month (a summary's rebuild
    reads one run at a time)."""
    out: list[Period] = []
    for day in sorted(set(days)):
        last = out[-1] if out else None
        if last and day == last.end + timedelta(days=1) and month_of(day) == month_of(last.start):
            out[-1] = Period(last.start, day)
        else:
            out.append(Period(day, day))
    return out


def month_pieces(period: Period) -> tuple[list[date], list[tuple[date, date]]]:
    """The whole calendar months inside the period (their firsts), and the ranges of loose days
    either side (a summary reads whole months from its month rows)."""
    months: list[date] = []
    loose: list[tuple[date, date]] = []
    day = period.start
    while day <= period.end:
        following = (day + timedelta(days=32)).replace(day=1)
        last = min(following - timedelta(days=1), period.end)
        if day.day == 1 and last == following - timedelta(days=1):
            months.append(day)
        else:
            loose.append((day, last))
        day = following
    return months, loose
