"""Wall-clock times in Europe/London as UTC instants, across the 2026 and 2027 clock changes.

Spring forward: 01:00 GMT → 02:00 BST (2026-03-29, 2027-03-28), so 01:00-01:59 never happens.
Fall back: 02:00 BST → 01:00 GMT (2026-10-25, 2027-10-31), so 01:00-01:59 happens twice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crm.oncall.wallclock import LONDON, add_local_days, local_date, local_to_utc, zone

SPRING = (date(2026, 3, 29), date(2027, 3, 28))
AUTUMN = (date(2026, 10, 25), date(2027, 10, 31))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("day", "at", "expected"),
    [
        (date(2026, 1, 15), time(10), utc(2026, 1, 15, 10)),  # GMT
        (date(2026, 7, 15), time(10), utc(2026, 7, 15, 9)),  # BST
        # The spring-forward night, either side of the missing hour.
        (date(2026, 3, 29), time(0, 59), utc(2026, 3, 29, 0, 59)),
        (date(2026, 3, 29), time(2), utc(2026, 3, 29, 1)),
        (date(2026, 3, 29), time(10), utc(2026, 3, 29, 9)),
        # The fall-back night, either side of the repeated hour.
        (date(2026, 10, 25), time(0, 59), utc(2026, 10, 24, 23, 59)),
        (date(2026, 10, 25), time(2), utc(2026, 10, 25, 2)),
        (date(2026, 10, 25), time(10), utc(2026, 10, 25, 10)),
        (date(2027, 3, 28), time(10), utc(2027, 3, 28, 9)),
        (date(2027, 10, 31), time(10), utc(2027, 10, 31, 10)),
    ],
)
def test_local_times_become_the_right_utc_instant(day: date, at: time, expected: datetime) -> None:
    instant = local_to_utc(day, at)
    assert instant == expected
    assert instant.tzinfo is UTC


@pytest.mark.parametrize("day", SPRING)
def test_a_time_in_the_missing_hour_moves_forward_by_the_gap(day: date) -> None:
    # Documented: "01:30 on 29 March" happens at 02:30 BST, i.e. 01:30 UTC.
    instant = local_to_utc(day, time(1, 30))
    assert instant == datetime.combine(day, time(1, 30), tzinfo=UTC)
    local = instant.astimezone(LONDON)
    assert (local.date(), local.time()) == (day, time(2, 30))
    assert local.utcoffset() == timedelta(hours=1)
    # 01:00 (the first missing minute) is 02:00 BST, the same instant as 02:00 itself.
    assert local_to_utc(day, time(1)) == local_to_utc(day, time(2))


@pytest.mark.parametrize("day", AUTUMN)
def test_a_time_in_the_repeated_hour_is_its_first_occurrence(day: date) -> None:
    # Documented: the ambiguous 01:30 is the first one (still BST), i.e. 00:30 UTC.
    instant = local_to_utc(day, time(1, 30))
    assert instant == datetime.combine(day, time(0, 30), tzinfo=UTC)
    assert instant.astimezone(LONDON).utcoffset() == timedelta(hours=1)
    # The second 01:30 (GMT) is an hour later and is never what local_to_utc answers.
    assert local_to_utc(day, time(1, 59)) == datetime.combine(day, time(0, 59), tzinfo=UTC)


def test_other_zones_are_honoured() -> None:
    new_york = ZoneInfo("America/New_York")
    # 2026-03-08 is New York's spring-forward day; London is still on GMT.
    assert local_to_utc(date(2026, 3, 8), time(9), new_york) == utc(2026, 3, 8, 13)
    assert local_to_utc(date(2026, 3, 7), time(9), new_york) == utc(2026, 3, 7, 14)


@pytest.mark.parametrize(
    ("start", "expected", "hours_later"),
    [
        # Saturday 10:00 GMT + 1 local day = Sunday 10:00 BST: 23 hours later.
        (utc(2026, 3, 28, 10), utc(2026, 3, 29, 9), 23),
        # Saturday 10:00 BST + 1 local day = Sunday 10:00 GMT: 25 hours later.
        (utc(2026, 10, 24, 9), utc(2026, 10, 25, 10), 25),
        (utc(2027, 3, 27, 10), utc(2027, 3, 28, 9), 23),
        (utc(2027, 10, 30, 9), utc(2027, 10, 31, 10), 25),
    ],
)
def test_adding_local_days_keeps_the_wall_clock_time(
    start: datetime, expected: datetime, hours_later: int
) -> None:
    moved = add_local_days(start, 1)
    assert moved == expected
    assert moved - start == timedelta(hours=hours_later)
    assert moved.astimezone(LONDON).time() == time(10)


@pytest.mark.parametrize(
    ("asked_on", "tuesday", "expected"),
    [
        # "Call back Tuesday at 10:00", asked the Tuesday before spring-forward (GMT) ...
        (utc(2026, 3, 24, 15), date(2026, 3, 31), utc(2026, 3, 31, 9)),
        # ... and the Tuesday before fall-back (BST).
        (utc(2026, 10, 20, 14), date(2026, 10, 27), utc(2026, 10, 27, 10)),
    ],
)
def test_tuesday_at_ten_the_week_before_a_change_is_ten_local(
    asked_on: datetime, tuesday: date, expected: datetime
) -> None:
    assert local_to_utc(tuesday, time(10)) == expected
    # The same as "a week on Tuesday at the same wall-clock time", not 7 x 24 hours.
    same_time_last_week = local_to_utc(tuesday - timedelta(days=7), time(10))
    assert add_local_days(same_time_last_week, 7) == expected
    assert expected - same_time_last_week != timedelta(days=7)
    assert local_date(asked_on) == tuesday - timedelta(days=7)


def test_local_date_is_the_london_date() -> None:
    # 23:30 UTC on a summer evening is already tomorrow in London.
    assert local_date(utc(2026, 7, 1, 23, 30)) == date(2026, 7, 2)
    assert local_date(utc(2026, 12, 1, 23, 30)) == date(2026, 12, 1)


@pytest.mark.parametrize("name", ["", "Not/AZone", "Europe/Londres", "../etc/passwd", "GMT+25"])
def test_an_unknown_time_zone_is_refused_clearly(name: str) -> None:
    with pytest.raises(ValueError, match=r"Unknown time zone .*IANA name like Europe/London"):
        zone(name)


def test_a_known_time_zone_is_returned() -> None:
    assert zone("Europe/London") == LONDON


# --- properties ------------------------------------------------------------------------------


def _in_spring_gap(naive: datetime) -> bool:
    return naive.date() in SPRING and time(1) <= naive.time() < time(2)


def _first_occurrence(naive: datetime) -> datetime | None:
    """An oracle that does not use ``fold``: the earliest UTC instant whose London wall clock
    reads ``naive`` (trying each of London's two offsets), or None if there is none."""
    for offset in (timedelta(hours=1), timedelta(0)):  # BST comes first in real time
        candidate = (naive - offset).replace(tzinfo=UTC)
        if candidate.astimezone(LONDON).replace(tzinfo=None) == naive:
            return candidate
    return None


naive_datetimes = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31, 23, 59)
).map(lambda d: d.replace(second=0, microsecond=0))


@settings(max_examples=400, database=None)
@given(naive_datetimes)
@example(datetime(2026, 3, 29, 1, 30))
@example(datetime(2026, 10, 25, 1, 30))
@example(datetime(2027, 10, 31, 1, 0))
def test_local_to_utc_matches_the_oracle(naive: datetime) -> None:
    instant = local_to_utc(naive.date(), naive.time())
    if _in_spring_gap(naive):
        assert _first_occurrence(naive) is None
        assert instant == _first_occurrence(naive + timedelta(hours=1))
    else:
        assert instant == _first_occurrence(naive)
        assert instant.astimezone(LONDON).replace(tzinfo=None) == naive
