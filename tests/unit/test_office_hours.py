"""Office hours (09:00-17:30 Monday to Friday, Europe/London) and closures, across the clock
changes of 2026-03-29 and 2026-10-25 and around bank holidays. Pure: no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.oncall.hours import (
    DEFAULT_HOURS,
    OpeningSpan,
    bank_holidays,
    check_spans,
    is_open,
    next_opening,
)
from crm.oncall.wallclock import LONDON

NO_CLOSURES: frozenset[date] = frozenset()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def open_at(instant: datetime, closures: object = NO_CLOSURES) -> bool:
    return is_open(instant, DEFAULT_HOURS, closures)  # type: ignore[arg-type]


def test_default_hours_are_weekdays_nine_to_half_past_five() -> None:
    assert [(s.weekday, s.opens, s.closes) for s in DEFAULT_HOURS] == [
        (d, time(9), time(17, 30)) for d in range(5)
    ]


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        # Friday 27 March 2026, GMT: local time is UTC.
        (utc(2026, 3, 27, 8, 59), False),
        (utc(2026, 3, 27, 9, 0), True),
        (utc(2026, 3, 27, 17, 29), True),
        (utc(2026, 3, 27, 17, 30), False),
        # Monday 30 March 2026, BST: 09:00 local is 08:00 UTC.
        (utc(2026, 3, 30, 7, 59), False),
        (utc(2026, 3, 30, 8, 0), True),
        (utc(2026, 3, 30, 16, 29), True),
        (utc(2026, 3, 30, 16, 30), False),
        (utc(2026, 3, 30, 17, 0), False),  # 18:00 BST, though 17:00 "looks" open in UTC
        # Friday 23 October 2026, BST.
        (utc(2026, 10, 23, 7, 59), False),
        (utc(2026, 10, 23, 8, 0), True),
        (utc(2026, 10, 23, 16, 29), True),
        (utc(2026, 10, 23, 16, 30), False),
        # Monday 26 October 2026, GMT again.
        (utc(2026, 10, 26, 8, 0), False),  # 08:00 GMT: the BST opening instant, now too early
        (utc(2026, 10, 26, 8, 59), False),
        (utc(2026, 10, 26, 9, 0), True),
        (utc(2026, 10, 26, 17, 29), True),
        (utc(2026, 10, 26, 17, 30), False),
        # The change-over Sundays themselves are closed all day.
        (utc(2026, 3, 29, 10), False),
        (utc(2026, 10, 25, 10), False),
        # The examples: Sunday 02:40 is out of hours, Wednesday 10:00 in hours.
        (utc(2026, 11, 29, 2, 40), False),
        (utc(2026, 11, 25, 10, 0), True),
    ],
)
def test_open_and_closed_on_both_sides_of_the_clock_changes(
    instant: datetime, expected: bool
) -> None:
    assert open_at(instant) is expected


def test_a_non_utc_instant_is_read_in_london_time() -> None:
    # 09:30 in Paris (CET, UTC+1) on a winter Monday is 08:30 in London: still closed.
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    assert not open_at(datetime(2026, 11, 23, 9, 30, tzinfo=paris))
    assert open_at(datetime(2026, 11, 23, 10, 30, tzinfo=paris))


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        # Friday evening before spring-forward → Monday 09:00 BST = 08:00 UTC.
        (utc(2026, 3, 27, 18), utc(2026, 3, 30, 8)),
        # Friday evening before fall-back → Monday 09:00 GMT = 09:00 UTC.
        (utc(2026, 10, 23, 17), utc(2026, 10, 26, 9)),
        # Already open: the next opening is tomorrow's.
        (utc(2026, 11, 25, 10), utc(2026, 11, 26, 9)),
        # Early on a weekday: today's opening.
        (utc(2026, 11, 25, 6), utc(2026, 11, 25, 9)),
    ],
)
def test_next_opening_is_nine_local_time(after: datetime, expected: datetime) -> None:
    assert next_opening(after, DEFAULT_HOURS, NO_CLOSURES) == expected


def test_bank_holidays_are_england_and_wales_ones() -> None:
    days = bank_holidays([2026])
    assert set(days) == {
        date(2026, 1, 1),
        date(2026, 4, 3),
        date(2026, 4, 6),
        date(2026, 5, 4),
        date(2026, 5, 25),
        date(2026, 8, 31),
        date(2026, 12, 25),
        date(2026, 12, 26),
        date(2026, 12, 28),  # Boxing Day falls on a Saturday: Monday is the substitute
    }
    assert "Good Friday" in days[date(2026, 4, 3)]
    # Scotland's 2 January and St Andrew's Day are not England and Wales holidays.
    assert date(2026, 1, 2) not in days
    assert date(2026, 11, 30) not in days


def test_bank_holidays_close_the_office_and_are_skipped_by_next_opening() -> None:
    closures = bank_holidays([2026, 2027])
    assert not open_at(utc(2026, 12, 25, 10), closures)  # Christmas Day, a Friday
    assert not open_at(utc(2026, 12, 28, 10), closures)  # the substitute Boxing Day
    assert open_at(utc(2026, 12, 29, 10), closures)
    # From Christmas Eve's close, the office next opens on Tuesday 29 December.
    assert next_opening(utc(2026, 12, 24, 17, 30), DEFAULT_HOURS, closures) == utc(2026, 12, 29, 9)
    # Easter 2027 straddles the clock change: Good Friday (GMT) to Easter Monday (BST).
    assert not open_at(utc(2027, 3, 26, 10), closures)
    assert not open_at(utc(2027, 3, 29, 10), closures)
    assert next_opening(utc(2027, 3, 25, 18), DEFAULT_HOURS, closures) == utc(2027, 3, 30, 8)


def test_a_manual_closure_is_a_whole_local_day() -> None:
    closure = {date(2026, 6, 1): "Staff training"}  # a Monday in BST
    assert not open_at(utc(2026, 6, 1, 8, 0), closure)
    assert not open_at(utc(2026, 6, 1, 15, 0), closure)
    assert open_at(utc(2026, 6, 2, 8, 0), closure)


def test_next_opening_gives_up_after_its_horizon() -> None:
    everything_closed = {date(2026, 1, 1) + timedelta(days=i) for i in range(60)}
    assert next_opening(utc(2026, 1, 1), DEFAULT_HOURS, everything_closed, horizon_days=31) is None


def test_split_days_and_weekend_spans() -> None:
    spans = check_spans(
        [
            OpeningSpan(5, time(10), time(14)),  # Saturday morning
            OpeningSpan(0, time(13), time(17)),
            OpeningSpan(0, time(9), time(12)),
        ]
    )
    assert [(s.weekday, s.opens) for s in spans] == [(0, time(9)), (0, time(13)), (5, time(10))]
    monday = date(2026, 11, 23)
    assert is_open(datetime.combine(monday, time(11), tzinfo=LONDON), spans, NO_CLOSURES)
    assert not is_open(datetime.combine(monday, time(12, 30), tzinfo=LONDON), spans, NO_CLOSURES)
    assert is_open(datetime.combine(monday, time(13), tzinfo=LONDON), spans, NO_CLOSURES)
    saturday = datetime(2026, 11, 28, 11, tzinfo=LONDON)
    assert is_open(saturday, spans, NO_CLOSURES)
    # Touching spans (12:00-13:00 then 13:00-17:00) are not an overlap.
    check_spans([OpeningSpan(1, time(9), time(13)), OpeningSpan(1, time(13), time(17))])


def test_bad_spans_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match=r"Tuesday: closing time must be after opening time"):
        OpeningSpan(1, time(17), time(9))
    with pytest.raises(ValueError, match=r"Tuesday: closing time must be after opening time"):
        OpeningSpan(1, time(9), time(9))
    with pytest.raises(ValueError, match=r"weekday must be 0 \(Monday\) to 6 \(Sunday\)"):
        OpeningSpan(7, time(9), time(17))
    with pytest.raises(ValueError, match=r"Wednesday: opening hours overlap"):
        check_spans([OpeningSpan(2, time(9), time(13)), OpeningSpan(2, time(12), time(17))])


# --- property ----------------------------------------------------------------------------------

HOLIDAYS = frozenset(bank_holidays([2025, 2026, 2027, 2028]))
instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=300, database=None)
@given(instants)
def test_next_opening_is_the_first_open_minute(instant: datetime) -> None:
    closures = HOLIDAYS
    opening = next_opening(instant, DEFAULT_HOURS, closures)
    assert opening is not None and opening > instant
    assert is_open(opening, DEFAULT_HOURS, closures)
    assert not is_open(opening - timedelta(minutes=1), DEFAULT_HOURS, closures)
    assert opening.astimezone(LONDON).time() == time(9)
    # The office is never open between the instant (if closed then) and that opening.
    if not is_open(instant, DEFAULT_HOURS, closures):
        probe = instant
        while probe < opening:
            assert not is_open(probe, DEFAULT_HOURS, closures)
            probe += timedelta(hours=1)
