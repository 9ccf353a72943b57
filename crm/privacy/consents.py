"""Withdrawing a consent from the lead page, and what a withdrawal stops: contact consent
stops follow-up reminders and pages for the lead; health consent keeps health details out of
new referral summaries; sharing consent blocks new referrals to that provider."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select

from crm import clock
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.intake.models import Lead
from crm.oncall import paging
from crm.oncall.models import Reminder
from crm.privacy.models import ConsentRecord
from crm.privacy.services import CHANNELS, Actor, record_audit_event
from crm.providers.models import Provider, ProviderLocation
from crm.referrals.models import PresentedOption
from crm.validation import clean_text

WITHDRAWABLE = {
    "contact": "Being contacted about this enquiry",
    "health_details": "Use of their health details",
    "share_with_provider": "Sharing their details with a named provider",
}
SHARING = ("share_with_provider", "share_health_with_provider")
# What a withdrawn contact consent stops: the lead's callback and follow-up reminders.
STOPPED_REMINDERS = ("callback_due", "follow_up")
OPEN_REMINDER = ("pending", "notified", "escalated")


def _lead(lead_id: int) -> Lead:
    lead = db.session.get(Lead, lead_id)
    if lead is None:
        raise DomainError("No such lead.", ErrorKind.NOT_FOUND)
    return lead


def _latest(query_filter: list[object]) -> ConsentRecord | None:
    return db.session.scalar(
        select(ConsentRecord)
        .where(*query_filter)  # type: ignore[arg-type]
        .order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc())
        .limit(1)
    )


def _withdrawn(record: ConsentRecord | None) -> bool:
    return record is not None and (record.withdrawn_at is not None or not record.given)


def contact_withdrawn(lead_id: int) -> ConsentRecord | None:
    """The withdrawn (or refused) contact consent in force for the lead, if any."""
    latest = _latest([ConsentRecord.lead_id == lead_id, ConsentRecord.purpose == "contact"])
    return latest if _withdrawn(latest) else None


def health_withdrawn(lead_id: int) -> bool:
    latest = _latest([ConsentRecord.lead_id == lead_id, ConsentRecord.purpose == "health_details"])
    return latest is not None and latest.withdrawn_at is not None


def _sharing_filter(contact_id: int, provider_id: int) -> list[object]:
    options = (
        select(PresentedOption.share_consent_id)
        .join(ProviderLocation, ProviderLocation.id == PresentedOption.location_id)
        .where(ProviderLocation.provider_id == provider_id)
    )
    return [
        ConsentRecord.contact_id == contact_id,
        ConsentRecord.purpose.in_(SHARING),
        or_(ConsentRecord.provider_id == provider_id, ConsentRecord.id.in_(options)),
    ]


def check_sharing(option: PresentedOption, provider: Provider) -> None:
    """Refuse a referral through an option whose sharing consent was withdrawn."""
    consent = db.session.get(ConsentRecord, option.share_consent_id)
    if consent is not None and consent.withdrawn_at is not None:
        raise DomainError(
            f"The client withdrew their consent to share their details with {provider.name} "
            f"on {consent.withdrawn_at:%d %b %Y}: no new referral can be sent to it unless "
            "they agree again (present it again and record their answer)."
        )


def withdraw(
    lead_id: int,
    purpose: str,
    via: str,
    note: str | None,
    actor: Actor,
    provider_id: int | None = None,
) -> int:
    """Record that the person withdrew a consent: who recorded it, when and how they told us.
    Returns the number of consent records withdrawn (a record is added when none was given)."""
    lead = _lead(lead_id)
    if purpose not in WITHDRAWABLE:
        raise DomainError(f"Unknown consent {purpose!r}.")
    if via not in CHANNELS:
        raise DomainError(f"Unknown way of telling us {via!r}.")
    try:
        text = clean_text(note, label="Note", max_length=500, required=False) or None
    except ValueError as exc:
        raise DomainError(str(exc)) from None
    if purpose == "share_with_provider":
        provider = db.session.get(Provider, provider_id) if provider_id else None
        if provider is None:
            raise DomainError(
                "Choose the provider the client no longer wants their details sent to."
            )
        where = _sharing_filter(lead.client_id, provider.id)
    else:
        where = [ConsentRecord.lead_id == lead.id, ConsentRecord.purpose == purpose]
    now = clock.now()
    records = db.session.scalars(
        select(ConsentRecord).where(*where, ConsentRecord.withdrawn_at.is_(None))  # type: ignore[arg-type]
    ).all()
    if not records and (purpose != "contact" or contact_withdrawn(lead.id)):
        raise DomainError("There is no consent in force to withdraw: it was already withdrawn.")
    for record in records:
        _mark(record, now, actor, via, text, provider_id)
    if not records:  # contact never recorded (a phone enquiry): the withdrawal is recorded
        record = ConsentRecord(
            contact_id=lead.caller_id, lead_id=lead.id, purpose=purpose, given=False,
            wording_version="withdrawal", channel=via, recorded_at=now,
            recorded_by_id=actor.user_id,
        )  # fmt: skip
        db.session.add(record)
        _mark(record, now, actor, via, text, provider_id)
    if purpose == "contact":
        _stop_contact(lead.id, actor)
    record_audit_event(
        actor,
        "withdraw_consent",
        object_type="leads",
        object_id=lead.id,
        detail=purpose if provider_id is None else f"{purpose} provider {provider_id}",
    )
    return max(1, len(records))


def _mark(
    record: ConsentRecord,
    now: datetime,
    actor: Actor,
    via: str,
    note: str | None,
    provider_id: int | None,
) -> None:
    record.withdrawn_at, record.withdrawn_by_id = now, actor.user_id
    record.withdrawn_via, record.withdrawal_note = via, note
    if provider_id is not None:
        record.provider_id = provider_id


def _stop_contact(lead_id: int, actor: Actor) -> None:
    """No more callbacks or follow-ups for the lead, and no pages about it."""
    for reminder in db.session.scalars(
        select(Reminder).where(
            Reminder.lead_id == lead_id,
            Reminder.kind.in_(STOPPED_REMINDERS),
            Reminder.status.in_(OPEN_REMINDER),
        )
    ):
        reminder.status, reminder.done_at = "cancelled", clock.now()
    paging.resolve_pages_for_lead(lead_id, actor, "contact consent withdrawn")


def refuse_contact(lead_id: int) -> None:
    """A follow-up for a lead whose contact consent was withdrawn is refused."""
    withdrawn = contact_withdrawn(lead_id)
    if withdrawn is not None:
        when = withdrawn.withdrawn_at or withdrawn.recorded_at
        raise DomainError(
            f"The person withdrew consent to be contacted on {when:%d %b %Y}: no follow-up "
            "can be scheduled unless they ask to be contacted again."
        )
