"""Rights requests: a month to answer, the reminder a week before (to the handler, never a
page), extension by up to two months with a reason, and overdue ones for the dashboard."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from crm import clock
from crm.errors import DomainError
from crm.extensions import db
from crm.notify.models import OutboundMessage
from crm.oncall import reminders
from crm.oncall.models import Page, Reminder
from crm.privacy import requests
from tests.services.intake_factories import actor_for, capture, team
from tests.services.oncall_factories import person

pytestmark = pytest.mark.usefixtures("db_session")
RECEIVED = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def _log(admin, **changes):  # type: ignore[no-untyped-def]
    capture(0, phone="07700 900555", name="Rosalind Pemberton", email="ros@example.org")
    fields = {
        "kind": "access", "requester_name": "Rosalind Pemberton", "requester_phone": None,
        "requester_email": "ros@example.org", "received_via": "email", "received_at": RECEIVED,
        "description": "", "find": "ros@example.org",
    } | changes  # fmt: skip
    with clock.pinned(RECEIVED):
        row = requests.log_request(requests.NewRequest(**fields), actor_for(admin))
        db.session.flush()
    return row


def test_due_in_a_month_with_a_reminder_a_week_before() -> None:
    admin = person("admin", methods=(("email", "admin.dp@staff.example", 0),))
    row = _log(admin)
    assert row.due_on == date(2027, 1, 7)
    [reminder] = db.session.scalars(select(Reminder).where(Reminder.rights_request_id == row.id))
    assert (reminder.kind, reminder.owner_id, reminder.lead_id) == (
        "rights_request_due",
        admin.id,
        None,
    )
    assert reminder.due_at == datetime(2026, 12, 31, 9, 0, tzinfo=UTC)  # 09:00 UK, winter
    assert requests.subject_ids(row.id), "the contact found by email is attached"

    with clock.pinned(datetime(2027, 1, 2, 12, 0, tzinfo=UTC)):  # due, and past its grace
        reminders.fire_due_reminders()
        reminders.fire_due_reminders()
        db.session.flush()
    [message] = db.session.scalars(
        select(OutboundMessage).where(OutboundMessage.reminder_id == reminder.id)
    )
    assert message.address == "admin.dp@staff.example"
    assert f"request {row.id}" in message.subject and "Pemberton" not in message.body
    assert f"/admin/rights-requests/{row.id}/" in message.body
    paged = db.session.scalar(select(Page.id).where(Page.subject == f"reminder:{reminder.id}"))
    assert paged is None, "office work never pages on call"
    assert db.session.get(Reminder, reminder.id).page_id is None  # type: ignore[union-attr]


def test_extension_moves_the_due_date_and_the_reminder() -> None:
    admin = team()["admin"]
    row = _log(admin)
    with clock.pinned(RECEIVED + timedelta(days=3)):
        requests.extend(row.id, date(2027, 3, 7), "Records in three systems", actor_for(admin))
        db.session.flush()
    assert (row.effective_due_on, row.extension_reason) == (
        date(2027, 3, 7),
        "Records in three systems",
    )
    [reminder] = db.session.scalars(
        select(Reminder).where(Reminder.rights_request_id == row.id, Reminder.status == "pending")
    )
    assert reminder.due_at == datetime(2027, 2, 28, 9, 0, tzinfo=UTC)
    for new_due, reason, message in [
        (date(2027, 2, 1), "  ", "needs a reason"),
        (date(2027, 3, 8), "more", "two months at most"),
        (None, "more", "Choose the new due date"),
    ]:
        with pytest.raises(DomainError, match=message):
            requests.extend(row.id, new_due, reason, actor_for(admin))
    assert row.extended_due_on == date(2027, 3, 7)


def test_overdue_requests_for_the_dashboard_and_closing() -> None:
    admin = team()["admin"]
    row = _log(admin)
    assert requests.overdue(date(2027, 1, 7)) == []
    assert requests.overdue(date(2027, 1, 8)) == [row]
    with pytest.raises(DomainError, match="no verified identity"):
        requests.close_request(row.id, "completed", "Sent the ZIP", actor_for(admin))
    requests.close_request(row.id, "refused", "Could not verify who was asking", actor_for(admin))
    assert requests.overdue(date(2027, 1, 8)) == []
    reminder = db.session.scalar(select(Reminder).where(Reminder.rights_request_id == row.id))
    assert reminder is not None and reminder.status == "done"
    with pytest.raises(DomainError, match="cannot be changed"):
        requests.verify_identity(row.id, "Photo ID", actor_for(admin))


def test_a_request_needs_someone_found_and_sensible_details() -> None:
    admin = team()["admin"]
    for changes, message in [
        ({"find": ""}, "Give the phone number, email or lead reference"),
        ({"find": "L-NOPE99"}, "Nobody was found for 'L-NOPE99'"),
        ({"kind": "complaint"}, "Unknown kind"),
        ({"requester_name": " "}, "name"),
        ({"received_at": RECEIVED + timedelta(days=2)}, "future"),
    ]:
        with pytest.raises(DomainError, match=message):
            _log(admin, **changes)
