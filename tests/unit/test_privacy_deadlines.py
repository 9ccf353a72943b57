"""A rights request's deadlines: one calendar month, extended by at most two, with a reason."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.privacy import deadlines


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (date(2026, 12, 7), date(2027, 1, 7)),
        (date(2027, 1, 31), date(2027, 2, 28)),
        (date(2028, 1, 31), date(2028, 2, 29)),
        (date(2026, 3, 31), date(2026, 4, 30)),
        (date(2026, 12, 31), date(2027, 1, 31)),
    ],
)
def test_one_calendar_month_or_the_months_last_day(received: date, due: date) -> None:
    assert deadlines.due_on(received) == due


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)))
def test_due_is_always_within_the_next_month(received: date) -> None:
    due = deadlines.due_on(received)
    assert 28 <= (due - received).days <= 31
    assert due.day <= received.day


def test_an_extension_needs_a_reason_and_at_most_two_months() -> None:
    due = date(2027, 1, 7)
    assert deadlines.check_extension(due, date(2027, 3, 7), "  complex request  ") == (
        "complex request"
    )
    with pytest.raises(ValueError, match="needs a reason"):
        deadlines.check_extension(due, date(2027, 2, 7), "  ")
    with pytest.raises(ValueError, match="two months at most: the latest is 07 Mar 2027"):
        deadlines.check_extension(due, date(2027, 3, 8), "many records")
    with pytest.raises(ValueError, match="after the current one"):
        deadlines.check_extension(due, due, "many records")
    with pytest.raises(ValueError, match="Choose the new due date"):
        deadlines.check_extension(due, None, "many records")


def test_reminder_a_week_before_and_days_left() -> None:
    assert deadlines.reminder_day(date(2027, 1, 7)) == date(2026, 12, 31)
    assert deadlines.days_left(date(2027, 1, 7), date(2027, 1, 9)) == -2
