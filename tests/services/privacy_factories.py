"""A person with every kind of record the back office keeps, for the erasure and subject
access tests: enquiries, calls, notes, an assessment, consents, a page, reminders, options
presented, a referral (its summary emailed to the clinic), an admission, an invoiced fee, a
withdrawn consent and a logged rights request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from crm import clock
from crm.auth.models import User
from crm.extensions import db
from crm.fees import accruals, invoicing
from crm.fees.models import Invoice
from crm.intake import pipeline
from crm.intake.models import Lead
from crm.oncall import paging, reminders
from crm.privacy import consents, requests
from crm.privacy.models import RightsRequest
from crm.referrals import referring
from crm.referrals.models import Referral
from tests.services.fee_factories import agreement_for, harbour_house, move, uk
from tests.services.intake_factories import actor_for, team
from tests.services.referral_factories import assessed_lead, location, present

NAME = "Ottilie Quarrendon"
PHONE = "07700 900777"
PHONE_E164 = "+447700900777"
EMAIL = "ottilie.quarrendon@example.org"
# Every form her details could take in a text column.
TRACES = ("Ottilie", "Quarrendon", "7700900777", "7700 900777", "ottilie.quarrendon")
ADMITTED_ON = date(2026, 11, 30)


@dataclass
class Story:
    people: dict[str, User]
    leads: list[Lead]
    referral: Referral
    invoice: Invoice
    request: RightsRequest


def person_with_everything(kind: str = "erasure", people: dict[str, User] | None = None) -> Story:
    people = people or team()
    advisor, manager, admin = people["admissions"], people["manager"], people["admin"]
    actor = actor_for(advisor)
    clinic = harbour_house()
    other = location("Cedar Lodge", provider_name="Cedar Lodge Ltd")
    agreement_for(clinic, manager)
    lead = assessed_lead(
        advisor,
        phone=PHONE,
        name=NAME,
        email=EMAIL,
        message=f"This is {NAME}, please ring {PHONE} or {EMAIL}",
        best_time_to_call=f"Ask for Ottilie on {PHONE}",
    )
    with clock.pinned(datetime(2026, 11, 25, 11, 0, tzinfo=UTC)):
        pipeline.log_call(
            lead.id, actor, direction="outbound", outcome="connected",
            notes=f"Spoke to {NAME}; her mobile {PHONE}",
        )  # fmt: skip
        pipeline.add_note(lead.id, f"{NAME} prefers email: {EMAIL}", actor)
        paging.trigger_page(
            f"lead:{lead.id}", f"Callback request {lead.reference}", lead_id=lead.id
        )
        reminders.schedule_follow_up(
            lead.id, date(2026, 11, 27), time(10, 0), f"Call Ottilie Quarrendon on {PHONE}", actor
        )
        db.session.flush()
    [option_id, _other_option] = present(lead, advisor, clinic, other)
    with clock.pinned(uk(date(2026, 11, 26), 9)):
        referral = referring.refer(option_id, actor)
    move(referral, advisor, "accepted", date(2026, 11, 26), at_hour=9)
    move(referral, advisor, "admission_planned", ADMITTED_ON, at_hour=10)
    move(referral, advisor, "admitted", ADMITTED_ON)
    with clock.pinned(uk(date(2026, 12, 3), 10, 1)):
        accruals.fire_due_fee_triggers()
    with clock.pinned(uk(date(2026, 12, 4), 15)):
        [invoice] = invoicing.run_invoicing(date(2026, 12, 4), actor_for(manager)).invoices
        consents.withdraw(
            lead.id, "share_with_provider", "phone",
            f"{NAME} rang on {PHONE}: not Cedar Lodge", actor,
            provider_id=db.session.get(type(other), other.id).provider_id,  # type: ignore[union-attr]
        )  # fmt: skip
        db.session.flush()
    # An older, closed enquiry from the same phone.
    with clock.pinned(datetime(2026, 11, 1, 9, 0, tzinfo=UTC)):
        earlier = Lead(
            reference="L-OLD777", client_id=lead.client_id, caller_id=lead.caller_id,
            source="phone", stage="closed", close_reason="not_ready",
            callback_due_at=clock.now(), last_request_at=clock.now(),
        )  # fmt: skip
        db.session.add(earlier)
        db.session.flush()
    with clock.pinned(datetime(2026, 12, 6, 10, 0, tzinfo=UTC)):
        request = requests.log_request(
            requests.NewRequest(
                kind=kind,
                requester_name=NAME,
                requester_phone=PHONE,
                requester_email=EMAIL,
                received_via="email",
                received_at=clock.now() - timedelta(hours=1),
                description=f"{NAME} asks what we hold and then for it to be deleted ({EMAIL}).",
                find=f"{PHONE}, {EMAIL}",
            ),
            actor_for(admin),
        )
        db.session.flush()
    return Story(people, [lead, earlier], referral, invoice, request)
