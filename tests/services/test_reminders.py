"""Reminders: created in the same transaction as their cause, stored in UTC from UK wall-clock
times (across the clock changes), fired to their owner on time, escalated to a page after their
grace period, and completed by the activity they wait for (a connected call).

Routing of a new callback request: in office hours the queue and a 15-minute callback_due
reminder; out of hours (nights, weekends, bank holidays, closures) a page at once."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from crm import clock
from crm.auth.models import User
from crm.errors import DomainError
from crm.extensions import db
from crm.intake import pipeline
from crm.oncall import paging, reminders
from crm.oncall.models import Closure, OfficeHoursSpan, Page, Reminder
from crm.oncall.wallclock import LONDON
from crm.privacy.models import AuditEvent
from crm.privacy.services import Actor
from tests.services.oncall_factories import (
    SUNDAY_NIGHT,
    WEDNESDAY_MORNING,
    count,
    lead,
    messages,
    person,
    policy,
    rota,
    rota_step,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def fire(at: datetime) -> int:
    with clock.pinned(at):
        fired = reminders.fire_due_reminders()
        db.session.commit()
    return fired


def called(enquiry: Any, staff: User, at: datetime) -> None:
    """Staff reached the person (the callback is done) at ``at``."""
    with clock.pinned(at):
        pipeline.log_call(enquiry.id, Actor(staff.id), direction="outbound", outcome="connected")
        db.session.commit()


def stored(reminder: Reminder) -> Reminder:
    db.session.expire_all()
    row = db.session.get(Reminder, reminder.id)
    assert row is not None
    return row


@pytest.fixture
def owner(db_session: Any) -> User:
    """An admissions person who takes new leads and is reached by SMS and email."""
    return person(
        name="Olive Owner",
        available=True,
        methods=(("sms", "+447700900011", 0), ("email", "olive@staff.example", 0)),
    )


@pytest.fixture
def on_call(owner: User) -> User:
    """A nights rota with its own person, and the default policy paging the rota."""
    night = person(name="Nina Nights", methods=(("email", "nina@staff.example", 0),))
    policy([rota_step(rota([night], starts_on=date(2026, 1, 5)), 5)])
    return night


# --- follow-ups across the clock changes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("scheduled_on", "tuesday", "due_utc"),
    [
        # Scheduled on Tuesday 24 March (GMT) for Tuesday 31 March 10:00 (BST) = 09:00 UTC.
        (datetime(2026, 3, 24, 15, tzinfo=LONDON), date(2026, 3, 31), utc(2026, 3, 31, 9)),
        # Scheduled on Tuesday 20 October (BST) for Tuesday 27 October 10:00 (GMT) = 10:00 UTC.
        (datetime(2026, 10, 20, 15, tzinfo=LONDON), date(2026, 10, 27), utc(2026, 10, 27, 10)),
    ],
)
def test_a_tuesday_ten_o_clock_follow_up_lands_at_ten_local_across_the_change(
    owner: User, scheduled_on: datetime, tuesday: date, due_utc: datetime
) -> None:
    enquiry = lead(scheduled_on - timedelta(hours=1))
    called(enquiry, owner, scheduled_on - timedelta(minutes=50))
    audits = count(AuditEvent)
    with clock.pinned(scheduled_on):
        made = reminders.schedule_follow_up(
            enquiry.id, tuesday, time(10), "Call back re: funding", Actor(owner.id)
        )
        db.session.commit()
    row = stored(made)
    assert (row.kind, row.status, row.owner_id, row.lead_id) == (
        "follow_up",
        "pending",
        owner.id,
        enquiry.id,
    )
    assert row.due_at == due_utc
    assert row.due_at.astimezone(LONDON).time() == time(10)
    assert count(AuditEvent) == audits + 1

    # It fires exactly then, to its owner on each of their contact methods.
    assert fire(due_utc - timedelta(seconds=1)) == 0
    assert messages(reminder_id=made.id) == []
    assert fire(due_utc) == 1
    sent = messages(reminder_id=made.id)
    assert [(m.channel, m.address, m.due_at) for m in sent] == [
        ("sms", "+447700900011", due_utc),
        ("email", "olive@staff.example", due_utc),
    ]
    assert sent[0].subject == f"Follow up due for {enquiry.reference}"
    # Only the reference and a link: the note may hold health details.
    assert sent[0].body == (
        f"Follow up due for {enquiry.reference}.\nhttp://127.0.0.1:5000/admin/leads/{enquiry.id}/"
    )
    assert all("funding" not in m.body + m.subject for m in sent)
    assert stored(made).status == "notified"


@pytest.mark.parametrize(
    ("day", "at", "due_utc"),
    [
        (date(2026, 3, 29), time(1, 30), utc(2026, 3, 29, 1, 30)),  # missing: 02:30 BST
        (date(2026, 10, 25), time(1, 30), utc(2026, 10, 25, 0, 30)),  # repeated: the first
    ],
)
def test_a_follow_up_at_a_time_the_clock_change_skips_or_repeats(
    owner: User, day: date, at: time, due_utc: datetime
) -> None:
    enquiry = lead(utc(2026, 3, 20, 12))
    with clock.pinned(utc(2026, 3, 20, 12)):
        made = reminders.schedule_follow_up(enquiry.id, day, at, None, Actor(owner.id))
        db.session.commit()
    assert stored(made).due_at == due_utc


@pytest.mark.parametrize(
    ("day", "at", "note", "message"),
    [
        (date(2026, 11, 25), time(9), None, "A follow-up must be in the future."),
        (date(2027, 12, 1), time(10), None, "A follow-up must be within a year."),
        (None, time(10), None, "Choose the day and time for the follow-up."),
        (date(2026, 12, 1), None, None, "Choose the day and time for the follow-up."),
        (date(2026, 12, 1), time(10), "bad\x00note", "Note contains control characters."),
        (date(2026, 12, 1), time(10), "x" * 501, "Note must be at most 500 characters."),
    ],
)
def test_a_bad_follow_up_is_refused_and_nothing_is_written(
    owner: User, day: date | None, at: time | None, note: str | None, message: str
) -> None:
    enquiry = lead(WEDNESDAY_MORNING)
    before = (count(Reminder), count(AuditEvent))
    with clock.pinned(WEDNESDAY_MORNING), pytest.raises(DomainError, match=message):
        reminders.schedule_follow_up(enquiry.id, day, at, note, Actor(owner.id))
    db.session.rollback()
    assert (count(Reminder), count(AuditEvent)) == before


def test_reminders_of_an_unknown_kind_or_negative_grace_are_refused(owner: User) -> None:
    before = count(Reminder)
    with pytest.raises(DomainError, match=r"Unknown reminder kind 'birthday'"):
        reminders.create_reminder("birthday", utc(2026, 12, 1), owner_id=owner.id, lead_id=None)
    with pytest.raises(DomainError, match=r"The grace period cannot be negative."):
        reminders.create_reminder(
            "fee_chase", utc(2026, 12, 1), owner_id=owner.id, lead_id=None, grace_minutes=-1
        )
    db.session.rollback()
    assert count(Reminder) == before


# --- routing a new callback request ---------------------------------------------------------------


def test_in_office_hours_a_request_gets_a_callback_due_reminder_and_no_page(
    owner: User, on_call: User
) -> None:
    enquiry = lead(WEDNESDAY_MORNING)
    [reminder] = db.session.query(Reminder).filter_by(lead_id=enquiry.id).all()
    assert (reminder.kind, reminder.status, reminder.owner_id, reminder.grace_minutes) == (
        "callback_due",
        "pending",
        owner.id,
        0,
    )
    assert reminder.due_at == WEDNESDAY_MORNING + timedelta(minutes=15)
    assert count(Page) == 0


@pytest.mark.parametrize(
    "when",
    [
        SUNDAY_NIGHT,  # Sunday 02:40
        datetime(2026, 11, 25, 18, 0, tzinfo=LONDON),  # a Wednesday evening
        datetime(2026, 12, 25, 10, 0, tzinfo=LONDON),  # Christmas Day, a Friday morning
        datetime(2026, 3, 30, 8, 30, tzinfo=LONDON),  # Monday after spring-forward, 08:30 BST
    ],
)
def test_out_of_hours_a_request_also_pages_on_call_at_once(
    owner: User, on_call: User, when: datetime
) -> None:
    enquiry = lead(when)
    assert count(Reminder, Reminder.lead_id == enquiry.id, Reminder.kind == "callback_due") == 1
    page = paging.open_page(f"lead:{enquiry.id}")
    assert page is not None
    assert (page.lead_id, page.summary, page.next_step_at) == (
        enquiry.id,
        f"Out-of-hours callback request {enquiry.reference}",
        when.astimezone(UTC),
    )


def test_office_hours_and_closures_come_from_the_database_when_set(owner: User) -> None:
    # Admins open the office on Sunday nights and close it on one Wednesday.
    db.session.add(OfficeHoursSpan(weekday=6, opens_at=time(0), closes_at=time(6)))
    db.session.add(Closure(day=date(2026, 11, 25), name="Staff training", source="manual"))
    db.session.commit()
    sunday = lead(SUNDAY_NIGHT, phone="07700 900201")
    wednesday = lead(WEDNESDAY_MORNING, phone="07700 900202")
    assert paging.open_page(f"lead:{sunday.id}") is None
    assert paging.open_page(f"lead:{wednesday.id}") is not None


# --- firing and escalating ------------------------------------------------------------------------


def test_a_callback_nobody_makes_in_time_pages_on_call_at_its_due_time(
    owner: User, on_call: User
) -> None:
    enquiry = lead(WEDNESDAY_MORNING)
    due = WEDNESDAY_MORNING + timedelta(minutes=15)
    assert fire(due - timedelta(seconds=1)) == 0
    assert count(Page) == 0
    assert fire(due) == 2  # notified, then (grace 0) escalated at once
    [reminder] = db.session.query(Reminder).filter_by(lead_id=enquiry.id).all()
    page = paging.open_page(f"lead:{enquiry.id}")
    assert page is not None
    assert (reminder.status, reminder.page_id) == ("escalated", page.id)
    assert page.summary == f"Callback due overdue for {enquiry.reference}"
    assert messages(reminder_id=reminder.id) == []  # the owner has the queue; the page acts
    assert fire(due + timedelta(minutes=5)) == 0  # never twice


def test_a_follow_up_still_open_after_its_grace_becomes_a_page(owner: User, on_call: User) -> None:
    enquiry = lead(WEDNESDAY_MORNING)
    called(enquiry, owner, WEDNESDAY_MORNING + timedelta(minutes=5))
    with clock.pinned(WEDNESDAY_MORNING):
        made = reminders.schedule_follow_up(
            enquiry.id, date(2026, 11, 26), time(14), None, Actor(owner.id)
        )
        db.session.commit()
    due = utc(2026, 11, 26, 14)
    fire(due)
    assert stored(made).status == "notified"
    fire(due + timedelta(minutes=9, seconds=59))
    assert stored(made).status == "notified"
    assert paging.open_page(f"lead:{enquiry.id}") is None
    assert fire(due + timedelta(minutes=10)) == 1
    row = stored(made)
    page = paging.open_page(f"lead:{enquiry.id}")
    assert page is not None and (row.status, row.page_id) == ("escalated", page.id)
    assert page.summary == f"Follow up overdue for {enquiry.reference}"
    assert len(messages(reminder_id=made.id)) == 2  # the owner's two, at the due time only


def test_a_reminder_without_a_lead_pages_about_itself(owner: User, on_call: User) -> None:
    made = reminders.create_reminder(
        "follow_up", utc(2026, 12, 1, 9), owner_id=None, lead_id=None, grace_minutes=0
    )
    db.session.commit()
    fire(utc(2026, 12, 1, 9))
    page = paging.open_page(f"reminder:{made.id}")
    assert page is not None and page.summary == "Follow up overdue"
    assert stored(made).page_id == page.id


def test_an_overdue_fee_chase_never_pages_on_call(owner: User, on_call: User) -> None:
    """An unpaid invoice is a manager's daytime job: its owner is told, nobody is paged."""
    made = reminders.create_reminder(
        "fee_chase", utc(2026, 12, 1, 9), owner_id=owner.id, lead_id=None, grace_minutes=0
    )
    db.session.commit()
    fire(utc(2026, 12, 1, 9))
    fire(utc(2026, 12, 2, 9))
    assert paging.open_page(f"reminder:{made.id}") is None
    assert (stored(made).status, stored(made).page_id) == ("notified", None)
    assert len(messages(reminder_id=made.id)) >= 1


