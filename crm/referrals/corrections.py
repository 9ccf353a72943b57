"""Correcting an admitted referral's admission or discharge date: recorded with the reason, and
its fees reversed and posted again for the new dates (crm.fees.accruals.correct_fees)."""

from __future__ import annotations

from datetime import date

from crm import clock
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.fees import accruals
from crm.oncall.wallclock import local_date
from crm.privacy.services import Actor, record_audit_event
from crm.referrals.models import Referral, ReferralEvent
from crm.validation import clean_text


def _checked(referral: Referral, admitted_on: date | None, discharged_on: date | None) -> None:
    today = local_date(clock.now())
    if admitted_on is None:
        raise DomainError("Give the admission date.")
    if admitted_on > today:
        raise DomainError("The admission date cannot be in the future.")
    if admitted_on < local_date(referral.sent_at):
        raise DomainError("The admission date cannot be before the referral was sent.")
    if referral.status == "discharged":
        if discharged_on is None:
            raise DomainError("Give the discharge date.")
        if discharged_on > today:
            raise DomainError("The discharge date cannot be in the future.")
        if discharged_on < admitted_on:
            raise DomainError("The discharge date cannot be before the admission date.")
    elif discharged_on is not None:
        raise DomainError("The client has not been discharged: record the discharge instead.")


def correct_dates(
    referral_id: int,
    admitted_on: date | None,
    discharged_on: date | None,
    reason: str | None,
    actor: Actor,
) -> Referral:
    """Put right the dates of an admission; the fee follows the new dates."""
    referral = db.session.get(Referral, referral_id, with_for_update=True)
    if referral is None:
        raise DomainError("No such referral.", ErrorKind.NOT_FOUND)
    if referral.status not in ("admitted", "discharged"):
        raise DomainError("Only an admitted or discharged referral has dates to correct.")
    try:
        why = clean_text(reason, label="Reason", max_length=300)
    except ValueError:
        raise DomainError("Say why the dates are corrected.") from None
    _checked(referral, admitted_on, discharged_on)
    before = (referral.admitted_on, referral.discharged_on)
    if before == (admitted_on, discharged_on):
        raise DomainError("Those are the dates already recorded: nothing changed.")
    referral.admitted_on, referral.discharged_on = admitted_on, discharged_on
    db.session.add(
        ReferralEvent(
            referral_id=referral.id,
            from_status=referral.status,
            to_status=referral.status,
            reason=f"Dates corrected ({_describe(before, (admitted_on, discharged_on))}): {why}"[
                :500
            ],
            on_date=admitted_on,
            actor_id=actor.user_id,
            changed_at=clock.now(),
        )
    )
    db.session.flush()
    accruals.correct_fees(referral, actor)
    record_audit_event(
        actor, "update", object_type="referrals", object_id=referral.id, detail="dates corrected"
    )
    return referral


def _describe(
    before: tuple[date | None, date | None], after: tuple[date | None, date | None]
) -> str:
    parts = []
    for label, old, new in (("admitted", before[0], after[0]), ("discharged", before[1], after[1])):
        if old != new:
            parts.append(f"{label} {_day(old)} → {_day(new)}")
    return ", ".join(parts)


def _day(value: date | None) -> str:
    return value.strftime("%d %b %Y") if value else "—"
