"""Referring a lead to a presented clinic, and following the referral through its lifecycle."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from crm import clock
from crm.auth.models import User
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.fees import accruals
from crm.intake import pipeline
from crm.intake.models import Assessment, Contact, Lead
from crm.notify.services import queue_message
from crm.oncall import reminders
from crm.oncall.models import Reminder
from crm.oncall.wallclock import local_date
from crm.privacy import consents
from crm.privacy.models import DisclosureRecord
from crm.privacy.services import Actor, record_audit_event
from crm.providers.models import ProviderLocation
from crm.providers.services import get_location
from crm.referrals.lifecycle import (
    FINAL,
    STATUS_LABELS,
    MoveRequest,
    ReferralMoveError,
    ReferralStatus,
    StatusChange,
    add_working_days,
    admission_check_due,
    check_move,
    lead_stage_for,
)
from crm.referrals.models import PresentedOption, Referral, ReferralEvent
from crm.referrals.summary import SummaryFacts, build_summary

S = ReferralStatus
OPEN_REMINDER = ("pending", "notified", "escalated")


def _option(option_id: int) -> PresentedOption:
    option = db.session.get(PresentedOption, option_id)
    if option is None:
        raise DomainError("No such presented option.", ErrorKind.NOT_FOUND)
    return option


def _check_can_refer(lead: Lead, option: PresentedOption, location: ProviderLocation) -> str:
    """The clinic's admissions email, once every rule for sending a referral holds."""
    clinic = f"{location.provider.name} — {location.name}"
    if lead.stage == "closed" or lead.merged_into_id is not None:
        raise DomainError("The lead is closed: reopen it before referring.")
    if not option.consent_to_share:
        raise DomainError(
            f"The client has not agreed to share their details with {clinic}: present it "
            "again and record their consent before referring."
        )
    consents.check_sharing(option, location.provider)
    disclosed = db.session.scalar(
        select(DisclosureRecord.id).where(
            DisclosureRecord.lead_id == lead.id, DisclosureRecord.kind == "commission"
        )
    )
    if disclosed is None:
        raise DomainError("Give and record the commission disclosure before referring.")
    if "closed" in (location.status, location.provider.status) or "paused" in (
        location.status,
        location.provider.status,
    ):
        raise DomainError(f"{clinic} is not taking referrals (paused or closed).")
    if _open_referral(lead.id, location.id) is not None:
        raise DomainError(f"The client already has a referral in progress with {clinic}.")
    if not location.admissions_email:
        raise DomainError(
            f"{clinic} has no admissions email to send the referral to: add one on its page."
        )
    return location.admissions_email


def _open_referral(lead_id: int, location_id: int) -> Referral | None:
    return db.session.scalar(
        select(Referral).where(
            Referral.lead_id == lead_id,
            Referral.location_id == location_id,
            Referral.status.not_in([s.value for s in FINAL]),
        )
    )


def _summary(
    lead: Lead, option: PresentedOption, location: ProviderLocation, actor: Actor
) -> tuple[str, str]:
    client = db.session.get(Contact, lead.client_id)
    caller = db.session.get(Contact, lead.caller_id)
    if client is None or caller is None:  # foreign keys make this impossible
        raise DomainError("The lead's contact is missing.", ErrorKind.NOT_FOUND)
    assessment = db.session.scalar(select(Assessment).where(Assessment.lead_id == lead.id))
    advisor = db.session.get(User, actor.user_id) if actor.user_id else None
    reach = client if (client.phone or client.email) else caller
    name = client.name if reach is client else f"{client.name} (contact {caller.name})"
    facts = SummaryFacts(
        reference=lead.reference,
        clinic=f"{location.provider.name} — {location.name}",
        client_name=name,
        phone=reach.phone,
        email=reach.email,
        best_time_to_call=reach.preferred_contact_times,
        answers=assessment.answers if assessment else {},
        # Withdrawn health consent keeps health details out of every new summary.
        share_health_details=option.share_health_details and not consents.health_withdrawn(lead.id),
        advisor=advisor.name if advisor else "The",
    )
    return build_summary(facts)


