"""Withdrawing a consent, and what it stops: contact → the lead's reminders and pages; health
→ health details left out of new summaries; sharing → no new referral to that provider."""

from __future__ import annotations

from datetime import date, time

import pytest
from sqlalchemy import select

from crm import clock
from crm.errors import DomainError
from crm.extensions import db
from crm.oncall import paging, reminders
from crm.oncall.models import Page, Reminder
from crm.privacy import consents
from crm.privacy.models import AuditEvent, ConsentRecord
from crm.referrals import referring
from crm.referrals.models import Referral
from tests.services.fee_factories import harbour_house
from tests.services.intake_factories import actor_for, team
from tests.services.referral_factories import NOW, assessed_lead, location, present

pytestmark = pytest.mark.usefixtures("db_session")


@pytest.fixture
def people():  # type: ignore[no-untyped-def]
    return team()


def test_withdrawn_contact_consent_stops_reminders_and_pages(people) -> None:  # type: ignore[no-untyped-def]
    advisor = people["admissions"]
    actor = actor_for(advisor)
    lead = assessed_lead(advisor)
    with clock.pinned(NOW):
        reminders.schedule_follow_up(lead.id, date(2026, 11, 27), time(10, 0), None, actor)
        page = paging.trigger_page(f"lead:{lead.id}", "Callback", lead_id=lead.id)
        consents.withdraw(lead.id, "contact", "phone", "Rang to say stop calling", actor)
        db.session.flush()
    open_reminders = db.session.scalars(
        select(Reminder).where(
            Reminder.lead_id == lead.id, Reminder.status.in_(consents.OPEN_REMINDER)
        )
    ).all()
    assert open_reminders == []
    assert db.session.get(Page, page.id).status == "resolved"  # type: ignore[union-attr]
    record = db.session.scalar(
        select(ConsentRecord).where(
            ConsentRecord.lead_id == lead.id, ConsentRecord.purpose == "contact"
        )
    )
    assert record is not None and record.withdrawn_at == NOW
    assert (record.withdrawn_by_id, record.withdrawn_via) == (advisor.id, "phone")
    assert record.withdrawal_note == "Rang to say stop calling"
    with clock.pinned(NOW), pytest.raises(DomainError, match="withdrew consent to be contacted"):
        reminders.schedule_follow_up(lead.id, date(2026, 11, 28), time(10, 0), None, actor)
    with clock.pinned(NOW), pytest.raises(DomainError, match="already withdrawn"):
        consents.withdraw(lead.id, "contact", "phone", None, actor)
    assert db.session.scalar(
        select(AuditEvent.id).where(
            AuditEvent.action == "withdraw_consent", AuditEvent.object_id == str(lead.id)
        )
    )


def test_withdrawn_sharing_blocks_new_referrals_to_that_provider(people) -> None:  # type: ignore[no-untyped-def]
    advisor = people["admissions"]
    actor = actor_for(advisor)
    clinic, other = harbour_house(), location("Cedar Lodge", provider_name="Cedar Lodge Ltd")
    lead = assessed_lead(advisor)
    [to_clinic, to_other] = present(lead, advisor, clinic, other)
    with clock.pinned(NOW):
        consents.withdraw(
            lead.id, "share_with_provider", "email", None, actor, provider_id=clinic.provider_id
        )
        with pytest.raises(
            DomainError,
            match="withdrew their consent to share their details with Harbour House Ltd",
        ):
            referring.refer(to_clinic, actor)
        assert db.session.scalar(select(Referral.id)) is None
        referral = referring.refer(to_other, actor)  # another provider is unaffected
    assert referral.location_id == other.id
    withdrawn = db.session.scalars(
        select(ConsentRecord).where(ConsentRecord.withdrawn_at.is_not(None))
    ).all()
    assert {r.purpose for r in withdrawn} == {"share_with_provider", "share_health_with_provider"}
    assert {r.provider_id for r in withdrawn} == {clinic.provider_id}


def test_withdrawn_health_consent_keeps_health_details_out_of_summaries(people) -> None:  # type: ignore[no-untyped-def]
    advisor = people["admissions"]
    actor = actor_for(advisor)
    clinic, other = harbour_house(), location("Cedar Lodge", provider_name="Cedar Lodge Ltd")
    lead = assessed_lead(advisor)
    [first, second] = present(lead, advisor, clinic, other)
    with clock.pinned(NOW):
        before = referring.refer(first, actor)
        consents.withdraw(lead.id, "health_details", "phone", None, actor)
        after = referring.refer(second, actor)
    assert "ketamine" in before.summary.lower()
    assert "ketamine" not in after.summary.lower()


def test_bad_withdrawals_are_refused(people) -> None:  # type: ignore[no-untyped-def]
    actor = actor_for(people["admissions"])
    lead = assessed_lead(people["admissions"])
    for args, message in [
        ((lead.id, "marketing", "phone", None), "Unknown consent"),
        ((lead.id, "contact", "carrier_pigeon", None), "Unknown way"),
        ((lead.id, "share_with_provider", "phone", None), "Choose the provider"),
        ((987654, "contact", "phone", None), "No such lead"),
    ]:
        with pytest.raises(DomainError, match=message):
            consents.withdraw(*args, actor)  # type: ignore[arg-type]
    assert (
        db.session.scalar(select(ConsentRecord.id).where(ConsentRecord.withdrawn_at.is_not(None)))
        is None
    )
