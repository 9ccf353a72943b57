"""A rights request's deadlines (UK GDPR article 12(3)): one calendar month from receipt,
extendable by up to two further months with a reason. Pure: dates in, dates out."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

REMINDER_DAYS_BEFORE = 7
MAX_EXTENSION_MONTHS = 2


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later; the month's last day where that day does not exist
    (received 31 January → due 28 or 29 February, as the ICO counts)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_on(received_on: date) -> date:
    """One calendar month after the day the request was received (UK date)."""
    return add_months(received_on, 1)


def latest_extension(due: date) -> date:
    """The furthest a due date can be extended: two further months."""
    return add_months(due, MAX_EXTENSION_MONTHS)


def check_extension(due: date, extended_to: date | None, reason: str | None) -> str:
    """The extension's reason, cleaned; ValueError saying what is wrong otherwise."""
    text = (reason or "").strip()
    if extended_to is None:
        raise ValueError("Choose the new due date.")
    if not text:
        raise ValueError("Say why the request needs longer: an extension needs a reason.")
    if extended_to <= due:
        raise ValueError(f"The new due date must be after the current one ({due:%d %b %Y}).")
    if extended_to > latest_extension(due):
        raise ValueError(
            "A request can be extended by two months at most: the latest is "
            f"{latest_extension(due):%d %b %Y}."
        )
    return text


def reminder_day(due: date) -> date:
    """The day the handler is reminded: a week before the due date."""
    return due - timedelta(days=REMINDER_DAYS_BEFORE)


def days_left(due: date, today: date) -> int:
    """Days until ``due`` (negative once it has passed)."""
    return (due - today).days
