"""Wall-clock rules in Europe/London turned into UTC instants, right across clock changes. Pure."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LONDON = ZoneInfo("Europe/London")


def zone(name: str) -> ZoneInfo:
    """The named IANA time zone; ValueError with a clear message for an unknown one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"Unknown time zone {name!r}; use an IANA name like Europe/London."
        ) from None


def local_to_utc(day: date, at: time, tz: ZoneInfo = LONDON) -> datetime:
    """The UTC instant of wall-clock ``day at`` in ``tz``.

    A time that does not exist (the spring-forward hour) moves forward by the gap, so
    "01:30 on 29 March" happens at 02:30 BST; an ambiguous time (the autumn hour that happens
    twice) is the first occurrence.
    """
    naive = datetime.combine(day, at)
    candidate = naive.replace(tzinfo=tz, fold=0)
    roundtrip = candidate.astimezone(UTC).astimezone(tz)
    if roundtrip.replace(tzinfo=None) != naive:
        # Non-existent local time: shift by the size of the gap.
        before = candidate.replace(fold=0).utcoffset() or timedelta(0)
        after = candidate.replace(fold=1).utcoffset() or timedelta(0)
        candidate = (naive + abs(after - before)).replace(tzinfo=tz)
    return candidate.astimezone(UTC)


def local_date(instant: datetime, tz: ZoneInfo = LONDON) -> date:
    return instant.astimezone(tz).date()


def add_local_days(instant: datetime, days: int, tz: ZoneInfo = LONDON) -> datetime:
    """``instant`` moved by whole local days, keeping the wall-clock time (not 24 h steps)."""
    local = instant.astimezone(tz)
    return local_to_utc(local.date() + timedelta(days=days), local.time().replace(tzinfo=None), tz)