def refer(option_id: int, actor: Actor) -> Referral:
    """Send the lead to a presented clinic: the summary goes by email and is kept."""
    option = _option(option_id)
    lead = pipeline.get_lead(option.lead_id)
    location = get_location(option.location_id)
    address = _check_can_refer(lead, option, location)
    subject, body = _summary(lead, option, location, actor)
    now = clock.now()
    referral = Referral(
        lead_id=lead.id,
        location_id=location.id,
        option_id=option.id,
        status=S.SENT.value,
        summary=body,
        summary_address=address,
        sent_at=now,
        sent_by_id=actor.user_id,
        status_changed_at=now,
    )
    db.session.add(referral)
    db.session.flush()
    db.session.add(
        ReferralEvent(
            referral_id=referral.id, to_status=S.SENT.value, actor_id=actor.user_id, changed_at=now
        )
    )
    queue_message(f"referral:{referral.id}:summary", "email", address, subject, body)
    due = add_working_days(now, 2, reminders.closures_around(now))
    _remind("provider_chase", referral, due, lead, actor)
    _follow(lead, actor, f"Referred to {location.provider.name} — {location.name}")
    record_audit_event(
        actor, "create", object_type="referrals", object_id=referral.id, detail=f"lead {lead.id}"
    )
    return referral


def _remind(kind: str, referral: Referral, due: datetime, lead: Lead, actor: Actor) -> None:
    reminder = reminders.create_reminder(
        kind,
        due,
        owner_id=lead.owner_id or actor.user_id,
        lead_id=lead.id,
    )
    reminder.referral_id = referral.id


def _close_reminders(referral: Referral, kinds: tuple[str, ...], status: str = "done") -> None:
    for reminder in db.session.scalars(
        select(Reminder).where(
            Reminder.referral_id == referral.id,
            Reminder.kind.in_(kinds),
            Reminder.status.in_(OPEN_REMINDER),
        )
    ):
        reminder.status, reminder.done_at = status, clock.now()


def _follow(lead: Lead, actor: Actor, reason: str) -> None:
    statuses = [
        S(s) for s in db.session.scalars(select(Referral.status).where(Referral.lead_id == lead.id))
    ]
    pipeline.follow(lead, lead_stage_for(statuses), actor, reason)


def move_referral(referral_id: int, move: MoveRequest, actor: Actor) -> Referral:
    """Record the clinic's answer or the client's progress; the lead's stage follows."""
    referral = db.session.get(Referral, referral_id, with_for_update=True)
    if referral is None:
        raise DomainError("No such referral.", ErrorKind.NOT_FOUND)
    try:
        change = check_move(
            S(referral.status),
            move,
            today=local_date(clock.now()),
            admitted_on=referral.admitted_on,
            sent_on=local_date(referral.sent_at),
        )
    except ReferralMoveError as exc:
        raise DomainError(str(exc)) from None
    _apply(referral, change, actor)
    accruals.on_referral_moved(referral, change.to_status.value, actor)
    lead = pipeline.get_lead(referral.lead_id)
    location = get_location(referral.location_id)
    _reminders_after(referral, change, lead, actor)
    label = STATUS_LABELS[change.to_status].lower()
    _follow(lead, actor, f"Referral to {location.provider.name} — {location.name}: {label}")
    record_audit_event(
        actor,
        "update",
        object_type="referrals",
        object_id=referral.id,
        detail=f"{change.from_status.value} -> {change.to_status.value}",
    )
    return referral


def _apply(referral: Referral, change: StatusChange, actor: Actor) -> None:
    now = clock.now()
    referral.status = change.to_status.value
    referral.status_changed_at = now
    if change.to_status == S.DECLINED:
        referral.decline_code, referral.decline_reason = change.decline_code, change.reason
    elif change.to_status == S.ADMISSION_PLANNED:
        referral.planned_admission_on = change.on_date
    elif change.to_status == S.ADMITTED:
        referral.admitted_on = change.on_date
    elif change.to_status == S.DISCHARGED:
        referral.discharged_on, referral.discharge_outcome = change.on_date, change.outcome
    db.session.add(
        ReferralEvent(
            referral_id=referral.id,
            from_status=change.from_status.value,
            to_status=change.to_status.value,
            reason=change.reason,
            on_date=change.on_date,
            outcome=change.outcome,
            actor_id=actor.user_id,
            changed_at=now,
        )
    )


def _reminders_after(referral: Referral, change: StatusChange, lead: Lead, actor: Actor) -> None:
    if change.from_status == S.SENT:
        _close_reminders(referral, ("provider_chase",))  # the clinic replied
    if change.to_status == S.ADMISSION_PLANNED and change.on_date is not None:
        _close_reminders(referral, ("admission_check",), status="cancelled")
        _remind("admission_check", referral, admission_check_due(change.on_date), lead, actor)
    elif change.from_status == S.ADMISSION_PLANNED:
        _close_reminders(referral, ("admission_check",))