def test_a_connected_call_completes_the_callback_and_due_follow_ups_only(
    owner: User, on_call: User
) -> None:
    enquiry = lead(WEDNESDAY_MORNING)
    with clock.pinned(WEDNESDAY_MORNING):
        soon = reminders.schedule_follow_up(
            enquiry.id, date(2026, 11, 25), time(10, 30), None, Actor(owner.id)
        )
        next_week = reminders.schedule_follow_up(
            enquiry.id, date(2026, 12, 2), time(10), None, Actor(owner.id)
        )
        db.session.commit()
    call_at = WEDNESDAY_MORNING + timedelta(minutes=5)
    called(enquiry, owner, call_at)
    callback = db.session.query(Reminder).filter_by(lead_id=enquiry.id, kind="callback_due").one()
    assert (stored(callback).status, stored(callback).done_at) == ("done", call_at)
    assert stored(soon).status == "done"  # due within the hour: this call was it
    assert stored(next_week).status == "pending"
    # Nothing fires for the done ones, and no page is raised at the callback's due time.
    assert fire(WEDNESDAY_MORNING + timedelta(hours=1)) == 0
    assert count(Page) == 0


def test_completing_reminders_only_touches_open_ones_of_the_kinds_named(owner: User) -> None:
    enquiry = lead(WEDNESDAY_MORNING)
    chase = reminders.create_reminder(
        "provider_chase", utc(2026, 11, 27, 9), owner_id=owner.id, lead_id=enquiry.id
    )
    db.session.commit()
    with clock.pinned(WEDNESDAY_MORNING):
        assert reminders.complete_reminders(enquiry.id, ("callback_due",)) == 1
        assert reminders.complete_reminders(enquiry.id, ("callback_due",)) == 0
        db.session.commit()
    assert stored(chase).status == "pending"
